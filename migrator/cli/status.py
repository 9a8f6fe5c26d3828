"""`migrator status HOST` / `-i INVENTORY`: where hosts stand (clean, planned, migrated,
finalized, interrupted, drifted) and what the next rollback would undo, read in parallel for
a fleet; `--json` for scripts."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from migrator.cli.fleet_options import host_selection
from migrator.cli.host_options import reach, ssh_options
from migrator.cli.list_hosts import list_hosts_option
from migrator.cli.terminal_text import printable
from migrator.errors import UsageError
from migrator.executor.status import HostState, StatusReport, host_status
from migrator.exit_status import ExitStatus
from migrator.fleet.parallel import each_host
from migrator.fleet.work import Reacher
from migrator.inventory.limit import limit
from migrator.inventory.load import load_inventory
from migrator.inventory.model import InventoryHost
from migrator.plan.store import saved_plan_ids

Row = tuple[str, StatusReport | None, str]  # host, its report, or why there is none
_ATTENTION = (HostState.INTERRUPTED, HostState.FAILED, HostState.DRIFTED)


@click.command()
@click.argument("host", required=False)
@host_selection("Read a fleet")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of hosts with -i).")
@ssh_options
@list_hosts_option
def status(
    host: str | None,
    inventory: tuple[str, ...],
    limit: str | None,
    forks: int,
    as_json: bool,
    ssh_config: Path | None,
    accept_new_host_key: bool,
    plans_dir: Path,
) -> None:
    """Show whether HOST (or each host of -i INVENTORY) is clean, planned, migrated,
    finalized, interrupted or drifted, and what the next rollback would undo. With -i,
    exits 1 when a host could not be read."""
    if inventory:
        _fleet(
            host,
            inventory,
            limit,
            forks,
            as_json,
            Reacher(ssh_config, accept_new_host_key),
            plans_dir,
        )
        return
    if not host:
        raise click.UsageError("give a HOST, or -i INVENTORY for a fleet")  # exit 64
    with reach(host, ssh_config, accept_new_host_key) as transport:
        report = host_status(transport, saved_plan_ids(plans_dir, host))
    click.echo(json.dumps(report.data(), indent=2) if as_json else report.line())


def _fleet(
    host: str | None,
    sources: tuple[str, ...],
    pattern: str | None,
    forks: int,
    as_json: bool,
    reacher: Reacher,
    plans_dir: Path,
) -> None:
    if host:
        raise UsageError("give a HOST or -i INVENTORY, not both (use --limit to pick hosts)")
    hosts = limit(load_inventory(list(sources)), pattern).hosts

    def work(target: InventoryHost) -> Row:
        with reacher(target) as transport:
            return target.name, host_status(transport, saved_plan_ids(plans_dir, target.name)), ""

    rows = each_host(hosts, work, lambda target, error: (target.name, None, error), forks)
    if as_json:
        data = [r.data() if r else {"host": h, "error": e} for h, r, e in rows]
        click.echo(json.dumps(data, indent=2))
    else:
        render(rows, Console(highlight=False))
    sys.exit(ExitStatus.ERROR if any(r is None for _, r, _ in rows) else ExitStatus.SUCCESS)


def render(rows: Sequence[Row], console: Console) -> None:
    """A table on a terminal; elsewhere one plain line per host (for scripts and CI logs)."""
    if not console.is_terminal:
        for host, report, error in rows:
            line = report.line() if report else f"{host}: error: {error}"
            # one line, however long
            console.print(printable(line), markup=False, highlight=False, soft_wrap=True)
        return
    table = Table(title=f"migrator status: {len(rows)} hosts", caption=tally(rows))
    for column in ("host", "state", "plan", "next rollback undoes", "detail"):
        table.add_column(column, overflow="fold")
    for host, report, error in rows:
        if report is None:
            table.add_row(host, Text("error", style="red"), "", "", Text(printable(error)))
            continue
        # The step, plan id and detail come from the host's journal and lock: plain text,
        # never rich markup (a "[/]" there was a MarkupError), controls shown as escapes.
        style = "bold red" if report.state in _ATTENTION else ""
        state = f"{report.state.value} at {report.step}" if report.step else report.state.value
        undo = report.rollback.text() if report.rollback else ""
        cells = (Text(printable(text)) for text in (report.plan_id, undo, report.detail))
        table.add_row(host, Text(printable(state), style=style), *cells)
    console.print(table)


def tally(rows: Sequence[Row]) -> str:
    """How many hosts are in each state, most first ("2 migrated, 1 finalized, 1 error")."""
    counts = Counter(report.state.value if report else "error" for _, report, _ in rows)
    return ", ".join(f"{count} {state}" for state, count in counts.most_common())
