"""``connect`` picks the transport from what the user gave, without touching the network."""

from __future__ import annotations

from pathlib import Path

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
