"""Conventions on a live lab host: defaults from ./migrator.toml used by plan, apply and a
fleet rollback (no --ssh-config, --plans-dir or --test-recipient on the command line), and
the run log those runs leave on the control node."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from migrator.cli import main
from migrator.plan.store import load_plan

from .conftest import LabFactory
from .hostfiles import file_states

pytestmark = pytest.mark.lab


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _log(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _ended_steps(lines: list[dict[str, object]], host: str) -> list[dict[str, object]]:
    return [x for x in lines if x["event"] == "step" and x["host"] == host and "seconds" in x]


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_config_defaults_and_the_run_log_on_a_live_host(
    make_lab: LabFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    lab = make_lab("virtual-lda", prefix="cv", release=release)
    host = lab.hosts[0]
    monkeypatch.chdir(tmp_path)
    Path("migrator.toml").write_text(
        f'ssh_config = "{lab.ssh_config}"\nplans_dir = "saved"\n'
        'test_recipient = "alice@example.test"\nforks = 2\n'
    )
    shown = json.loads(_cli("config", "--json").output)["settings"]
    assert shown["test_recipient"]["source"] == f"{tmp_path / 'migrator.toml'}:3"

    planned = _cli("plan", host.name, "--detailed-exitcode", "--log", "plan.jsonl")
    assert planned.exit_code == 2, planned.output
    [saved] = (tmp_path / "saved" / host.name).glob("*.json")
    plan = load_plan(saved, host=host.name)
    assert {s.args["recipient"] for s in plan.steps if "recipient" in s.args} == {
        "alice@example.test"
    }
    [planned_host] = [x for x in _log(tmp_path / "plan.jsonl") if x["event"] == "host"]
    assert (planned_host["outcome"], planned_host["exit_code"]) == ("changes", 2)
    assert planned_host["plan_path"] == str(saved)
    before = file_states(lab, host, [f.path for f in plan.files])

    # A default stays a default: the recipient the reviewed plan (then the journal) recorded
    # beats the one the file names now, for which no mailbox on the host answers.
    toml = Path("migrator.toml")
    toml.write_text(toml.read_text().replace("alice@", "nobody@"))
    applied = _cli(
        "apply", host.name, "--plan", str(saved), "--rollback-on-fail", "--log", "a.jsonl"
    )
    assert applied.exit_code == 0, applied.output
    lines = _log(tmp_path / "a.jsonl")
    assert lines[0]["event"] == "run" and lines[0]["command"] == "apply"
    ended = _ended_steps(lines, host.name)
    assert [x["action"] for x in ended] == [s.action for s in plan.steps]
    assert all(x["ok"] and isinstance(x["seconds"], float) for x in ended)
    started = [x for x in lines if x["event"] == "step" and "seconds" not in x]
    assert len(started) == len(ended)  # each step's start is logged too
    [result] = [x for x in lines if x["event"] == "host"]
    assert (result["outcome"], result["exit_code"], result["plan_id"]) == (
        "applied",
        0,
        plan.plan_id,
    )
    assert lines[-1]["event"] == "end" and lines[-1]["exit_code"] == 0
    text = (tmp_path / "a.jsonl").read_text()
    assert all(f.content_after not in text for f in plan.files)  # no file's content

    # check takes the default (its probe has no record to beat it), and nobody@ is refused.
    probed = _cli("check", host.name, "--json")
    assert "nobody@example.test" in probed.output and probed.exit_code == 2, probed.output

    # A fleet rollback with no --log: its log is a new file under the state directory.
    rolled = _cli("rollback", "-i", f"{host.name},")
    assert rolled.exit_code == 0, rolled.output
    assert file_states(lab, host, [f.path for f in plan.files]) == before
    runs = Path(os.environ["XDG_STATE_HOME"]) / "migrator" / "runs"
    [default] = [p for p in runs.glob("*-rollback-*.jsonl")]
    fleet = _log(default)
    assert [x["event"] for x in fleet][:2] == ["run", "started"]
    assert _ended_steps(fleet, host.name) and all(x["ok"] for x in _ended_steps(fleet, host.name))
    [result] = [x for x in fleet if x["event"] == "host"]
    assert (result["phase"], result["outcome"], result["exit_code"]) == (
        "rollback",
        "rolled back",
        0,
    )
    assert fleet[-1] == {**fleet[-1], "event": "end", "exit_code": 0}
