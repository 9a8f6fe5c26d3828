"""``connect`` picks the transport from what the user gave, without touching the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import UsageError
from migrator.transport import connect
from migrator.transport.local import LocalTransport
from migrator.transport.ssh import SSHTransport


def test_root_gives_a_directory_transport(tmp_path: Path) -> None:
    made = connect("mx1", root=tmp_path)
    assert isinstance(made, LocalTransport) and made.host == "mx1" and not made.live


def test_host_gives_ssh_resolved_through_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host mx1\n  HostName 192.0.2.7\n  User admin\n  Port 2200\n")
    made = connect("mx1", ssh_config=config, accept_new_host_key=True)
    assert isinstance(made, SSHTransport)
    assert (made.host, made.spec.hostname, made.spec.user, made.spec.port) == (
        "mx1",
        "192.0.2.7",
        "admin",
        2200,
    )
    assert made.accept_new_host_key and made.sudo and made.live
    assert made.round_trips == 0 and made.connections == 0


def test_user_option_and_user_at_host_beat_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host mx1\n  User admin\n")
    made = connect("mx1", ssh_config=config, user="root")
    assert isinstance(made, SSHTransport) and made.spec.user == "root" and not made.sudo
    at = connect("ops@mx1", ssh_config=config)
    assert isinstance(at, SSHTransport) and at.spec.user == "ops" and at.host == "mx1"


def test_ssh_o_options_beat_the_config_and_keys_add_up(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "Host mx1\n  HostName 192.0.2.7\n  ConnectTimeout 30\n  IdentityFile /cfg/key\n"
    )
    options = (("ConnectTimeout", "5"), ("IdentityFile", "/inv/key"), ("HostKeyAlias", "mx"))
    made = connect("mx1", ssh_config=config, port=2200, options=options)
    assert isinstance(made, SSHTransport)
    spec = made.spec
    assert (spec.hostname, spec.port, spec.connect_timeout) == ("192.0.2.7", 2200, 5.0)
    assert spec.identity_files == ("/inv/key", "/cfg/key") and spec.known_hosts_name == "mx"
    port_too = connect("mx1", ssh_config=config, port=2200, options=(("Port", "1"),))
    assert isinstance(port_too, SSHTransport) and port_too.spec.port == 2200  # -p came first


def test_an_ssh_option_the_transport_does_not_make_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("")
    with pytest.raises(UsageError, match="ssh option ForwardAgent is not supported"):
        connect("mx1", ssh_config=config, options=(("ForwardAgent", "yes"),))
