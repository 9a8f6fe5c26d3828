"""`migrator apply`: change a live host from LDA to LMTP, safely."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console

from migrator.cli.apply_options import apply_options
from migrator.cli.fleet import fleet_options, write_report
from migrator.cli.host_options import reach, recipient_override, ssh_options
from migrator.cli.list_hosts import list_hosts_option
from migrator.cli.proof_view import show_proof
from migrator.cli.run_log import RunLog, run_log_option
from migrator.cli.step_view import step_printer
from migrator.cli.trust_options import plan_key_option, plan_trust, require_signature_option
from migrator.delivery.ab import ProofMode
from migrator.errors import UsageError
from migrator.executor.apply import ApplyOptions, ApplyReport, Outcome, apply_plan
from migrator.exit_status import ExitStatus
from migrator.fleet.rollout import FleetReport
from migrator.fleet.work import apply_result
from migrator.plan.build import build_plan
from migrator.plan.document import Plan
from migrator.plan.signature import PlanTrust
from migrator.plan.store import load_plan, save_plan
from migrator.rules.switch import Options
from migrator.transport.base import Transport


@click.command()
@click.argument("host", required=False)
@apply_options(
    plan_help="The saved plan to apply (default: plan now, show it and ask).",
    recipient_help="Recipient of the test messages.",
)
@click.option("--lmtp", default="unix", show_default=True, help="unix or inet:127.0.0.1:24.")
@click.option(
    "--proof",
    type=click.Choice([m.value for m in ProofMode]),
    default=ProofMode.BASIC.value,
    show_default=True,
    help="basic: one test message after the switch; ab: the proof messages through the LDA "
    "before, through LMTP after, compared (fails on differences the plan warns about too).",
)
@plan_key_option
@require_signature_option
@ssh_options
@list_hosts_option
@run_log_option("apply")
@fleet_options("apply")
def apply(
    host: str,
    plan_file: Path | None,
    rollback_on_fail: bool,
    yes: bool,
    test_recipient: str | None,
    lmtp: str,
    proof: str,
    ssh_config: Path | None,
    accept_new_host_key: bool,
    plans_dir: Path,
    plan_key: Path | None,
    require_signature: bool,
    run_log: RunLog,
    report_json: Path | None = None,
) -> None:
    """Apply a plan to HOST, reload Dovecot then Postfix, and prove delivery over LMTP."""
    console = Console(highlight=False, soft_wrap=True)
    trust = plan_trust(plan_key, require_signature)
    # A saved plan is checked (signature, schema) before the host is reached.
    the_plan = None if plan_file is None else load_plan(plan_file, host=host, trust=trust)
    with reach(host, ssh_config, accept_new_host_key) as transport:
        if the_plan is None:
            options = Options(lmtp=lmtp, test_recipient=test_recipient)
            fresh = FreshPlan(plans_dir, trust, yes)
            the_plan = fresh.make(transport, options, console)
        override = recipient_override(test_recipient)  # a fresh plan recorded the default
        options_ = ApplyOptions(
            rollback_on_fail=rollback_on_fail, test_recipient=override, proof=ProofMode(proof)
        )
        notify = run_log.notifying(step_printer(console))
        started = time.time()
        report = apply_plan(transport, the_plan, options_, notify)
    sys.exit(_finish(report, console, run_log, report_json, started))


def _finish(
    report: ApplyReport, console: Console, run_log: RunLog, report_json: Path | None, started: float
) -> ExitStatus:
    """Show the proof and the outcome, log it, write the report; return the exit code."""
    show_proof(report, console)
    show_apply(report, console)
    code = log_outcome(report, run_log)
    if report_json is not None:
        _write_report(report_json, report, started)
    return code


def log_outcome(report: ApplyReport, run_log: RunLog) -> ExitStatus:
    """Log how an apply (or finalize) ended in the run log; return its exit code."""
    code = ExitStatus.INTERRUPTED if report.interrupted else report.outcome.exit_status
    details = {"plan_id": report.plan_id, "failed_step": report.failed_step, "error": report.error}
    run_log.host(report.host, report.outcome, code, **details)
    return code


@dataclass(frozen=True, slots=True)
class FreshPlan:
    """Plan now, save (signed with the key, if any), show, and ask unless --yes."""

    plans_dir: Path
    trust: PlanTrust
    yes: bool
    finalize: bool = False

    def make(self, transport: Transport, options: Options, console: Console) -> Plan:
        from migrator.cli.plan_view import render_plan

        fresh = build_plan(transport, options, finalize=self.finalize)
        saved = save_plan(fresh, self.plans_dir, self.trust.key)
        render_plan(fresh, console, saved_to=str(saved))
        if not fresh.has_changes or self.yes:
            return fresh
        if not sys.stdin.isatty():
            raise UsageError("not a terminal: give --yes to apply without asking", host=fresh.host)
        if not click.confirm(f"Apply this plan to {fresh.host}?", default=False):
            raise UsageError("not applied: you said no", host=fresh.host)
        return fresh


def _write_report(path: Path, report: ApplyReport, started: float) -> None:
    """One host's apply as a fleet report (the same JSON, ``proof`` included)."""
    result = apply_result(report.host, report, "", started)
    fleet = FleetReport("apply", (result,), report.interrupted, False, started, time.time())
    write_report(path, fleet)


def show_apply(report: ApplyReport, console: Console, restored: str = "LDA delivers again") -> None:
    """Print how the apply ended; ``restored`` says what delivers after its rollback."""
    if report.outcome is Outcome.APPLIED:
        console.print(f"[bold green]{report.host}: applied plan {report.plan_id}[/]")
    elif report.outcome is Outcome.NO_CHANGES:
        console.print(f"{report.host}: no changes to apply")
    elif report.outcome is Outcome.ROLLED_BACK:
        console.print(
            f"[bold yellow]{report.host}: apply failed at {report.failed_step} "
            f"({report.error}); rolled back, {restored}[/]"
        )
    else:
        hint = f"migrator rollback {report.host} --plan {report.plan_id}"
        rolled = report.rollback
        why = f"; rollback failed too: {rolled.error}" if rolled and not rolled.ok else ""
        console.print(
            f"[bold red]{report.host}: apply failed at {report.failed_step} ({report.error})"
            f"{why}. The host needs attention; to roll back: {hint}[/]"
        )
