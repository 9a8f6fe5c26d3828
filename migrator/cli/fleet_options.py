"""The options of the fleet form (``-i INVENTORY`` and what goes with it) of plan, apply,
finalize, rollback, status and check; N|P% amounts are checked when the command line is
read, before any host is reached."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from migrator.errors import UsageError
from migrator.fleet.schedule import Amount

_FILE = click.Path(dir_okay=False, path_type=Path)
F = TypeVar("F", bound=Callable[..., Any])


def _host_selection(reads: str, forks_help: str) -> tuple[Any, ...]:
    """-i/--inventory (its help starting with ``reads``), --limit and -f/--forks."""
    return (
        click.option(
            "-i",
            "--inventory",
            "inventory",
            multiple=True,
            metavar="INVENTORY",
            help=f"{reads}: an Ansible INI/YAML inventory, an OpenSSH config, a hosts "
            "file, or a comma list 'a,b,' (repeatable).",
        ),
        click.option(
            "--limit", metavar="PATTERN", help="Only these hosts: names, globs, groups, a:b, !x."
        ),
        click.option(
            "-f",
            "--forks",
            type=click.IntRange(1, 500),
            default=10,
            show_default=True,
            help=forks_help,
        ),
    )


def host_selection(reads: str, forks_help: str = "Hosts at once.") -> Callable[[F], F]:
    """Add -i/--inventory, --limit and -f/--forks to a read-only command (status, check)
    that runs its own fleet form; ``reads`` starts the inventory's help ("Check a fleet")."""

    def decorate(function: F) -> F:
        for option in reversed(_host_selection(reads, forks_help)):
            function = option(function)
        return function

    return decorate


COMMON = (
    *_host_selection("Run over a fleet", "Hosts at once."),
    click.option(
        "--report-json", type=_FILE, help="Write per host: outcome, exit code, steps, error (JSON)."
    ),
    click.option("--report-junit", type=_FILE, help="Write a JUnit XML report: a case per host."),
)


def _amount(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check an N|P% option when the command line is read, before any host is reached
    (click's BadParameter: exit 64); the text itself goes on to the rollout."""
    if value is not None:
        try:
            Amount.parse(value, f"--{(param.name or '').replace('_', '-')}")
        except UsageError as exc:
            raise click.BadParameter(exc.message, ctx=ctx, param=param) from exc
    return value


def _wave_options(verb: str, max_fail: Any) -> tuple[Any, ...]:
    """--canary and --wave for a rollout that does ``verb`` to each host, then ``max_fail``."""
    return (
        click.option(
            "--canary",
            type=click.IntRange(0),
            default=0,
            show_default=True,
            help=f"Hosts to {verb} first, alone; any canary failure stops the run.",
        ),
        click.option(
            "--wave",
            metavar="N|P%",
            callback=_amount,
            help="Hosts a wave (default: all after the canary).",
        ),
        max_fail,
    )


_ROLLOUT = (
    *_wave_options(
        "apply",
        click.option(
            "--max-fail",
            metavar="N|P%",
            callback=_amount,
            default="0",
            show_default=True,
            help="Failures allowed (of the whole fleet; hosts that could not be planned "
            "count) before no new wave or host starts.",
        ),
    ),
    click.option(
        "--saved-plans",
        is_flag=True,
        help="Apply each host's latest plan saved by 'plan -i' instead of planning.",
    ),
)
_ROLLBACK_WAVES = _wave_options(
    "roll back",
    click.option(
        "--max-fail",
        metavar="N|P%",
        callback=_amount,
        help="Failures allowed before no new wave or host starts (default: every host is tried).",
    ),
)
EXTRA_OPTIONS = {"apply": _ROLLOUT, "finalize": _ROLLOUT, "rollback": _ROLLBACK_WAVES}
