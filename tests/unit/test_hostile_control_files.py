"""Files on the control node a config or an inventory names, that are no such file: /dev/zero,
a FIFO, a directory, a file far too large. An identity file of these is skipped at once and a
real key beside it offered; a known_hosts file or a --facts file of these is one line naming
it. None is read forever or waited on."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.errors import HostKeyError
from migrator.transport.known_hosts import KnownHosts
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


NOT_FILES = {k: v for k, v in NOT_KEYS.items() if k not in ("fifo .pub", "64 MiB")}


@pytest.mark.parametrize("make", NOT_FILES.values(), ids=NOT_FILES.keys())
def test_a_known_hosts_file_that_is_no_file_is_one_line_naming_it(
    tmp_path: Path, make: Callable[[Path], str]
) -> None:
    odd = make(tmp_path / "odd")
    spec = HostSpec("mx1", "mx1", known_hosts_files=(odd,))
    with pytest.raises(HostKeyError) as caught:
        KnownHosts(spec)
    assert str(caught.value) == f"cannot read known_hosts file {odd}: not a regular file"


def test_dev_null_as_known_hosts_is_empty_as_for_ssh() -> None:
    spec = HostSpec("mx1", "mx1", known_hosts_files=(os.devnull,))
    assert KnownHosts(spec).entries == ()


@pytest.mark.parametrize("make", NOT_FILES.values(), ids=NOT_FILES.keys())
def test_a_facts_file_that_is_no_file_is_one_line_naming_it(
    tmp_path: Path, make: Callable[[Path], str]
) -> None:
    odd = make(tmp_path / "odd")
    root = tmp_path / "mx1"
    root.mkdir()
    result = CliRunner().invoke(main, ["plan", "--root", str(root), "--facts", odd, "--no-save"])
    if Path(odd).is_dir():  # click's own check comes first
        assert result.exit_code == 64 and "is a directory" in result.output
        return
    assert result.exit_code == 1, result.output
    assert result.output == f"migrator: error: cannot read facts file {odd}: not a regular file\n"
