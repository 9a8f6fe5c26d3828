"""Defaults a user wrote that migrator would not read: a MIGRATOR_* variable it does not know
(a typo, a setting that is only an option), a config file that is there but no regular file
(a FIFO, a directory, a link to nothing). One line naming it, exit 64, before any command
runs; none is silently taken for absent."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.cli.defaults import OTHER_VARIABLES, SETTINGS, DefaultsError, load_defaults
from migrator.cli.trust_options import KEY_ENV, REQUIRE_ENV
from migrator.exit_status import ExitStatus
from migrator.lab.mirror import MIRROR_ENV
from migrator.lab.profile import PROFILES_ENV
from migrator.lab.roots import ROOTS_ENV
from migrator.lab.state import LAB_DIR_ENV
from tests.unit.hosts import HOSTS


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        ("MIGRATOR_TEST_RECIPENT", "did you mean $MIGRATOR_TEST_RECIPIENT?"),
        ("MIGRATOR_FORK", "did you mean $MIGRATOR_FORKS?"),
        ("MIGRATOR_PLAN_DIR", "did you mean $MIGRATOR_PLANS_DIR?"),
        ("MIGRATOR_PLAN_KEY", "did you mean $MIGRATOR_PLAN_KEY_FILE?"),
        ("MIGRATOR_LMTP", "settings: $MIGRATOR_PLANS_DIR, $MIGRATOR_FORKS"),
        ("MIGRATOR_ROLLBACK_ON_FAIL", "settings: "),
        ("MIGRATOR_", "settings: "),
    ],
)
def test_a_variable_migrator_does_not_read_is_refused_naming_it(
    tmp_path: Path, variable: str, hint: str
) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path), variable: "inet:10.0.0.1:24"}
    with pytest.raises(DefaultsError) as caught:
        load_defaults(environ, tmp_path)
    assert str(caught.value).startswith(f"${variable}: not a variable migrator reads (")
    assert hint in str(caught.value)
    plans = tmp_path / "plans"
    argv = ["plan", "--root", str(HOSTS / "virtual-lda"), "--plans-dir", str(plans)]
    result = CliRunner().invoke(main, argv, env={variable: "inet:10.0.0.1:24"})
    assert result.exit_code == ExitStatus.USAGE
    assert result.output.strip().splitlines() == [f"migrator: error: {caught.value}"]
    assert not plans.exists()


def test_every_variable_migrator_reads_is_known_and_accepted(tmp_path: Path) -> None:
    """OTHER_VARIABLES is the list of the features' own names, kept in step with them."""
    read = {KEY_ENV, REQUIRE_ENV, MIRROR_ENV, PROFILES_ENV, ROOTS_ENV, LAB_DIR_ENV}
    assert read == OTHER_VARIABLES
    environ = {name: "x" for name in read} | {"XDG_CONFIG_HOME": str(tmp_path)}
    environ |= {"MIGRATOR_FORKS": "3", "_MIGRATOR_COMPLETE": "bash_source", "NOT_MIGRATOR_X": "1"}
    defaults = load_defaults(environ, tmp_path)
    assert [s.name for s in defaults.settings] == ["forks"]
    assert {f"MIGRATOR_{name.upper()}" for name in SETTINGS}.isdisjoint(OTHER_VARIABLES)


KINDS: dict[str, Callable[[Path], None]] = {
    "fifo": os.mkfifo,
    "directory": Path.mkdir,
    "link to nothing": lambda path: path.symlink_to("nowhere.toml"),
    "link to a directory": lambda path: path.symlink_to(path.parent),
}


@pytest.mark.parametrize("make", KINDS.values(), ids=KINDS.keys())
@pytest.mark.parametrize("where", ["project", "user"])
def test_a_config_file_that_is_not_a_regular_file_is_refused_not_absent(
    tmp_path: Path, make: Callable[[Path], None], where: str
) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "migrator").mkdir(parents=True)
    path = tmp_path / "migrator.toml" if where == "project" else xdg / "migrator/config.toml"
    make(path)
    with pytest.raises(DefaultsError) as caught:
        load_defaults({"XDG_CONFIG_HOME": str(xdg)}, tmp_path)
    assert str(caught.value) == f"{path}: is there but not a regular file (nor a link to one)"
    shown = CliRunner().invoke(main, ["config"], env={"XDG_CONFIG_HOME": str(xdg)})
    if where == "user":  # the project's file is found from the current directory
        assert shown.exit_code == ExitStatus.USAGE, shown.output
        assert shown.output == f"migrator: error: {caught.value}\n"


def test_a_link_to_a_config_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "real.toml").write_text("forks = 4\n")
    (tmp_path / "migrator.toml").symlink_to("real.toml")
    defaults = load_defaults({"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, tmp_path)
    assert [(s.name, s.value) for s in defaults.settings] == [("forks", 4)]
