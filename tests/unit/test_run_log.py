"""The run log (cli/run_log.py): JSON lines per host and step, where it goes, how a run's
end is recorded, and that it never holds file contents, secrets or key material."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.cli.run_log import RunLog, open_run_log, runs_directory
from migrator.errors import PlanError
from migrator.executor.step_log import StepEvent
from migrator.exit_status import ExitStatus
from migrator.fleet.rollout import HostOutcome, HostResult, QuietObserver
from tests.unit.hosts import HOSTS

SECRET = "hunter2-secret-value"


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_steps_and_hosts_are_one_object_a_line() -> None:
    stream = io.StringIO()
    log = RunLog(stream, Path("x"))
    shown: list[StepEvent] = []
    notify = log.notifying(shown.append)
    notify(StepEvent("mx1", "postfix_check", "postfix check"))
    notify(StepEvent("mx1", "postfix_check", "postfix check", 2.0004, False, "bad"))
    log.host("mx1", "rolled back", 3, plan_id="p1")
    lines = _lines(stream.getvalue())
    assert len(shown) == 2  # the view still sees every event
    assert [line["event"] for line in lines] == ["step", "step", "host"]
    assert "seconds" not in lines[0] and lines[0]["description"] == "postfix check"
    ended = {k: lines[1][k] for k in ("host", "action", "seconds", "ok", "detail")}
    assert ended == {
        "host": "mx1",
        "action": "postfix_check",
        "seconds": 2.0,
        "ok": False,
        "detail": "bad",
    }
    assert lines[2]["outcome"] == "rolled back" and lines[2]["exit_code"] == 3
    assert all(str(line["time"]).endswith("Z") for line in lines)


def test_a_fleet_observer_is_told_and_logged() -> None:
    stream = io.StringIO()
    log = RunLog(stream, Path("x"))
    observer = log.observing(QuietObserver(), "apply")
    observer.started("mx2", "canary")
    observer.step(StepEvent("mx2", "reload_dovecot", "reload Dovecot", 0.5, True))
    result = HostResult(
        "mx2", HostOutcome.APPLIED, ExitStatus.SUCCESS, plan_id="p2", batch="canary",
        started=10.0, finished=12.5,
    )  # fmt: skip
    observer.finished(result)
    lines = _lines(stream.getvalue())
    assert [line["event"] for line in lines] == ["started", "step", "host"]
    assert lines[2]["outcome"] == "applied" and lines[2]["seconds"] == 2.5
    assert lines[2]["phase"] == "apply"
    assert lines[2]["batch"] == "canary" and lines[2]["plan_id"] == "p2"


def test_a_failed_write_never_stops_the_run_and_is_said_at_the_end(tmp_path: Path) -> None:
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    log = RunLog(Full(), tmp_path / "x")
    log.step(StepEvent("mx1", "write_file", "write main.cf", 0.1, True))
    log.host("mx1", "applied", 0)
    assert log.error == "No space left on device"


def test_the_default_is_a_new_private_file_under_the_state_directory() -> None:
    with pytest.raises(SystemExit), open_run_log(None, "apply") as log:
        log.host("mx1", "changes", 0)
        raise SystemExit(ExitStatus.CHANGES)
    assert log.path.parent == runs_directory()
    assert runs_directory().is_relative_to(os.environ["XDG_STATE_HOME"])
    assert log.path.name.endswith(f"-apply-{os.getpid()}.jsonl")
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700
    lines = _lines(log.path.read_text())
    assert [line["event"] for line in lines] == ["run", "host", "end"]
    assert lines[0]["command"] == "apply" and lines[-1]["exit_code"] == 2


def test_an_error_is_recorded_as_the_group_will_report_it(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with pytest.raises(PlanError), open_run_log(path, "apply"):
        raise PlanError("edited by hand", host="mx1")
    with pytest.raises(KeyboardInterrupt), open_run_log(path, "rollback"):
        raise KeyboardInterrupt
    ends = [line for line in _lines(path.read_text()) if line["event"] == "end"]
    assert ends == [  # --log FILE appends: two runs, two ends
        {"time": ends[0]["time"], "event": "end", "exit_code": 1, "error": "mx1: edited by hand"},
        {"time": ends[1]["time"], "event": "end", "exit_code": 130, "error": "interrupted"},
    ]


def test_a_log_that_cannot_be_opened_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["apply", "mx1", "--log", str(tmp_path / "no" / "x")])
    assert result.exit_code == ExitStatus.ERROR
    assert "cannot write the run log: No such file or directory" in result.output


def test_a_fleet_run_logs_each_host_and_its_end(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    args = ["apply", "-i", "mx1,mx2,", "--saved-plans", "--plans-dir", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "--log", str(log)])
    assert result.exit_code == ExitStatus.ERROR, result.output
    lines = _lines(log.read_text())
    assert [line["event"] for line in lines] == ["run", "host", "host", "end"]
    assert [line["host"] for line in lines[1:3]] == ["mx1", "mx2"]
    assert all(line["outcome"] == "error" for line in lines[1:3])
    assert all(line["phase"] == "apply" for line in lines[1:3])
    assert "run plan -i first" in str(lines[1]["error"])
    assert lines[-1]["exit_code"] == 1


def test_no_file_contents_secrets_or_key_in_the_log(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(HOSTS / "virtual-lda", root, symlinks=True)
    lmtp = root / "etc/dovecot/conf.d/20-lmtp.conf"
    lmtp.write_text(lmtp.read_text() + f"doveadm_password = {SECRET}\n")
    key = tmp_path / "plan.key"
    key.write_bytes(b"k3y-material-" * 4)
    key.chmod(0o600)
    log = tmp_path / "run.jsonl"
    args = ["plan", "mx1", "--root", str(root), "--plans-dir", str(tmp_path / "plans")]
    result = CliRunner().invoke(main, [*args, "--plan-key", str(key), "--log", str(log)])
    assert result.exit_code == 0, result.output
    text = log.read_text()
    saved = next((tmp_path / "plans" / "mx1").glob("*.json"))
    assert SECRET in saved.read_text()  # the plan holds it (mode 0600) ...
    assert SECRET not in text and "k3y-material" not in text  # ... the log does not
    assert "lmtp:unix:private/dovecot-lmtp" not in text  # nor any file's content or diff
    host = _lines(text)[1]
    assert host["outcome"] == "changes" and host["plan_path"] == str(saved)
