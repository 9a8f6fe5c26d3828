"""`migrator show PLAN_FILE`: render a saved plan (as `terraform show`); change nothing."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from migrator.cli.plan_view import render_plan
from migrator.plan.store import load_plan


@click.command()
@click.argument("plan_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the plan document as JSON.")
def show(plan_file: Path, as_json: bool) -> None:
    """Show the saved plan PLAN_FILE: what changes and why, then the diffs.

    A plan edited by hand (its checksum or hashes no longer match) is refused.
    """
    # PlanError propagates to the group (cli/__init__.py): one line, exit 1.
    plan = load_plan(plan_file, private=False)  # shown, not applied: a colleague's too
    if as_json:
        click.echo(plan.to_json(), nl=False)
        return
    console = Console(highlight=False)
    console.print(
        f"plan {plan.plan_id} for {plan.host}, made {plan.created} "
        f"by migrator {plan.migrator_version}",
        markup=False,
    )
    render_plan(plan, console)
