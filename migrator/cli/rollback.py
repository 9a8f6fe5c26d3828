"""`migrator rollback`: put a host back as its journal recorded it, and prove the LDA delivers."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from migrator.cli.fleet import fleet_options
from migrator.cli.host_options import reach, recipient_option, ssh_options
from migrator.cli.list_hosts import list_hosts_option
from migrator.cli.run_log import RunLog, run_log_option
from migrator.cli.step_view import step_printer
from migrator.executor.rollback import RollbackReport, rollback_latest
from migrator.exit_status import ExitStatus
from migrator.fleet.rollout import HostOutcome


@click.command()
@click.argument("host", required=False)
@click.option("--plan", "plan_id", metavar="ID", help="Plan id (default: the latest apply).")
@click.option(
    "--test-recipient",
    metavar="ADDR",
    callback=recipient_option,
    help="Recipient of the LDA's test message (default: the one apply used).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Roll back files edited since apply too (their edited copies stay in the journal).",
)
@ssh_options
@list_hosts_option
@run_log_option("rollback")
@fleet_options("rollback")
def rollback(
    host: str,
    plan_id: str | None,
    test_recipient: str | None,
    force: bool,
    ssh_config: Path | None,
    accept_new_host_key: bool,
    plans_dir: Path,
    run_log: RunLog,
) -> None:
    """Return HOST to the state recorded before apply, and prove the LDA delivers."""
    console = Console(highlight=False, soft_wrap=True)
    notify = run_log.notifying(step_printer(console))
    with reach(host, ssh_config, accept_new_host_key) as transport:
        report = rollback_latest(transport, plan_id, notify, test_recipient, force=force)
    _log(run_log, host, report)
    if report is None:
        console.print(f"{host}: already rolled back, nothing to do")
        sys.exit(ExitStatus.SUCCESS)
    if report.ok and report.detail:
        console.print(f"{host}: {report.detail}")
        sys.exit(ExitStatus.SUCCESS)
    if report.ok:
        console.print(f"[bold green]{host}: rolled back plan {report.plan_id}[/]")
        sys.exit(ExitStatus.SUCCESS)
    console.print(f"[bold red]{host}: rollback failed: {report.error}[/]")
    sys.exit(ExitStatus.NEEDS_ATTENTION)


def _log(run_log: RunLog, host: str, report: RollbackReport | None) -> None:
    """The host's line in the run log, in the words of a fleet rollback's report."""
    if report is None:
        run_log.host(host, HostOutcome.NOTHING_TO_DO, ExitStatus.SUCCESS)
        return
    outcome = HostOutcome.ROLLED_BACK if report.ok else HostOutcome.NEEDS_ATTENTION
    code = ExitStatus.SUCCESS if report.ok else ExitStatus.NEEDS_ATTENTION
    run_log.host(host, outcome, code, plan_id=report.plan_id, error=report.error)
