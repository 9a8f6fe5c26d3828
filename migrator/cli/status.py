"""`migrator status`: where a host stands (clean, planned, migrated, interrupted, drifted)."""

from __future__ import annotations

from pathlib import Path

import click

from migrator.cli.host_options import reach, ssh_options
from migrator.executor.status import host_status
from migrator.plan.store import saved_plan_ids


@click.command()
@click.argument("host")
@ssh_options
def status(host: str, ssh_config: Path | None, accept_new_host_key: bool, plans_dir: Path) -> None:
    """Show whether HOST is clean, planned, migrated, interrupted or drifted."""
    with reach(host, ssh_config, accept_new_host_key) as transport:
        report = host_status(transport, saved_plan_ids(plans_dir, host))
    click.echo(report.line())
