"""Bad input to `migrator lab`: one clear line, a non-zero exit, nothing built."""

from __future__ import annotations

import subprocess
import sys

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


def test_non_root_is_refused() -> None:
    done = subprocess.run(
        [*_NOBODY, sys.executable, "-m", "migrator.cli.main_entry", "lab", "up", "virtual-lda"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "migrator: error: the lab needs root: it creates network namespaces and mounts"
    )


@pytest.mark.parametrize("release", ["buster", "bogus"])
def test_a_release_the_mirror_does_not_serve(release: str) -> None:
    # buster moved to archive.debian.org; bogus never was: one line each, nothing cached.
    _fails_with(
        ["lab", "up", "virtual-lda", "--release", release, "--name", "bad2"],
        f"release {release!r} is not on the mirror http",
    )
    assert roots.load_root(release) is None
    assert not list(roots.roots_dir().glob(f".{release}.build-*"))


def test_bad_release_name() -> None:
    _fails_with(["lab", "up", "virtual-lda", "--release", "../etc"], "bad release name '../etc'")
