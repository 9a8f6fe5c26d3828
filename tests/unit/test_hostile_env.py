"""MIGRATOR_* variables migrator does not read (a typo, a setting that is only an option):
one line naming the variable, exit 64, before any command runs; none is silently ignored."""

from __future__ import annotations

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
