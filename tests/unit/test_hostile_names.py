"""A host or user name can never carry code into a ProxyCommand, and a failing proxy is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.errors import UsageError
from migrator.transport import connect
from migrator.transport.ssh_config import resolve_host


def _config(tmp_path: Path, proxy: str) -> Path:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  ProxyCommand {proxy}\n  ConnectTimeout 5\n")
    return config


def test_status_refuses_a_host_name_with_a_command_in_it(tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    config = _config(tmp_path, "/bin/echo %h")
    result = CliRunner().invoke(
        main, ["status", f"mx1$(touch {planted})", "--ssh-config", str(config)]
    )
    assert result.exit_code == 1
    assert "contains invalid characters" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not planted.exists()


@pytest.mark.parametrize("name", ["mx1`touch x`", "-oProxyCommand=touch x", "mx1;touch x"])
def test_resolving_refuses_before_reading_the_config(tmp_path: Path, name: str) -> None:
    planted = tmp_path / "planted"
    config = tmp_path / "ssh_config"
    config.write_text(f'Match exec "touch {planted}; true %h"\n  Port 2222\n')
    with pytest.raises(UsageError, match="host name"):
        resolve_host(name, config=config)
    assert not planted.exists()  # Match exec never ran


def test_inventory_user_and_hostname_are_checked_as_ssh_options(tmp_path: Path) -> None:
    config = _config(tmp_path, "/bin/echo %r@%h")
    with pytest.raises(UsageError, match="user name 'a;b'"):
        connect("mx1", ssh_config=config, user="a;b")
    with pytest.raises(UsageError, match="host name 'a\\$\\(id\\)b'"):
        connect("mx1", ssh_config=config, hostname="a$(id)b")


def test_a_token_sh_would_read_differently_is_refused(tmp_path: Path) -> None:
    # OpenSSH takes '$' in a user name; expanded unquoted into sh it would be a variable.
    config = _config(tmp_path, "nc -X connect %r@%h %p")
    with pytest.raises(UsageError, match="%r expands to 'u\\$er'"):
        resolve_host("u$er@mx1", config=config)
    plain = resolve_host("ops@mx1", config=config)
    assert plain.proxy_command == "nc -X connect ops@mx1 22"


def test_a_failing_proxy_command_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    config = _config(tmp_path, f"{tmp_path}/no-such-proxy %h %p")
    result = CliRunner().invoke(main, ["status", "mx1", "--ssh-config", str(config)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "ProxyCommand failed" in result.output and "no-such-proxy" in result.output
