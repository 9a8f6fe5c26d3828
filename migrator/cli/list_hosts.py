"""``--list-hosts`` for the fleet commands: print what ``-i`` and ``--limit`` select, exit 0.

As ``ansible-playbook --list-hosts``: the inventory is read (a bad one is the same one-line
error as a run's), no host is reached, nothing is logged or written.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from migrator.exit_status import ExitStatus
from migrator.inventory.limit import limit
from migrator.inventory.load import load_inventory

F = TypeVar("F", bound=Callable[..., Any])


def list_hosts_option(function: F) -> F:
    """Add --list-hosts to a command that has -i/--inventory and --limit.

    Put it above every decorator that wraps the body (``run_log_option``, ``fleet_options``):
    listing runs nothing else. Raises click.UsageError (exit 64) without -i.
    """

    @functools.wraps(function)
    def wrapper(**kwargs: Any) -> Any:
        if not kwargs.pop("list_hosts"):
            return function(**kwargs)
        if not kwargs.get("inventory"):
            raise click.UsageError("--list-hosts goes with -i INVENTORY")
        if kwargs.get("host"):
            raise click.UsageError("give a HOST or -i INVENTORY, not both (use --limit)")
        selected = limit(load_inventory(list(kwargs["inventory"])), kwargs.get("limit"))
        for host in selected.hosts:
            # A host the inventory already condemns is listed with why: it would fail.
            click.echo(host.name if host.problem is None else f"{host.name}\t{host.problem}")
        sys.exit(ExitStatus.SUCCESS)

    option = click.option(
        "--list-hosts",
        is_flag=True,
        help="Print the hosts -i and --limit select, one a line, and exit (no host reached).",
    )
    return option(wrapper)  # type: ignore[return-value]
