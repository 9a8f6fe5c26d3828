"""`migrator apply`, `migrator rollback`, `migrator status`: change a live host, safely."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from migrator.cli.fleet import fleet_options
from migrator.cli.host_options import reach, ssh_options
from migrator.errors import UsageError
from migrator.executor.apply import ApplyOptions, ApplyReport, Outcome, apply_plan
from migrator.executor.rollback import RollbackReport
from migrator.executor.rollback_latest import rollback_latest
from migrator.executor.status import host_status
from migrator.executor.step_log import Notify, StepEvent
from migrator.exit_status import ExitStatus
from migrator.plan.build import build_plan
from migrator.plan.document import Plan
from migrator.plan.store import load_plan, save_plan, saved_plan_ids
from migrator.rules.switch import Options
from migrator.transport.base import Transport

_EXIT = {
    Outcome.APPLIED: ExitStatus.SUCCESS,
    Outcome.NO_CHANGES: ExitStatus.SUCCESS,
    Outcome.ROLLED_BACK: ExitStatus.ROLLED_BACK,
    Outcome.NEEDS_ATTENTION: ExitStatus.NEEDS_ATTENTION,
}


@click.command()
@click.argument("host", required=False)
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--rollback-on-fail", is_flag=True, help="Put every byte back if anything fails.")
@click.option("--yes", is_flag=True, help="Apply a fresh plan without asking.")
@click.option("--test-recipient", metavar="ADDR", help="Recipient of the test messages.")
@click.option("--lmtp", default="unix", show_default=True, help="unix or inet:127.0.0.1:24.")
@ssh_options
@fleet_options("apply")
def apply(
    host: str,
    plan_file: Path | None,
    rollback_on_fail: bool,
    yes: bool,
    test_recipient: str | None,
    lmtp: str,
    ssh_config: Path | None,
    accept_new_host_key: bool,
    plans_dir: Path,
) -> None:
    """Apply a plan to HOST, reload Dovecot then Postfix, and prove delivery over LMTP."""
    console = Console(highlight=False, soft_wrap=True)
    transport = reach(host, ssh_config, accept_new_host_key)
    try:
        if plan_file is not None:
            the_plan = load_plan(plan_file, host=host)
        else:
            options = Options(lmtp=lmtp, test_recipient=test_recipient)
            the_plan = _fresh_plan(transport, options, plans_dir, yes, console)
        options_ = ApplyOptions(rollback_on_fail=rollback_on_fail, test_recipient=test_recipient)
        report = apply_plan(transport, the_plan, options_, _printer(console))
    finally:
        transport.close()
    _show_apply(report, console)
    sys.exit(ExitStatus.INTERRUPTED if report.interrupted else _EXIT[report.outcome])


def _fresh_plan(
    transport: Transport, options: Options, plans_dir: Path, yes: bool, console: Console
) -> Plan:
    from migrator.cli.plan_view import render_plan

    fresh = build_plan(transport, options)
    saved = save_plan(fresh, plans_dir)
    render_plan(fresh, console, saved_to=str(saved))
    if not fresh.has_changes or yes:
        return fresh
    if not sys.stdin.isatty():
        raise UsageError("not a terminal: give --yes to apply without asking", host=fresh.host)
    if not click.confirm(f"Apply this plan to {fresh.host}?", default=False):
        raise UsageError("not applied: you said no", host=fresh.host)
    return fresh


def _printer(console: Console) -> Notify:
    def show(event: StepEvent) -> None:
        if event.seconds is None:
            return
        mark = "[green]ok[/green]" if event.ok else "[red]FAILED[/red]"
        detail = f": {event.detail}" if event.detail and not event.ok else ""
        console.print(f"{event.host}: {mark} {event.seconds:6.2f}s {event.description}{detail}")

    return show


def _show_apply(report: ApplyReport, console: Console) -> None:
    if report.outcome is Outcome.APPLIED:
        console.print(f"[bold green]{report.host}: applied plan {report.plan_id}[/]")
    elif report.outcome is Outcome.NO_CHANGES:
        console.print(f"{report.host}: no changes to apply")
    elif report.outcome is Outcome.ROLLED_BACK:
        console.print(
            f"[bold yellow]{report.host}: apply failed at {report.failed_step} "
            f"({report.error}); rolled back, LDA delivers again[/]"
        )
    else:
        hint = f"migrator rollback {report.host} --plan {report.plan_id}"
        rolled = report.rollback
        why = f"; rollback failed too: {rolled.error}" if rolled and not rolled.ok else ""
        console.print(
            f"[bold red]{report.host}: apply failed at {report.failed_step} ({report.error})"
            f"{why}. The host needs attention; to roll back: {hint}[/]"
        )


@click.command()
@click.argument("host", required=False)
@click.option("--plan", "plan_id", metavar="ID", help="Plan id (default: the latest apply).")
@ssh_options
@fleet_options("rollback")
def rollback(
    host: str,
    plan_id: str | None,
    ssh_config: Path | None,
    accept_new_host_key: bool,
    plans_dir: Path,
) -> None:
    """Return HOST to the state recorded before apply, and prove the LDA delivers."""
    console = Console(highlight=False, soft_wrap=True)
    transport = reach(host, ssh_config, accept_new_host_key)
    try:
        report = _rollback(transport, plan_id, console)
    finally:
        transport.close()
    if report is None:
        console.print(f"{host}: already rolled back, nothing to do")
        sys.exit(ExitStatus.SUCCESS)
    if report.ok:
        console.print(f"[bold green]{host}: rolled back plan {report.plan_id}[/]")
        sys.exit(ExitStatus.SUCCESS)
    console.print(f"[bold red]{host}: rollback failed: {report.error}[/]")
    sys.exit(ExitStatus.NEEDS_ATTENTION)


def _rollback(transport: Transport, plan_id: str | None, console: Console) -> RollbackReport | None:
    return rollback_latest(transport, plan_id, _printer(console))


@click.command()
@click.argument("host")
@ssh_options
def status(host: str, ssh_config: Path | None, accept_new_host_key: bool, plans_dir: Path) -> None:
    """Show whether HOST is clean, planned, migrated, interrupted or drifted."""
    transport = reach(host, ssh_config, accept_new_host_key)
    try:
        report = host_status(transport, saved_plan_ids(plans_dir, host))
    finally:
        transport.close()
    click.echo(report.line())
