"""Identity files that are no key: /dev/zero, a FIFO, a directory, a file far too large to be
a key, from an ssh config's IdentityFile or an inventory's ansible_ssh_private_key_file. Each
is skipped at once, never read forever nor waited on; a real key beside them is offered."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.transport.ssh_auth import MAX_KEY_BYTES, KeyAuth
from migrator.transport.ssh_config import HostSpec
from tests.unit.no_hang import no_hang

__all__ = ["no_hang"]
pytestmark = pytest.mark.usefixtures("no_hang")


def _zero(path: Path) -> str:
    return "/dev/zero"


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return str(path)


def _fifo_pub(path: Path) -> str:
    os.mkfifo(f"{path}.pub")  # the public half is read first, for IdentitiesOnly
    return str(path)


def _directory(path: Path) -> str:
    path.mkdir()
    return str(path)


def _huge(path: Path) -> str:
    with path.open("wb") as big:
        big.truncate(MAX_KEY_BYTES * 1024)  # sparse: 64 MiB of NULs
    return str(path)


NOT_KEYS: dict[str, Callable[[Path], str]] = {
    "/dev/zero": _zero,
    "fifo": _fifo,
    "fifo .pub": _fifo_pub,
    "directory": _directory,
    "64 MiB": _huge,
}


@pytest.mark.parametrize("only", [False, True], ids=["all keys", "IdentitiesOnly"])
@pytest.mark.parametrize("make", NOT_KEYS.values(), ids=NOT_KEYS.keys())
def test_a_file_that_is_no_key_is_skipped_at_once(
    tmp_path: Path, make: Callable[[Path], str], only: bool
) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    odd = make(tmp_path / "odd")
    spec = HostSpec("mx1", "mx1", identity_files=(odd, str(key)), identities_only=only)
    auth = KeyAuth(spec, agent=None)
    sources = list(auth.get_sources())
    assert [source.source for source in sources] == ["ssh-config"]
    assert auth.tried == [str(key)]
