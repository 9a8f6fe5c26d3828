"""LocalTransport: a directory as a host root."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from migrator.errors import TransportError
from migrator.transport.local import LocalTransport


def test_read_list_write(tmp_path: Path) -> None:
    (tmp_path / "etc/dovecot/conf.d").mkdir(parents=True)
    (tmp_path / "etc/dovecot/dovecot.conf").write_text("a = b\n")
    (tmp_path / "etc/dovecot/conf.d/10-x.conf").write_text("")
    host = LocalTransport(tmp_path, "mx1")
    assert host.host == "mx1" and not host.live
    files = host.read_files(["/etc/dovecot/dovecot.conf", "/etc/missing", "/etc/dovecot"])
    assert files["/etc/dovecot/dovecot.conf"].content == b"a = b\n"
    assert not files["/etc/missing"].exists and not files["/etc/dovecot"].exists
    assert host.list_files("/etc/dovecot") == [
        "/etc/dovecot/conf.d/10-x.conf",
        "/etc/dovecot/dovecot.conf",
    ]
    host.write_atomic(
        "/etc/dovecot/dovecot.conf", b"c = d\n", owner="root", group="root", mode=0o640
    )
    written = tmp_path / "etc/dovecot/dovecot.conf"
    assert written.read_bytes() == b"c = d\n"
    assert stat.S_IMODE(written.stat().st_mode) == 0o640
    assert host.run(["echo", "hi"]).out == "hi\n"


def test_relative_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="not an absolute path"):
        LocalTransport(tmp_path).read_files(["etc/passwd"])
