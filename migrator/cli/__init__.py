"""The migrator command line: click commands only.

Each command parses its options, calls one core function and renders the result. Errors
become exit codes in exactly one place, ``MigratorGroup``: a ``MigratorError`` is shown as
one line (its host, file and line first) and exits 1 (``check``: 3, the Nagios UNKNOWN;
``exit_status.error_status``); a click usage error (unknown option, bad value) exits 64,
never 2, which means "the plan has changes"; Ctrl-C exits 130.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from migrator import __version__
from migrator.errors import MigratorError
from migrator.exit_status import ExitStatus, error_status

# paramiko imports invoke, and with it unittest.mock and asyncio (~80 ms of CPU at every
# start of every command), only to run the "Match exec" of its own SSHConfig, which
# migrator never uses (transport/ssh_config.py reads OpenSSH configs). None in sys.modules
# makes that one import fail as if invoke were not installed, which paramiko supports. Only
# in migrator's own process (this command line), never in a process that imports migrator
# as a library (the Ansible collection), and not if invoke is imported already.
if "invoke" not in sys.modules:
    sys.modules["invoke"] = None  # type: ignore[assignment]

# Each command's module is imported only when that command runs: importing them all
# (paramiko, Augeas, rich, ...) made even `migrator --version` take 0.6 s.
COMMANDS = {
    "lab": "migrator.cli.lab:lab",
    "plan": "migrator.cli.plan:plan",
    "apply": "migrator.cli.apply:apply",
    "rollback": "migrator.cli.rollback:rollback",
    "status": "migrator.cli.status:status",
    "check": "migrator.cli.check:check",
    "show": "migrator.cli.show:show",
    "finalize": "migrator.cli.finalize:finalize",
    "config": "migrator.cli.config_command:config",
}


class MigratorGroup(click.Group):
    """A click group that loads its commands lazily and turns migrator's errors into
    one-line messages and exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            exc.show()
            sys.exit(ExitStatus.USAGE)

    def invoke(self, ctx: click.Context) -> Any:
        from migrator.cli.defaults import DefaultsError  # not for --version and --help
        from migrator.cli.terminal_text import printable

        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # BadParameter too: a subcommand's options
            exc.show()
            sys.exit(ExitStatus.USAGE)
        except DefaultsError as exc:  # a config file or MIGRATOR_* variable: usage, too
            click.echo(f"migrator: error: {printable(str(exc))}", err=True)
            sys.exit(ExitStatus.USAGE)
        except MigratorError as exc:
            if ctx.params.get("debug"):
                raise
            click.echo(f"migrator: error: {printable(str(exc))}", err=True)
            sys.exit(error_status(ctx.invoked_subcommand))
        except KeyboardInterrupt:
            click.echo("migrator: interrupted", err=True)
            sys.exit(ExitStatus.INTERRUPTED)


@click.group(cls=MigratorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migrator")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option("--no-color", is_flag=True, help="No colors in the output (as NO_COLOR=1 does).")
@click.pass_context
def main(ctx: click.Context, debug: bool, no_color: bool) -> None:
    """Move Postfix + Dovecot hosts from Dovecot LDA to LMTP delivery, safely.

    Defaults for --plans-dir, --forks, --ssh-config, --test-recipient and --proof come from
    MIGRATOR_* variables, ./migrator.toml and the user's config.toml: see `migrator config`.
    """
    from migrator.cli.defaults import current_defaults

    if no_color:
        # rich reads NO_COLOR when each Console is made: every view, and our children, agree.
        os.environ["NO_COLOR"] = "1"
    # Raises DefaultsError (exit 64) before any command runs, --help included.
    ctx.default_map = current_defaults().default_map(c for c in COMMANDS if c != "lab")
