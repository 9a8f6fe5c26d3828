"""The options apply and finalize share: ``--plan FILE``, ``--rollback-on-fail``, ``--yes``
and ``--test-recipient``; each command words its own help for the plan and the recipient."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from migrator.cli.host_options import recipient_option

F = TypeVar("F", bound=Callable[..., Any])


def apply_options(plan_help: str, recipient_help: str) -> Callable[[F], F]:
    """Add --plan, --rollback-on-fail, --yes and --test-recipient (in that order) to a command.

    A bad --test-recipient is click.BadParameter (exit 64) when the command line is read.
    """
    options = (
        click.option(
            "--plan",
            "plan_file",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            metavar="FILE",
            help=plan_help,
        ),
        click.option(
            "--rollback-on-fail", is_flag=True, help="Put every byte back if anything fails."
        ),
        click.option("--yes", is_flag=True, help="Apply a fresh plan without asking."),
        click.option(
            "--test-recipient", metavar="ADDR", callback=recipient_option, help=recipient_help
        ),
    )

    def decorate(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate
