"""migrator's per-host records as the plain data an Ansible result carries."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from migrator.check.findings import HostCheck
from migrator.check.output import to_nagios
from migrator.delivery.proof import DeliveryRecord
from migrator.executor.apply import ApplyReport, Outcome
from migrator.executor.rollback import RollbackReport
from migrator.executor.step_log import StepTiming
from migrator.fleet.report import proof_entry
from migrator.plan.document import Plan


def file_diffs(plan: Plan) -> list[dict[str, str]]:
    """The plan's files in Ansible's diff format: one before/after pair per file."""
    return [
        {
            "before_header": change.path,
            "after_header": change.path,
            "before": change.content_before,
            "after": change.content_after,
        }
        for change in plan.files
    ]


def steps(timings: tuple[StepTiming, ...]) -> list[dict[str, Any]]:
    """Each step with what it did, how long it took (seconds) and whether it worked."""
    return [
        {
            "action": t.action,
            "description": t.description,
            "seconds": round(t.seconds, 3),
            "ok": t.ok,
            **({"skipped": t.skipped} if t.skipped else {}),
        }
        for t in timings
    ]


def proof(record: DeliveryRecord | None) -> dict[str, Any] | None:
    """The test message's delivery as Postfix logged it and Dovecot filed it (or None)."""
    return asdict(record) if record is not None else None


def apply_result(report: ApplyReport, restored: str = "the LDA delivers again") -> dict[str, Any]:
    """An apply (or finalize) as an Ansible result: changed only when files changed and
    stayed changed. ``restored`` says what delivers after a rollback."""
    result: dict[str, Any] = {
        "changed": report.outcome in (Outcome.APPLIED, Outcome.NEEDS_ATTENTION),
        "outcome": str(report.outcome),
        "plan_id": report.plan_id,
        "steps": steps(report.steps),
        "proof": proof(report.delivery),
        "ab_proof": [proof_entry(kind) for kind in report.proof],
        "rolled_back": report.outcome is Outcome.ROLLED_BACK,
    }
    if report.outcome is Outcome.ROLLED_BACK:
        result["failed"] = True
        result["msg"] = (
            f"{report.host}: apply failed at {report.failed_step} ({report.error}); "
            f"rolled back, {restored}"
        )
    elif report.outcome is Outcome.NEEDS_ATTENTION:
        rolled = report.rollback
        why = f"; rollback failed too: {rolled.error}" if rolled and not rolled.ok else ""
        result["failed"] = True
        result["msg"] = (
            f"{report.host}: apply failed at {report.failed_step} ({report.error}){why}; "
            "the host needs attention"
        )
    if report.rollback is not None:
        result["rollback"] = rollback_result(report.rollback)
    return result


def rollback_result(report: RollbackReport) -> dict[str, Any]:
    """A rollback as an Ansible result: changed when it restored files."""
    result: dict[str, Any] = {
        "changed": bool(report.restored),
        "outcome": "rolled back" if report.ok else "needs attention",
        "plan_id": report.plan_id,
        "restored": list(report.restored),
        "steps": steps(report.steps),
        "proof": proof(report.delivery),
    }
    if not report.ok:
        result["failed"] = True
        result["msg"] = f"{report.host}: rollback failed: {report.error}; the host needs attention"
    return result


def check_result(check: HostCheck) -> dict[str, Any]:
    """migrator's check of one host as data a play asserts on: the worst status (and its
    Nagios code), the plugin's status line, the metrics, and each check's name, status,
    message and details, in the order migrator ran them."""
    return {
        "status": check.status.name,
        "code": int(check.status),
        "delivery": check.delivery.value,
        "summary": to_nagios([check])[0].splitlines()[0],
        "metrics": dict(check.metrics),
        "checks": [
            {
                "name": f.check,
                "status": f.status.name,
                "message": f.summary,
                "details": list(f.details),
            }
            for f in check.findings
        ],
    }
