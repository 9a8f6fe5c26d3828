"""Defaults from ./migrator.toml, the user's config.toml and MIGRATOR_* (cli/defaults.py):
which wins, what `migrator config` shows, and one-line errors (exit 64) for anything bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.cli.defaults import DefaultsError, load_defaults
from migrator.exit_status import ExitStatus
from migrator.plan.document import Plan
from migrator.plan.store import load_plan
from tests.unit.hosts import HOSTS


def _user_file(environ: dict[str, str], text: str) -> Path:
    path = Path(environ["XDG_CONFIG_HOME"]) / "migrator" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_command_line_beats_variables_beat_project_file_beats_user_file(tmp_path: Path) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MIGRATOR_FORKS": "7"}
    user = _user_file(environ, 'forks = 3\nproof = "basic"\nplans_dir = "mine"\n')
    (tmp_path / "migrator.toml").write_text('plans_dir = "/srv/plans"\nforks = 20\n')
    defaults = load_defaults(environ, tmp_path)
    shown = {s.name: (s.value, s.source) for s in defaults.settings}
    assert shown == {
        "plans_dir": (Path("/srv/plans"), f"{tmp_path / 'migrator.toml'}:1"),
        "forks": (7, "$MIGRATOR_FORKS"),
        "proof": ("basic", f"{user}:2"),
    }
    assert defaults.default_map(["plan", "status"])["status"]["forks"] == 7


def test_relative_paths_are_the_files_own_and_tilde_is_home(tmp_path: Path) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    user = _user_file(environ, 'plans_dir = "plans"\nssh_config = "~/.ssh/mail"\n')
    defaults = load_defaults(environ, tmp_path)
    assert defaults.get("plans_dir").value == user.parent / "plans"  # type: ignore[union-attr]
    assert defaults.get("ssh_config").value == Path.home() / ".ssh/mail"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("forks = 20\nplans-dir = 'x'\n", ":2: unknown key 'plans-dir' (did you mean plans_dir?)"),
        ("[hosts]\nforks = 2\n", ":1: unknown key 'hosts' (known keys: plans_dir, forks,"),
        ("forks = 0\n", ":1: forks must be a whole number from 1 to 500 (not 0)"),
        ("\n\nforks = '20x'\n", ":3: forks must be a whole number from 1 to 500 (not '20x')"),
        ("forks = true\n", ":1: forks must be a whole number"),
        ("test_recipient = 'a@b.test\\n'\n", ":1: test_recipient test recipient"),
        ("proof = 'fast'\n", ":1: proof must be one of basic, ab (not 'fast')"),
        ("plans_dir = 5\n", ":1: plans_dir must be a path"),
        ("forks = 2\nforks = 3\n", ":2: not TOML: Cannot overwrite a value"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_line_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    project = tmp_path / "migrator.toml"
    project.write_text(text)
    with pytest.raises(DefaultsError) as raised:
        load_defaults({"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, tmp_path)
    assert str(raised.value).startswith(f"{project}:")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_bad_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(DefaultsError, match=r"^\$MIGRATOR_FORKS: forks must be a whole"):
        load_defaults({"MIGRATOR_FORKS": "many"}, tmp_path)


def _invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "command", ["plan", "apply", "finalize", "rollback", "status", "check", "config"]
)
def test_every_command_refuses_a_bad_config_with_exit_64(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migrator.toml").write_text("forks = 10\nforkz = 20\n")
    code, output = _invoke(command, "--help")
    assert code == ExitStatus.USAGE == 64
    [line] = output.strip().splitlines()
    expected = "migrator.toml:2: unknown key 'forkz' (did you mean forks?)"
    assert line == f"migrator: error: {tmp_path}/{expected}"


@pytest.mark.parametrize("command", ["plan", "apply", "finalize", "rollback", "status", "check"])
def test_defaults_reach_each_commands_options(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migrator.toml").write_text("forks = 23\n")
    code, output = _invoke(command, "--help", env={"MIGRATOR_PLANS_DIR": "/srv/p"})
    assert code == 0, output
    flat = " ".join(output.split())  # help wraps where its columns end
    assert "[default: 23; 1<=x<=500]" in flat
    assert "[default: /srv/p]" in flat


def test_a_plan_takes_plans_dir_and_test_recipient_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migrator.toml").write_text(
        'plans_dir = "saved"\ntest_recipient = "postmaster@example.test"\n'
    )
    root = str(HOSTS / "virtual-lda")
    code, output = _invoke("plan", "--root", root, "mx1")
    assert code == 0, output
    saved = list((tmp_path / "saved" / "mx1").glob("*.json"))
    assert len(saved) == 1, output
    assert _recipients(load_plan(saved[0])) == {"postmaster@example.test"}
    # The command line beats the file.
    code, output = _invoke(
        "plan", "--root", root, "mx1", "--plans-dir", "other",
        "--test-recipient", "alice@example.test",
    )  # fmt: skip
    assert code == 0, output
    other = list((tmp_path / "other" / "mx1").glob("*.json"))
    assert len(other) == 1 and _recipients(load_plan(other[0])) == {"alice@example.test"}


def _recipients(plan: Plan) -> set[str]:
    return {str(step.args["recipient"]) for step in plan.steps if "recipient" in step.args}


def test_config_shows_each_value_and_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "migrator.toml").write_text("\nforks = 20\n")
    code, output = _invoke("config", "--json", env={"MIGRATOR_PROOF": "basic"})
    assert code == 0, output
    data = json.loads(output)
    settings = data["settings"]
    assert settings["forks"]["value"] == 20
    assert settings["forks"]["source"].endswith("migrator.toml:2")
    assert settings["proof"] == {"value": "basic", "source": "$MIGRATOR_PROOF"}
    assert settings["plans_dir"] == {"value": None, "source": "built-in"}
    assert [f["exists"] for f in data["files"]] == [True, False]
    assert data["run_logs"].endswith("/migrator/runs")
    code, table = _invoke("config", env={"COLUMNS": "300"})
    assert code == 0 and "$MIGRATOR_PROOF" not in table and "migrator.toml:2" in table


def test_rollbacks_recipient_stays_the_journals(tmp_path: Path) -> None:
    (tmp_path / "migrator.toml").write_text('test_recipient = "postmaster@example.test"\n')
    defaults = load_defaults({"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, tmp_path)
    shown = defaults.default_map(["plan", "apply", "check", "rollback"])
    assert [c for c in shown if "test_recipient" in shown[c]] == ["plan", "apply", "check"]


def test_config_shows_the_ab_proof_as_the_built_in_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIGRATOR_PROOF", raising=False)
    code, output = _invoke("config", "--json", env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert code == 0, output
    assert json.loads(output)["settings"]["proof"] == {"value": "ab", "source": "built-in"}
    code, table = _invoke("config", env={"COLUMNS": "300", "XDG_CONFIG_HOME": str(tmp_path)})
    assert code == 0 and any(
        [cell.strip() for cell in line.split("│")[1:3]] == ["proof", "ab"]
        for line in table.splitlines()
    ), table
