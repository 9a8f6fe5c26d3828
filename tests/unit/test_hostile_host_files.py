"""Hostile files on a host, planned from a directory laid out like its root (`plan --root`):
a FIFO, a socket or a device where a config file should be, a config file too large to be
one, non-UTF-8 and NUL bytes. Each is one line naming host and file and exit 1, or a plan of
the same bytes, and none hangs planning."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.host.config_limits import MAX_CONFIG_BYTES
from migrator.plan.store import load_plan
from migrator.transport.base import sha256
from tests.unit.no_hang import no_hang

__all__ = ["no_hang"]
pytestmark = pytest.mark.usefixtures("no_hang")
FIXTURE = Path(__file__).parents[2] / "fixtures" / "hosts" / "virtual-lda"
MAIN = "etc/postfix/main.cf"
MASTER = "etc/postfix/master.cf"
LOCAL = "etc/dovecot/local.conf"
HUGE = b"# " + b"padding " * 15 + b"\n"


def _host(tmp_path: Path) -> Path:
    root = tmp_path / "mx1"
    shutil.copytree(FIXTURE, root, symlinks=True)
    return root


def _plan(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["plan", "--root", str(root), "--no-save"])
    return result.exit_code, result.output


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def _socket(path: Path) -> None:
    path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))


def _device(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mknod(path, 0o600 | 0o020000, os.makedev(1, 3))  # a character device: /dev/null's


def _directory(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.mkdir()


def _included(make: Callable[[Path], None]) -> Callable[[Path], str]:
    """local.conf includes a file that MAKE turns into a non-regular one."""

    def plant(root: Path) -> str:
        make(root / "etc/dovecot/odd.conf")
        with (root / LOCAL).open("a") as conf:
            conf.write("!include odd.conf\n")
        return "/etc/dovecot/local.conf: !include /etc/dovecot/odd.conf: file not found"

    return plant


def _at(path: str, make: Callable[[Path], None], message: str) -> Callable[[Path], str]:
    def plant(root: Path) -> str:
        make(root / path)
        return f"/{path}: {message}"

    return plant


NOT_REGULAR = {
    "fifo main.cf": _at(MAIN, _fifo, "Postfix config file not found"),
    "socket main.cf": _at(MAIN, _socket, "Postfix config file not found"),
    "device main.cf": _at(MAIN, _device, "Postfix config file not found"),
    "directory main.cf": _at(MAIN, _directory, "Postfix config file not found"),
    "fifo included": _included(_fifo),
    "socket included": _included(_socket),
    "device included": _included(_device),
}


@pytest.mark.parametrize("plant", NOT_REGULAR.values(), ids=NOT_REGULAR.keys())
def test_a_file_that_is_not_a_regular_one_is_one_line_never_a_hang(
    tmp_path: Path, plant: Callable[[Path], str]
) -> None:
    root = _host(tmp_path)
    message = plant(root)
    code, output = _plan(root)
    assert code == 1, output
    assert output.strip() == f"migrator: error: mx1: {message}"


def _grow(path: str) -> Callable[[Path], str]:
    def plant(root: Path) -> str:
        with (root / path).open("ab") as grown:
            grown.write(HUGE * (MAX_CONFIG_BYTES // len(HUGE) + 1))
        return f"/{path}: "

    return plant


def _new(path: str) -> Callable[[Path], str]:
    def plant(root: Path) -> str:
        (root / path).write_bytes(HUGE * (MAX_CONFIG_BYTES // len(HUGE) + 1))
        return f"/{path}: "

    return plant


TOO_LARGE = {
    "main.cf": _grow(MAIN),
    "master.cf": _grow(MASTER),
    "dovecot.conf": _grow("etc/dovecot/dovecot.conf"),
    "a conf.d file the glob includes": _new("etc/dovecot/conf.d/99-log.conf"),
    "main.cf as one line": lambda root: _grow(MAIN)(root).replace("\n", ""),
}


@pytest.mark.parametrize("plant", TOO_LARGE.values(), ids=TOO_LARGE.keys())
def test_a_config_file_too_large_to_be_one_is_refused_at_once(
    tmp_path: Path, plant: Callable[[Path], str]
) -> None:
    """Augeas takes ~0.5 ms a line: unbounded, a 17 MB conf.d file held a plan ~3 minutes."""
    root = _host(tmp_path)
    where = plant(root)
    code, output = _plan(root)
    assert code == 1, output
    line = output.strip()
    assert "\n" not in line and line.startswith(f"migrator: error: mx1: {where}"), output
    assert f"more than the {MAX_CONFIG_BYTES} bytes" in line


def test_a_large_file_no_include_reaches_is_not_parsed_nor_refused(tmp_path: Path) -> None:
    root = _host(tmp_path)
    (root / "etc/dovecot/old-log.conf").write_bytes(HUGE * (4 * MAX_CONFIG_BYTES // len(HUGE)))
    code, output = _plan(root)
    assert code == 0, output
    assert "+  mail_plugins = $mail_plugins sieve" in output


@pytest.mark.parametrize(
    "tail",
    [b"# caf\xe9 in latin-1\n", b"# \xff\xfe\r\n", b"# \x1b[2J\x7f\n"],
)
def test_bytes_that_are_not_utf8_text_are_planned_byte_for_byte(
    tmp_path: Path, tail: bytes
) -> None:
    root = _host(tmp_path)
    with (root / MAIN).open("ab") as odd:
        odd.write(tail)
    plans = tmp_path / "plans"
    result = CliRunner().invoke(main, ["plan", "--root", str(root), "--plans-dir", str(plans)])
    assert result.exit_code == 0, result.output
    plan = load_plan(next(plans.glob("mx1/*.json")), "mx1")
    written = plan.files[0]
    assert written.path == "/etc/postfix/main.cf"
    assert tail in written.content_after.encode("utf-8", "surrogateescape")
    assert written.sha256_before == sha256((root / MAIN).read_bytes())


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (MAIN, "myhostname = mx1\x00.example.test\n"),
        (MAIN, "# a NUL \x00 in a comment\n"),
        (MASTER, "# \x00\n"),
        (LOCAL, "mail_debug = no\x00yes\n"),
        ("etc/dovecot/conf.d/10-master.conf", "#\x00\n"),
        ("etc/postfix/transport", "example.test dovecot:\x00\n"),
    ],
)
def test_a_nul_byte_is_refused_naming_its_line_never_cut_off(
    tmp_path: Path, path: str, line: str
) -> None:
    """Augeas stops a line at its NUL: planned, main.cf's comment lost what followed it."""
    root = _host(tmp_path)
    if path.endswith("transport"):
        with (root / MAIN).open("a") as main_cf:
            main_cf.write("transport_maps = hash:/etc/postfix/transport\n")
    target = root / path
    text = target.read_bytes() if target.exists() else b""
    target.write_bytes(text + line.encode())
    code, output = _plan(root)
    assert code == 1, output
    number = text.count(b"\n") + 1
    assert output == (
        f"migrator: error: mx1: /{path}:{number}: holds a NUL byte: Augeas reads its line only "
        "up to it, and an edit would drop the rest; remove it first\n"
    )


