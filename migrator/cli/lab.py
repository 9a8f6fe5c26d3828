"""`migrator lab ...`: sandbox mail hosts on this machine."""

from __future__ import annotations

import click


@click.group()
def lab() -> None:
    """Sandbox mail hosts on this machine, to rehearse a migration."""
