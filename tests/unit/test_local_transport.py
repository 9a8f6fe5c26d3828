"""LocalTransport: a directory as a host root."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from migrator.errors import PlanDriftError, TransportError
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


def test_symlinks_are_followed_as_the_daemons_follow_them(tmp_path: Path) -> None:
    (tmp_path / "srv/dovecot-conf.d").mkdir(parents=True)
    (tmp_path / "srv/dovecot-conf.d/20-lmtp.conf").write_text("protocol lmtp {\n}\n")
    (tmp_path / "etc/dovecot").mkdir(parents=True)
    (tmp_path / "etc/dovecot/conf.d").symlink_to("/srv/dovecot-conf.d")  # absolute: under root
    (tmp_path / "etc/postfix/real").mkdir(parents=True)
    (tmp_path / "etc/postfix/real/main.cf").write_text("a = 1\n")
    (tmp_path / "etc/postfix/main.cf").symlink_to("real/main.cf")
    host = LocalTransport(tmp_path, "mx1")
    assert host.list_files("/etc/dovecot") == ["/etc/dovecot/conf.d/20-lmtp.conf"]
    lmtp = host.read_files(["/etc/dovecot/conf.d/20-lmtp.conf"])
    assert lmtp["/etc/dovecot/conf.d/20-lmtp.conf"].content == b"protocol lmtp {\n}\n"
    main = host.read_files(["/etc/postfix/main.cf"])["/etc/postfix/main.cf"]
    assert (main.content, main.link, main.target) == (
        b"a = 1\n",
        "real/main.cf",
        "/etc/postfix/real/main.cf",
    )
    with pytest.raises(PlanDriftError, match="changed since it was checked"):
        host.write_atomic(
            "/etc/postfix/main.cf",
            b"b\n",
            owner="root",
            group="root",
            mode=0o644,
            expected_sha256="0" * 64,
        )
    host.write_atomic(
        "/etc/postfix/main.cf",
        b"a = 2\n",
        owner="root",
        group="root",
        mode=0o644,
        expected_sha256=main.sha256,
    )
    assert (tmp_path / "etc/postfix/main.cf").is_symlink()
    assert (tmp_path / "etc/postfix/real/main.cf").read_text() == "a = 2\n"
