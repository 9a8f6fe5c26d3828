"""``state=finalized``: migrator's ``finalize`` as a task, check and diff mode included.

On a host ``status`` calls migrated (its files as the apply left them), with nothing queued
for the old LDA transport, the LDA pipe services no hook names any more are removed from
master.cf (with their recipient limits in main.cf), Postfix reloads and a test message is
proven delivered over LMTP. Every refusal (not migrated, mail bound to the pipe, a hook or
another service still naming it) is raised before the first write, in check mode too, so
the task fails with one line and the host is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.migrator.mail.plugins.module_utils import plans, results
from migrator.executor.apply import ApplyOptions, apply_plan, check_drift
from migrator.executor.status import require_migrated
from migrator.host.queue import check_queue
from migrator.plan.document import Plan
from migrator.rules.switch import Options
from migrator.transport.base import Transport

# What delivers after a failed finalize was rolled back: the host stays on LMTP.
RESTORED = "the pipe service is back, LMTP delivers"


@dataclass(frozen=True, slots=True)
class TaskMode:
    """How Ansible runs the task: ``--check`` (change nothing) and ``--diff``."""

    check: bool
    diff: bool


def finalize(transport: Transport, args: dict[str, Any], mode: TaskMode) -> dict[str, Any]:
    """Finalize the host (check mode: say what would be removed). Raises RefusedError (not
    migrated, mail queued for the pipe, the pipe still named), PlanError, PlanDriftError,
    JournalError, TransportError, all with the host unchanged."""
    plan = _plan(transport, args)
    planned = _planned(plan, mode)
    if args["plan"] and plan.has_changes and plans.applied(transport, plan):
        return {**planned, "changed": False, "outcome": "already applied", "steps": []}
    if mode.check or not plan.has_changes:
        if mode.check and args["plan"] and plan.has_changes:
            _would_apply(transport, plan)
        outcome = "changes planned" if plan.has_changes else "no changes"
        return {**planned, "changed": plan.has_changes, "outcome": outcome, "steps": []}
    options = ApplyOptions(
        rollback_on_fail=args["rollback_on_fail"], test_recipient=args["test_recipient"]
    )
    report = apply_plan(transport, plan, options)
    return {**planned, **results.apply_result(report, restored=RESTORED)}


def _plan(transport: Transport, args: dict[str, Any]) -> Plan:
    """The reviewed finalize plan given, else a fresh one on a migrated host. The key and a
    given plan are checked before the host is reached."""
    key = plans.plan_key(args, transport.host)
    if args["plan"]:
        return plans.given_plan(args, key, transport.host, finalize=True)
    require_migrated(transport)
    options = Options(test_recipient=args["test_recipient"])
    return plans.fresh_plan(transport, args, key, options, finalize=True)


def _would_apply(transport: Transport, plan: Plan) -> None:
    """What apply checks before its first write, read only: the files unchanged since the
    plan, the host still migrated, no mail bound to the pipe services."""
    check_drift(transport, plan)
    require_migrated(transport)
    check_queue(transport, plan.finalizes)


def _planned(plan: Plan, mode: TaskMode) -> dict[str, Any]:
    """What the plan removes and why, its warnings, and (diff mode) each file's diff."""
    found: dict[str, Any] = {
        "plan_id": plan.plan_id,
        "removes": list(plan.finalizes),
        "changes": [
            {"file": c.file, "summary": c.summary, "reason": c.reason} for c in plan.changes
        ],
        # Not "warnings": Ansible shows that key as its own warnings, on every rerun.
        "plan_warnings": list(plan.warnings),
        "proof": None,
        "rolled_back": False,
    }
    if mode.diff:
        found["diff"] = results.file_diffs(plan)
    return found
