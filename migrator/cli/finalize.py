"""`migrator finalize`: remove the LDA pipe service a migrated host no longer uses."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from migrator.cli.apply import FreshPlan, log_outcome, show_apply
from migrator.cli.apply_options import apply_options
from migrator.cli.fleet import fleet_options
from migrator.cli.host_options import reach, recipient_override, ssh_options
from migrator.cli.list_hosts import list_hosts_option
from migrator.cli.run_log import RunLog, run_log_option
from migrator.cli.step_view import step_printer
from migrator.cli.trust_options import plan_key_option, plan_trust, require_signature_option
from migrator.errors import UsageError
from migrator.executor.apply import ApplyOptions, apply_plan
from migrator.executor.status import require_migrated
from migrator.plan.store import load_plan
from migrator.rules.switch import Options


@click.command()
@click.argument("host", required=False)
@apply_options(
    plan_help="Apply this saved finalize plan (default: plan now, show it and ask).",
    recipient_help="Recipient of the test message proving LMTP delivery after the removal.",
)
@plan_key_option
@require_signature_option
@ssh_options
@list_hosts_option
@run_log_option("finalize")
@fleet_options("finalize")
def finalize(
    host: str,
    plan_file: Path | None,
    rollback_on_fail: bool,
    yes: bool,
    test_recipient: str | None,
    ssh_config: Path | None,
    accept_new_host_key: bool,
    plans_dir: Path,
    plan_key: Path | None,
    require_signature: bool,
    run_log: RunLog,
) -> None:
    """On a migrated HOST with nothing queued for the old LDA transport, remove its pipe
    service from master.cf (and its recipient limit), then prove delivery over LMTP."""
    console = Console(highlight=False, soft_wrap=True)
    trust = plan_trust(plan_key, require_signature)
    the_plan = None if plan_file is None else load_plan(plan_file, host=host, trust=trust)
    if the_plan is not None and the_plan.has_changes and not the_plan.finalizes:
        raise UsageError(f"{plan_file} is not a finalize plan (use `migrator apply`)", host=host)
    with reach(host, ssh_config, accept_new_host_key) as transport:
        if the_plan is None:
            require_migrated(transport)
            fresh = FreshPlan(plans_dir, trust, yes, finalize=True)
            the_plan = fresh.make(transport, Options(test_recipient=test_recipient), console)
        override = recipient_override(test_recipient)  # a fresh plan recorded the default
        options = ApplyOptions(rollback_on_fail=rollback_on_fail, test_recipient=override)
        report = apply_plan(transport, the_plan, options, run_log.notifying(step_printer(console)))
    show_apply(report, console, restored="the pipe service is back, LMTP delivers")
    sys.exit(log_outcome(report, run_log))
