"""Files that are not regular where a config should be, through every transport: each reads
as absent (content None), at once; none blocks the read, none fails the other files."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.no_hang import no_hang

from .test_contract import Host, host

__all__ = ["host", "no_hang"]
pytestmark = pytest.mark.usefixtures("no_hang")


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))


def _device(path: Path) -> None:
    os.mknod(path, 0o600 | 0o020000, os.makedev(1, 5))  # /dev/zero's: endless if read


def _directory(path: Path) -> None:
    path.mkdir()


def _link_to_fifo(path: Path) -> None:
    _fifo(path.with_name("fifo"))
    path.symlink_to("fifo")


KINDS: dict[str, Callable[[Path], None]] = {
    "fifo": _fifo,
    "socket": _socket,
    "device": _device,
    "directory": _directory,
    "symlink to a fifo": _link_to_fifo,
}


@pytest.mark.parametrize("make", KINDS.values(), ids=KINDS.keys())
def test_a_file_that_is_not_regular_reads_as_absent_without_blocking(
    host: Host, make: Callable[[Path], None]
) -> None:
    host.local("main.cf").write_bytes(b"myhostname = mx\n")
    make(host.local("odd.cf"))
    files = host.transport.read_files([host.path("odd.cf"), host.path("main.cf")])
    assert files[host.path("odd.cf")].content is None
    assert files[host.path("main.cf")].content == b"myhostname = mx\n"
