"""One set of assertions run against every transport: a directory root and SSH to loopback.

For ``local`` the host's root is a temp directory; for ``ssh`` the host is this machine seen
through a real sshd, so host paths point into a temp directory on it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from migrator.errors import TransportError
from migrator.transport import Transport, connect

from .conftest import Sshd


@dataclass(frozen=True)
class Host:
    """A transport plus where its host paths live on this machine."""

    transport: Transport
    base: str  # host path of the directory the test may use
    local_base: Path  # the same directory as seen here

    def path(self, relative: str) -> str:
        return f"{self.base}/{relative}"

    def local(self, relative: str) -> Path:
        return self.local_base / relative


@pytest.fixture(params=["local", "ssh"])
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Host]:
    if request.param == "local":
        root = tmp_path / "root"
        (root / "srv").mkdir(parents=True)
        made = connect("contract", root=root)
        yield Host(made, "/srv", root / "srv")
    else:
        sshd: Sshd = request.getfixturevalue("sshd")
        sshd.trust()
        base = tmp_path / "srv"
        base.mkdir()
        config = sshd.dir / "contract_config"
        config.write_text(sshd.ssh_config.read_text().replace("Host target", "Host contract"))
        made = connect("contract", ssh_config=config)
        yield Host(made, str(base), base)
    made.close()


def test_host_name_and_liveness(host: Host) -> None:
    assert host.transport.host == "contract"
    assert isinstance(host.transport.live, bool)


def test_read_files(host: Host) -> None:
    host.local("etc").mkdir()
    host.local("etc/main.cf").write_bytes(b"myhostname = mx\n\x00binary tail")
    os.chmod(host.local("etc/main.cf"), 0o640)
    host.local("etc/empty").write_bytes(b"")
    wanted = ["etc/main.cf", "etc/empty", "etc/missing", "etc"]
    files = host.transport.read_files([host.path(p) for p in wanted])
    assert list(files) == [host.path(p) for p in wanted]
    main = files[host.path("etc/main.cf")]
    assert main.content == b"myhostname = mx\n\x00binary tail"
    assert (main.owner, main.group, main.mode) == ("root", "root", 0o640)
    assert files[host.path("etc/empty")].content == b""
    assert files[host.path("etc/missing")].content is None
    assert files[host.path("etc")].content is None
    assert host.transport.read_files([]) == {}


def test_write_atomic_then_read_back(host: Host) -> None:
    path = host.path("dovecot.conf")
    host.local("dovecot.conf").write_text("old\n")
    host.transport.write_atomic(
        path, b"protocols = imap lmtp\n", owner="root", group="root", mode=0o600
    )
    data = host.transport.read_files([path])[path]
    assert (data.content, data.mode) == (b"protocols = imap lmtp\n", 0o600)
    assert stat.S_IMODE(host.local("dovecot.conf").stat().st_mode) == 0o600
    assert sorted(p.name for p in host.local_base.iterdir()) == ["dovecot.conf"]


def test_write_atomic_creates_a_new_file(host: Host) -> None:
    path = host.path("new.cf")
    host.transport.write_atomic(path, b"x = 1\n", owner="root", group="root", mode=0o644)
    assert host.local("new.cf").read_bytes() == b"x = 1\n"


def test_relative_paths_are_refused(host: Host) -> None:
    with pytest.raises(TransportError):
        host.transport.read_files(["etc/postfix/main.cf"])
    with pytest.raises(TransportError):
        host.transport.write_atomic("main.cf", b"", owner="root", group="root", mode=0o644)


def test_run_reports_rc_and_output_without_raising(host: Host) -> None:
    result = host.transport.run(["sh", "-c", "cat; echo warn >&2; exit 4"], stdin=b"in")
    assert (result.rc, result.stdout, result.stderr, result.ok) == (4, b"in", b"warn\n", False)
    assert result.argv == ("sh", "-c", "cat; echo warn >&2; exit 4")
    assert result.host == "contract"


def test_run_timeout_is_a_transport_error(host: Host) -> None:
    with pytest.raises(TransportError):
        host.transport.run(["sleep", "3"], timeout=0.3)
