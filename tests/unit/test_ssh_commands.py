"""What SSHTransport sends, checked without a network: sudo wrapping, the remote scripts."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from migrator.errors import TransportError
from migrator.transport.remote_scripts import (
    READ_SCRIPT,
    WRITE_SCRIPT,
    StreamError,
    parse_read_stream,
)
from migrator.transport.ssh import SSHTransport
from migrator.transport.ssh_config import HostSpec


def transport(user: str, sudo: bool | None = None) -> SSHTransport:
    return SSHTransport(HostSpec(name="mail1", hostname="10.0.0.5", user=user), sudo=sudo)


def test_root_login_runs_commands_as_they_are() -> None:
    assert transport("root").wrap(["postconf", "-h", "mail_owner"]) == "postconf -h mail_owner"


def test_non_root_login_goes_through_sudo_n() -> None:
    wrapped = transport("admin").wrap(["cat", "/etc/a b", "it's"])
    assert wrapped == "sudo -n -- cat '/etc/a b' 'it'\"'\"'s'"
    assert transport("admin", sudo=False).wrap(["id"]) == "id"


@pytest.mark.parametrize(
    "stderr",
    [
        b"sudo: a password is required\n",
        b"sudo: a terminal is required to read the password; either use ...\n",
        b"sudo: admin is not in the sudoers file.  This incident will be reported.\n",
    ],
)
def test_sudo_wanting_a_password_fails_clearly(stderr: bytes) -> None:
    with pytest.raises(TransportError, match="passwordless sudo") as caught:
        transport("admin")._check_sudo(1, stderr)
    assert str(caught.value).startswith("mail1: sudo -n refused for user admin")


def test_missing_sudo_fails_clearly() -> None:
    with pytest.raises(TransportError, match="sudo is not installed"):
        transport("admin")._check_sudo(127, b"sh: 1: sudo: not found\n")


def test_a_command_failing_on_its_own_is_not_a_sudo_error() -> None:
    transport("admin")._check_sudo(1, b"postconf: fatal: bad parameter\n")


def test_read_script_stream_round_trips_through_local_sh(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"\x00\x01binary\nlast line no newline")
    (tmp_path / "empty").write_bytes(b"")
    paths = [str(tmp_path / "a"), str(tmp_path / "empty"), str(tmp_path / "nope"), str(tmp_path)]
    out = subprocess.run(
        ["sh", "-c", READ_SCRIPT, "sh", *paths], capture_output=True, check=True
    ).stdout
    files = parse_read_stream(paths, out)
    assert files[paths[0]].content == b"\x00\x01binary\nlast line no newline"
    assert files[paths[1]].content == b""
    assert files[paths[2]].content is None
    assert files[paths[3]].content is None


def test_inconsistent_streams_are_refused() -> None:
    stat = b"644 root root 3 12 1700000000\n"
    start = b"migrator-files-v1\n"
    assert parse_read_stream(["/a"], start + b"F\n" + stat + b"abc" + stat)["/a"].content == b"abc"
    # Whatever a login shell printed first is skipped.
    noisy = b"Welcome!\n" + start + b"F\n" + stat + b"abc" + stat
    assert parse_read_stream(["/a"], noisy)["/a"].content == b"abc"
    with pytest.raises(StreamError, match="marker"):
        parse_read_stream(["/a"], b"F\n" + stat + b"abc" + stat)
    with pytest.raises(StreamError, match="changed"):
        parse_read_stream(["/a"], start + b"F\n" + stat + b"abc" + stat.replace(b"12", b"13"))
    with pytest.raises(StreamError, match="changed"):
        parse_read_stream(["/a"], start + b"F\n" + stat + b"abcd" + stat)
    with pytest.raises(StreamError, match="early"):
        parse_read_stream(["/a", "/b"], start + b"M\n")
    with pytest.raises(StreamError, match="unexpected"):
        parse_read_stream(["/a"], start + b"X\n")
    with pytest.raises(StreamError, match="bad stat"):
        parse_read_stream(["/a"], start + b"F\nnonsense\n")


def test_read_script_handles_odd_names_through_local_sh(tmp_path: Path) -> None:
    odd = tmp_path / "new\nline $x 'q'"
    odd.write_bytes(b"odd\n")
    out = subprocess.run(
        ["sh", "-c", READ_SCRIPT, "sh", str(odd)], capture_output=True, check=True
    ).stdout
    assert parse_read_stream([str(odd)], out)[str(odd)].content == b"odd\n"


def test_write_script_replaces_atomically_through_local_sh(tmp_path: Path) -> None:
    target = tmp_path / "main.cf"
    target.write_text("old\n")
    subprocess.run(
        ["sh", "-c", WRITE_SCRIPT, "sh", str(target), "root", "root", "0600"],
        input=b"new\n",
        check=True,
    )
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_mode & 0o7777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["main.cf"]


def test_a_written_file_is_dated_back_past_postfixs_cool_down(tmp_path: Path) -> None:
    """Postfix programs nap while main.cf is younger than two seconds (it might be half
    written); a file written by rename never is, so it must not cost postfix check a nap."""
    target = tmp_path / "main.cf"
    before = time.time()
    subprocess.run(
        ["sh", "-c", WRITE_SCRIPT, "sh", str(target), "root", "root", "0644"],
        input=b"new\n",
        check=True,
    )
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_mtime <= before - 1
