"""`migrator config`: the defaults in effect, each with where it came from; change nothing."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from migrator.cli.defaults import BUILT_IN, ENV_PREFIX, SETTINGS, current_defaults
from migrator.cli.run_log import runs_directory


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the settings as a JSON object.")
def config(as_json: bool) -> None:
    """Show each default (plans_dir, forks, ssh_config, test_recipient, proof), its value and
    where it came from, the config files looked at, and where run logs go.

    Bad config files or MIGRATOR_* values are refused (exit 64), naming the file and line.
    """
    defaults = current_defaults()
    rows: list[tuple[str, str | int | None, str]] = []
    for name in SETTINGS:
        setting = defaults.get(name)
        value = BUILT_IN.get(name) if setting is None else setting.value
        shown = value if value is None or isinstance(value, int) else str(value)
        rows.append((name, shown, "built-in" if setting is None else setting.source))
    if as_json:
        data = {
            "settings": {name: {"value": value, "source": source} for name, value, source in rows},
            "files": [{"path": str(path), "exists": exists} for path, exists in defaults.files],
            "run_logs": str(runs_directory()),
        }
        click.echo(json.dumps(data, indent=2))
        return
    console = Console(highlight=False, soft_wrap=True)
    table = Table(title="migrator defaults (the command line beats each)", title_justify="left")
    for column in ("setting", "value", "from"):
        table.add_column(column, overflow="fold")
    for name, value, source in rows:
        shown = "[dim](the command's own)[/dim]" if value is None else str(value)
        table.add_row(name, shown, f"[cyan]{source}[/cyan]")
    console.print(table)
    for path, exists in defaults.files:
        console.print(f"config file {path}: {'read' if exists else 'absent'}", markup=False)
    console.print(f"variables: {ENV_PREFIX}<SETTING> (e.g. {ENV_PREFIX}FORKS)", markup=False)
    console.print(f"run logs: {runs_directory()}", markup=False)
