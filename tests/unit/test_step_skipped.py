"""A step that does not run (proof_before under --proof basic) shows as skipped, with why,
in every place a step shows: the terminal, the fleet progress, the run log, the JSON report
and JUnit; never as "ok 0.00s"."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from migrator.cli.fleet_view import FleetProgress
from migrator.cli.run_log import RunLog
from migrator.cli.step_view import step_printer
from migrator.delivery.proof_mode import ProofMode
from migrator.executor.apply import apply_plan
from migrator.fleet.report import to_json, to_junit
from migrator.fleet.rollout import FleetReport
from migrator.fleet.work import apply_result
from tests.unit.executor_host import APPLY, host


def test_proof_before_under_basic_shows_as_skipped_everywhere() -> None:
    fake, plan = host()
    console = Console(record=True, width=1000)
    stream = io.StringIO()
    started = time.time()
    notify = RunLog(stream, Path("x")).notifying(step_printer(console))
    report = apply_plan(fake, plan, replace(APPLY, proof=ProofMode.BASIC), notify)
    shown = console.export_text().splitlines()
    [line] = [s for s in shown if "send the proof messages" in s]
    assert line.startswith(f"{fake.host}: skipped send the proof messages")
    assert line.endswith(": proof basic: no A/B proof, one test message after the switch instead")
    assert any(s.startswith(f"{fake.host}: ok ") and "reload Postfix" in s for s in shown)
    logged = [json.loads(s) for s in stream.getvalue().splitlines()]
    [skip] = [e for e in logged if e["action"] == "proof_before"]
    assert skip["skipped"].startswith("proof basic") and skip["seconds"] == 0.0
    assert not any("skipped" in e for e in logged if e["action"] != "proof_before")
    fleet = FleetReport("apply", (apply_result(fake.host, report, "", started),))
    [steps] = [h["steps"] for h in json.loads(to_json(fleet))["hosts"]]
    assert steps[0]["action"] == "proof_before" and steps[0]["skipped"].startswith("proof basic")
    assert all(s["skipped"] is None and s["ok"] for s in steps[1:])
    assert "<skipped" not in to_junit(fleet)  # the host passed; only its step was skipped


def test_the_fleet_progress_says_skipped() -> None:
    fake, plan = host()
    console = Console(record=True, width=1000)
    with FleetProgress(console, "apply", [fake.host]) as progress:
        apply_plan(fake, plan, replace(APPLY, proof=ProofMode.BASIC), progress.step)
    text = console.export_text()
    assert f"{fake.host}: skipped send the proof messages" in text
    assert "0.00s send the proof messages" not in text
