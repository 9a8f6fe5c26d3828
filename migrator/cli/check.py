"""`migrator check HOST` / `-i INVENTORY`: the seed's checklists as a read-only health check.

Exit codes are the Nagios plugin's in every format: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
(a host could not be reached, or bad input meant nothing was checked).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from migrator.check.findings import HostCheck, Status, unreachable, worst
from migrator.check.output import to_json, to_nagios, to_prometheus
from migrator.check.run import CheckOptions, check_host
from migrator.cli.fleet_options import host_selection
from migrator.cli.host_options import recipient_option, ssh_options
from migrator.cli.list_hosts import list_hosts_option
from migrator.config.reader import ParseCache
from migrator.errors import MigratorError, UsageError
from migrator.fleet.parallel import each_host
from migrator.fleet.work import Reacher
from migrator.inventory.limit import limit
from migrator.inventory.load import load_inventory
from migrator.inventory.model import InventoryHost

_STYLE = {Status.OK: "green", Status.WARNING: "yellow", Status.CRITICAL: "bold red"}
_FORMATS = ("table", "json", "nagios", "prometheus")


@click.command()
@click.argument("host", required=False)
@host_selection("Check a fleet", "Hosts checked at once.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(_FORMATS),
    default="table",
    show_default=True,
    help="table, json, nagios (status line + exit code) or "
    "prometheus (a textfile for node_exporter).",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write there (atomically: for node_exporter's textfile directory).",
)
@click.option(
    "--test-recipient",
    metavar="ADDR",
    callback=recipient_option,
    help="Recipient the LMTP probe asks about (RCPT TO; nothing is delivered).",
)
@ssh_options
@list_hosts_option
def check(
    host: str | None,
    inventory: tuple[str, ...],
    limit: str | None,
    forks: int,
    output_format: str,
    as_json: bool,
    output: Path | None,
    test_recipient: str | None,
    ssh_config: Path | None,
    accept_new_host_key: bool,
    plans_dir: Path,
) -> None:
    """Check HOST (or every host of -i INVENTORY) after the switch, or before it; change nothing.

    Postfix hooks, virtual domains, Dovecot's LMTP side, the socket or listener, an LMTP
    probe, delivery errors in the log, mail deferred for LMTP, the mail root, and what the
    planner says. Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    """
    fmt = "json" if as_json else output_format
    try:
        hosts = _hosts(host, inventory, limit)
    except MigratorError as exc:
        # Nothing was checked: the plugin's status line, then the command's one-line error
        # and exit code (UNKNOWN, not WARNING: exit_status.error_status).
        if fmt == "nagios":
            click.echo(f"MIGRATOR UNKNOWN - {exc}")
        raise
    options = CheckOptions(test_recipient=test_recipient)
    checks = _run(hosts, options, Reacher(ssh_config, accept_new_host_key), forks)
    _emit(checks, fmt, output)
    sys.exit(worst(c.status for c in checks))


def _hosts(host: str | None, sources: tuple[str, ...], pattern: str | None) -> list[InventoryHost]:
    if host and sources:
        raise UsageError("give a HOST or -i INVENTORY, not both (use --limit to pick hosts)")
    if sources:
        return list(limit(load_inventory(list(sources)), pattern).hosts)
    if not host:
        raise UsageError("give a HOST, or -i INVENTORY for a fleet")
    if pattern:
        raise UsageError("--limit goes with -i INVENTORY")
    return [InventoryHost(host)]


def _run(
    hosts: Sequence[InventoryHost], options: CheckOptions, reach: Reacher, forks: int
) -> list[HostCheck]:
    cache = ParseCache()  # the fleet's common files parse once

    def work(host: InventoryHost) -> HostCheck:
        wanted = CheckOptions(host.test_recipient or options.test_recipient, options.probe_timeout)
        with reach(host) as transport:
            return check_host(transport, wanted, cache=cache)

    return each_host(hosts, work, lambda host, error: unreachable(host.name, error), forks)


def _emit(checks: list[HostCheck], fmt: str, output: Path | None) -> None:
    if fmt == "table":
        buffer = io.StringIO() if output else None
        _render(checks, Console(highlight=False, file=buffer))
        if buffer is None:
            return
        text = buffer.getvalue()
    elif fmt == "nagios":
        text = to_nagios(checks)[0]
    else:
        text = to_json(checks) if fmt == "json" else to_prometheus(checks)
    if output is None:
        click.echo(text, nl=False)
        return
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, output)  # the collector never reads half a file
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write {output}: {exc.strerror}") from exc


def _render(checks: list[HostCheck], console: Console) -> None:
    for result in checks:
        table = Table(title=f"{result.host} ({result.delivery.value})", title_justify="left")
        for column in ("check", "status", "finding"):
            table.add_column(column, overflow="fold")
        for finding in result.findings:
            text = Text(finding.summary)
            for detail in finding.details:
                text.append(f"\n{detail}", style="dim")
            shown = Text(finding.status.name, style=_STYLE.get(finding.status, "magenta"))
            table.add_row(finding.check, shown, text)
        console.print(table)
    counts = ", ".join(
        f"{sum(1 for c in checks if c.status is s)} {s.name}"
        for s in Status
        if any(c.status is s for c in checks)
    )
    status = worst(c.status for c in checks)
    console.print(f"{len(checks)} hosts: {counts}; exit code {int(status)}", highlight=False)
