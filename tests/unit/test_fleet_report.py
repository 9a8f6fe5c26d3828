"""Fleet reports as files: JSON (outcomes, steps, times) and JUnit XML that parses."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from migrator.executor.step_log import StepTiming
from migrator.exit_status import ExitStatus
from migrator.fleet.report import to_json, to_junit
from migrator.fleet.rollout import FleetReport, HostOutcome, HostResult

STEPS = (
    StepTiming("write_file", "write /etc/postfix/main.cf", 0.1, True),
    StepTiming("postfix_check", "postfix check", 2.0, False),
    StepTiming("restore_files", "restore every touched file <byte-identical> & more", 0.2, True),
)
REPORT = FleetReport(
    "apply",
    (
        HostResult("mx1", HostOutcome.APPLIED, ExitStatus.SUCCESS, plan_id="p1", batch="canary",
                   started=1000.0, finished=1005.0),
        HostResult("mx2", HostOutcome.ROLLED_BACK, ExitStatus.ROLLED_BACK, plan_id="p2",
                   error='mx2: postfix check said "no" <here>', failed_step="postfix_check",
                   steps=STEPS, batch="wave 1", started=1005.0, finished=1010.0),
        HostResult("mx3", HostOutcome.ERROR, ExitStatus.ERROR, error="mx3: connection refused",
                   batch="wave 1", started=1005.0, finished=1005.5),
        HostResult("mx4", HostOutcome.NOT_STARTED, ExitStatus.ERROR, batch="wave 2"),
        HostResult("mx5", HostOutcome.NO_CHANGES, ExitStatus.SUCCESS, plan_id="p5"),
    ),
    stopped_early=True,
    started=999.0,
    finished=1011.0,
)  # fmt: skip


def test_json_has_every_host_with_outcome_exit_code_steps_and_times() -> None:
    data = json.loads(to_json(REPORT))
    assert data["exit_code"] == 3 and data["stopped_early"] and data["seconds"] == 12.0
    assert data["counts"] == {
        "no changes": 1, "error": 1, "applied": 1, "rolled back": 1, "not started": 1
    }  # fmt: skip
    mx2 = data["hosts"][1]
    assert (mx2["outcome"], mx2["exit_code"], mx2["plan_id"]) == ("rolled back", 3, "p2")
    assert [s["action"] for s in mx2["steps"]] == ["write_file", "postfix_check", "restore_files"]
    assert mx2["started"] == "1970-01-01T00:16:45.000+00:00"
    assert data["hosts"][3]["started"] is None


def test_junit_parses_with_failures_errors_and_skips() -> None:
    root = ET.fromstring(to_junit(REPORT).encode())
    suite = root.find("testsuite")
    assert suite is not None
    counts = [suite.get(k) for k in ("tests", "failures", "errors", "skipped")]
    assert counts == ["5", "1", "1", "1"]
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["mx2"].find("failure")
    assert failure is not None and "<here>" in (failure.get("message") or "")
    assert "restore_files" in (failure.text or "")
    assert cases["mx3"].find("error") is not None
    assert cases["mx4"].find("skipped") is not None
    assert cases["mx1"].get("classname") == "migrator.apply.canary"


def test_progress_without_a_terminal_is_plain_lines_and_the_summary_a_table() -> None:
    from io import StringIO

    from rich.console import Console

    from migrator.cli.fleet_view import FleetProgress, render_summary
    from migrator.executor.step_log import StepEvent

    out = StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    with FleetProgress(console, "apply", ["mx1", "mx2"]) as progress:
        progress.started("mx1", "canary")
        progress.step(StepEvent("mx1", "postfix_check", "postfix check"))
        progress.step(StepEvent("mx1", "postfix_check", "postfix check", 2.0, False, "bad"))
        progress.finished(REPORT.results[1])
    lines = out.getvalue().splitlines()
    assert lines == [
        "mx1: started (canary)",
        "mx1: FAILED   2.00s postfix check: bad",
        'mx2: rolled back in 5.0s: mx2: postfix check said "no" <here>',
    ]
    out.truncate(0)
    render_summary(REPORT, console)
    text = out.getvalue()
    assert all(name in text for name in ("mx1", "mx2", "mx3", "mx4", "mx5"))
    assert "exit code 3" in text and "failure budget" in text
