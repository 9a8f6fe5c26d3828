"""Bad input to `migrator lab`: one clear line, a non-zero exit, nothing built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.lab import roots
from migrator.lab.state import list_labs

from .conftest import LabFactory

pytestmark = pytest.mark.lab
_NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def _fails_with(args: list[str], message: str) -> None:
    before = [lab.name for lab in list_labs()]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("migrator: error: "), result.output
    assert message in lines[0]
    assert [lab.name for lab in list_labs()] == before


def test_unknown_profile() -> None:
    _fails_with(["lab", "up", "no-such-profile", "--name", "bad1"], "unknown profile")


def test_bad_lab_name() -> None:
    _fails_with(["lab", "up", "virtual-lda", "--name", "Bad_Name"], "bad lab name")


def test_lab_name_in_use(make_lab: LabFactory) -> None:
    lab = make_lab("virtual-lda")
    _fails_with(["lab", "up", "virtual-lda", "--name", lab.name], "is in use")


def test_non_root_is_refused(tmp_path: Path) -> None:
    argv = [*_NOBODY, sys.executable, "-m", "migrator.cli.main_entry", "lab", "up", "virtual-lda"]
    # nobody's own home, as a login gives it: no config file of the user's.
    home = {**os.environ, "HOME": "/nonexistent", "XDG_CONFIG_HOME": "/nonexistent/.config"}
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=home)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "migrator: error: the lab needs root: it creates network namespaces and mounts"
    )
    # root's HOME kept (setpriv, sudo without -H): the user's config file cannot even be
    # looked at; one line naming it, not a traceback.
    private = tmp_path / "root-home"
    private.mkdir(mode=0o700)
    kept = {**os.environ, "HOME": str(private), "XDG_CONFIG_HOME": f"{private}/.config"}
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=kept)
    assert done.returncode == 64, done.stderr
    assert done.stderr.strip() == (
        f"migrator: error: {private}/.config/migrator/config.toml: cannot read: Permission denied"
    )


@pytest.mark.parametrize("release", ["buster", "bogus"])
def test_a_release_the_mirror_does_not_serve(
    release: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # buster moved to archive.debian.org; bogus never was: one line each, nothing cached.
    monkeypatch.setenv(roots.ROOTS_ENV, str(tmp_path))
    _fails_with(
        ["lab", "up", "virtual-lda", "--release", release, "--name", "bad2"],
        f"release {release!r} is not on the mirror http",
    )
    assert list(tmp_path.iterdir()) == [], "no lock, no half build, no root"


def test_bad_release_name() -> None:
    _fails_with(["lab", "up", "virtual-lda", "--release", "../etc"], "bad release name '../etc'")
