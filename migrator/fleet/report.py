"""A fleet run's report as files: JSON for tools, JUnit XML for CI dashboards.

Pure: each function turns a ``FleetReport`` into text; the CLI writes the files.
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from migrator import __version__
from migrator.executor.status import NextRollback, Undoes
from migrator.fleet.rollout import FleetReport, HostOutcome, HostResult

if TYPE_CHECKING:
    from migrator.delivery.outcome import KindProof
    from migrator.executor.step_log import StepTiming

JSON_FORMAT_VERSION = 1


def to_json(report: FleetReport, *, detailed: bool = False) -> str:
    """The report as a JSON document: totals, exit code, and per host its outcome, exit
    code, plan id, error, batch, start/finish times, each step with its seconds, and what a
    rollback undid (``rolled_back``: null when none worked)."""
    document = {
        "format_version": JSON_FORMAT_VERSION,
        "migrator_version": __version__,
        "action": report.action,
        "started": _iso(report.started),
        "finished": _iso(report.finished),
        "seconds": round(report.finished - report.started, 3),
        "exit_code": int(report.exit_code(detailed)),
        "interrupted": report.interrupted,
        "stopped_early": report.stopped_early,
        "counts": report.counts,
        "hosts": [_host(result) for result in report.results],
    }
    return json.dumps(document, indent=2) + "\n"


def _host(result: HostResult) -> dict[str, Any]:
    proof = {"proof": [proof_entry(p) for p in result.proof]} if result.proof else {}
    return {
        "host": result.host,
        "outcome": result.outcome.value,
        "exit_code": int(result.exit_code),
        "batch": result.batch,
        "plan_id": result.plan_id,
        "plan_path": result.plan_path,
        "error": result.error,
        "failed_step": result.failed_step,
        "started": _iso(result.started),
        "finished": _iso(result.finished),
        "seconds": None if result.seconds is None else round(result.seconds, 3),
        "steps": [
            {
                "action": step.action,
                "description": step.description,
                "seconds": round(step.seconds, 3),
                "ok": step.ok,
                "skipped": step.skipped or None,
            }
            for step in result.steps
        ],
        "rolled_back": rolled_back(result.undone) if result.undone else None,
    } | proof


def rolled_back(undone: NextRollback) -> dict[str, str]:
    """What a rollback undid ("migration" or "finalize", which plan), where it left the host
    ("rolled back": on the LDA; "migrated": the migration current, LMTP delivering) and over
    what Postfix delivers now ("lda" or "lmtp")."""
    return {
        "undid": undone.undoes.value,
        "plan_id": undone.plan_id,
        "left": undone.leaves.value,
        "left_plan_id": undone.leaves_plan_id,
        "delivery": "lmtp" if undone.undoes is Undoes.FINALIZE else "lda",
    }


def proof_entry(proof: KindProof) -> dict[str, Any]:
    """One kind of the A/B proof: its outcome before (LDA) and after (LMTP), and whether
    they are the same (``verdict`` "improved": the LDA did not deliver it, LMTP does)."""
    return {
        "kind": proof.kind,
        "same": proof.same,
        "verdict": proof.verdict,
        "before": asdict(proof.before),
        "after": None if proof.after is None else asdict(proof.after),
        "differences": list(proof.differences),
    }


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")


def to_junit(report: FleetReport) -> str:
    """The report as JUnit XML: one testsuite, one testcase per host (classname = batch).

    Failed hosts are ``<failure>`` (apply failed, rolled back or needing attention) or
    ``<error>`` (refused, unreachable); hosts not started are ``<skipped>``.
    """
    failures = sum(1 for r in report.results if r.failed and not _is_error(r))
    errors = sum(1 for r in report.results if _is_error(r))
    skipped = report.count(HostOutcome.NOT_STARTED)
    suite = ET.Element(
        "testsuite",
        {
            "name": f"migrator {report.action}",
            "tests": str(len(report.results)),
            "failures": str(failures),
            "errors": str(errors),
            "skipped": str(skipped),
            "time": f"{report.finished - report.started:.3f}",
            "timestamp": _iso(report.started) or "",
            "hostname": socket.gethostname(),
        },
    )
    for result in report.results:
        _testcase(suite, report.action, result)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _mark(step: StepTiming) -> str:
    return "skipped" if step.skipped else "ok" if step.ok else "FAILED"


def _is_error(result: HostResult) -> bool:
    return result.outcome in (HostOutcome.ERROR, HostOutcome.REFUSED)


def _testcase(suite: ET.Element, action: str, result: HostResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "classname": f"migrator.{action}.{result.batch or 'hosts'}".replace(" ", "_"),
            "name": result.host,
            "time": f"{result.seconds or 0.0:.3f}",
        },
    )
    message = f"{result.outcome.value}: {result.error}" if result.error else result.outcome.value
    if result.outcome is HostOutcome.NOT_STARTED:
        ET.SubElement(case, "skipped", {"message": "not started (failure budget or Ctrl-C)"})
    elif _is_error(result):
        ET.SubElement(case, "error", {"message": message, "type": result.outcome.value})
    elif result.failed:
        failure = ET.SubElement(case, "failure", {"message": message, "type": result.outcome.value})
        failure.text = "\n".join(
            f"{_mark(s)} {s.seconds:7.2f}s {s.action}: {s.description}" for s in result.steps
        )
    out = ET.SubElement(case, "system-out")
    out.text = "\n".join(
        [f"outcome: {result.outcome.value}", f"exit code: {int(result.exit_code)}"]
        + ([f"plan: {result.plan_id}"] if result.plan_id else [])
    )
