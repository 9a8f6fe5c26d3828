"""The cache of release roots: listed, removed, never replaced under a running lab, and never
used half-built."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.lab import roots
from migrator.lab.state import load_lab

from .conftest import LabFactory

pytestmark = pytest.mark.lab
_MIGRATOR = (sys.executable, "-m", "migrator.cli.main_entry")


@contextlib.contextmanager
def _roots_of_own(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty roots cache of the test's own (next to the real one: same file system)."""
    directory = roots.roots_dir().parent / f"test-roots-{os.getpid()}"
    directory.mkdir(parents=True)
    monkeypatch.setenv(roots.ROOTS_ENV, str(directory))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def own_roots(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty roots cache for this test."""
    with _roots_of_own(monkeypatch) as directory:
        yield directory


@pytest.fixture
def copied_bookworm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A roots cache for this test holding a copy of the real bookworm root (hard links)."""
    real = roots.ensure_root("bookworm")
    with _roots_of_own(monkeypatch) as directory:
        subprocess.run(["cp", "-al", str(real.directory), str(directory)], check=True)
        manifest = directory / "bookworm" / roots.MANIFEST
        text = manifest.read_text()
        manifest.unlink()  # a file of its own: the test edits it, the real root's stays
        manifest.write_text(text)
        yield directory / "bookworm"


def test_roots_lists_each_cached_root_with_its_versions() -> None:
    root = roots.ensure_root("bookworm")
    result = CliRunner().invoke(main, ["lab", "roots"])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if " bookworm " in line]
    assert root.versions.dovecot.startswith("2.3.19")
    for version in (root.versions.dovecot, root.versions.postfix, root.versions.openssh):
        assert f" {version} " in line


def test_a_root_in_use_is_neither_removed_nor_rebuilt(
    copied_bookworm: Path, make_lab: LabFactory
) -> None:
    copy = copied_bookworm
    lab = make_lab("virtual-lda")
    assert lab.hosts[0].release == "bookworm"
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["packages"] = manifest["packages"][:-1]
    (copy / "manifest.json").write_text(json.dumps(manifest))

    runner = CliRunner()
    listed = runner.invoke(main, ["lab", "roots"])
    assert [root.current for root in roots.list_roots()] == [False]
    assert listed.output.splitlines()[-1] == "current no: rebuilt at the next lab up of it"
    refused = runner.invoke(main, ["lab", "roots", "--remove", "bookworm"])
    assert refused.exit_code == 1
    assert f"labs {lab.name} use it" in refused.output
    rebuild = runner.invoke(main, ["lab", "up", "virtual-lda", "--name", "rebuild1"])
    assert rebuild.exit_code == 1
    assert rebuild.output.strip().splitlines() == [
        f"migrator: error: root bookworm: its package list changed; it needs a rebuild, "
        f"but labs {lab.name} use it (migrator lab down first)"
    ]
    assert (copy / "fs" / "usr/sbin/postfix").exists()

    runner.invoke(main, ["lab", "down", "--name", lab.name])
    removed = runner.invoke(main, ["lab", "roots", "--remove", "bookworm"])
    assert removed.output.strip() == "root bookworm: removed"
    assert not copy.exists() and roots.list_roots() == []
    again = runner.invoke(main, ["lab", "roots", "--remove", "bookworm"])
    assert again.output.strip() == "root bookworm: not cached"


def _users_of(directory: Path) -> list[int]:
    """PIDs of processes whose command line, cwd or root lies in directory."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().decode(errors="replace")
            links = [os.readlink(f"/proc/{entry.name}/{link}") for link in ("cwd", "root")]
        except OSError:
            continue
        if any(str(directory) in text for text in (cmdline, *links)):
            found.append(int(entry.name))
    return found


def test_a_killed_build_leaves_no_root_and_no_builder(own_roots: Path) -> None:
    name = f"kb{os.getpid() % 10000}"
    driver = subprocess.Popen(
        [*_MIGRATOR, "lab", "up", "virtual-lda", "--release", "trixie", "--name", name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(own_roots.glob(".trixie.build-*/fs/var/lib/apt")):
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.05)
        time.sleep(1.0)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert roots.load_root("trixie") is None
        assert roots.list_roots() == []
        assert load_lab(name) is None, "no lab is recorded before its root exists"
        deadline = time.monotonic() + 60
        while _users_of(own_roots):
            assert time.monotonic() < deadline, f"builders left: {_users_of(own_roots)}"
            time.sleep(0.1)
    finally:
        driver.kill()
    with open("/proc/self/mountinfo") as info:
        assert [line for line in info if str(own_roots) in line] == []
    assert list(own_roots.glob(".trixie.build-*")), "the half build is still there"
    assert not roots.remove_root("trixie")
    assert not list(own_roots.glob(".trixie.*-*")), "removing a release clears its half builds"
