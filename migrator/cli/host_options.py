"""Options shared by the commands that reach a host, and the one place that connects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from migrator.address import check_recipient
from migrator.errors import UsageError
from migrator.transport import connect
from migrator.transport.base import Transport

F = TypeVar("F", bound=Callable[..., Any])

_SSH_OPTIONS = (
    click.option(
        "-F",
        "--ssh-config",
        type=click.Path(dir_okay=False, path_type=Path),
        help="OpenSSH client config to read (like ssh -F).",
    ),
    click.option(
        "--accept-new-host-key",
        is_flag=True,
        help="Trust and record an unknown host key (a changed key is always refused).",
    ),
    click.option(
        "--plans-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("plans"),
        show_default=True,
        help="Where plans are saved.",
    ),
)


def ssh_options(function: F) -> F:
    """Add --ssh-config, --accept-new-host-key and --plans-dir to a command."""
    for option in reversed(_SSH_OPTIONS):
        function = option(function)
    return function


def reach(host: str, ssh_config: Path | None, accept_new_host_key: bool) -> Transport:
    """The SSH transport to host (no network I/O until first use)."""
    return connect(host, ssh_config=ssh_config, accept_new_host_key=accept_new_host_key)


def recipient_override(value: str | None) -> str | None:
    """--test-recipient as apply's override of the recipient a saved plan recorded: only when
    given on the command line. A config default fills the plans being made, and never
    replaces what a reviewed plan says."""
    source = click.get_current_context().get_parameter_source("test_recipient")
    defaulted = source in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)
    return None if defaulted else value


def recipient_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: --test-recipient checked where it enters.

    Raises click.BadParameter (a usage error: exit 64) for an address ``check_recipient``
    refuses, with its reason.
    """
    if value is None:
        return None
    try:
        return check_recipient(value)
    except UsageError as exc:
        raise click.BadParameter(exc.message, ctx, param) from exc
