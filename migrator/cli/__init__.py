"""The migrator command line: click commands only.

Each command parses its options, calls one core function and renders the result. Errors
become exit codes in exactly one place, ``MigratorGroup.invoke``: a ``MigratorError`` is
shown as one line (its host, file and line first) and exits 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from migrator import __version__
from migrator.cli.apply import apply, rollback, status
from migrator.cli.lab import lab
from migrator.cli.plan import plan
from migrator.errors import MigratorError
from migrator.exit_status import ExitStatus


class MigratorGroup(click.Group):
    """A click group that turns migrator's errors into one-line messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MigratorError as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"migrator: error: {exc}", err=True)
            sys.exit(getattr(exc, "exit_status", ExitStatus.ERROR))
        except KeyboardInterrupt:
            click.echo("migrator: interrupted", err=True)
            sys.exit(ExitStatus.INTERRUPTED)


@click.group(cls=MigratorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migrator")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def main(debug: bool) -> None:
    """Move Postfix + Dovecot hosts from Dovecot LDA to LMTP delivery, safely."""


main.add_command(lab)
main.add_command(plan)
main.add_command(apply)
main.add_command(rollback)
main.add_command(status)