def test_a_nul_byte_in_a_file_no_include_reaches_is_not_refused(tmp_path: Path) -> None:
    root = _host(tmp_path)
    (root / "etc/dovecot/unused.conf").write_bytes(b"a = \x00\n")
    code, output = _plan(root)
    assert code == 0, output


def _chain(length: int) -> str:
    links = [f"p{i} = $p{i + 1}\n" for i in range(length)]
    return "virtual_transport = $p0\n" + "".join(links) + f"p{length} = dovecot\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_chain(3000), "nests $names more than 100 deep (virtual_transport -> p0 -> ... -> p100;"),
        ("a = $b\nb = $a\nvirtual_transport = $a\n", "refers to itself through"),
    ],
    ids=["a chain of 3000 (no loop)", "a loop"],
)
def test_name_recursion_in_main_cf_is_one_line_saying_which(
    tmp_path: Path, text: str, message: str
) -> None:
    """Postfix: "unreasonable macro call nesting" past 100; a chain was called a loop."""
    root = _host(tmp_path)
    with (root / MAIN).open("a") as main_cf:
        main_cf.write(text)
    code, output = _plan(root)
    assert code == 1, output
    assert output.count("\n") == 1 and message in output, output
    assert len(output) < 300


def test_a_chain_postfix_expands_still_plans(tmp_path: Path) -> None:
    root = _host(tmp_path)
    with (root / MAIN).open("a") as main_cf:
        main_cf.write(_chain(90))
    code, output = _plan(root)
    assert code == 0, output
