"""The migrator command line: click commands only. Each command parses its options, calls one
core function, renders the result and maps errors to exit codes (see ``run_command``)."""

from __future__ import annotations

import click

from migrator import __version__
from migrator.cli.lab import lab


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migrator")
def main() -> None:
    """Move Postfix + Dovecot hosts from Dovecot LDA to LMTP delivery, safely."""


main.add_command(lab)
