"""Every option of every command says what it does: the command tree is walked, lazily
loaded commands and groups (lab) included."""

from __future__ import annotations

from collections.abc import Iterator

import click

from migrator.cli import main


def _commands(command: click.Command, ctx: click.Context) -> Iterator[tuple[str, click.Command]]:
    yield ctx.command_path, command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{ctx.command_path} {name} does not load"
            yield from _commands(sub, click.Context(sub, info_name=name, parent=ctx))


def test_every_option_of_every_command_has_help() -> None:
    walked = list(_commands(main, click.Context(main, info_name="migrator")))
    missing = [
        f"{path} {'/'.join(param.opts)}"
        for path, command in walked
        for param in command.get_params(click.Context(command))
        if isinstance(param, click.Option) and not (param.help or "").strip()
    ]
    assert missing == []
    # The walk reached the lazily loaded commands and the lab's subcommands.
    paths = {path for path, _ in walked}
    assert {"migrator apply", "migrator config", "migrator lab up"} <= paths


def test_every_command_has_a_summary() -> None:
    walked = _commands(main, click.Context(main, info_name="migrator"))
    assert [path for path, command in walked if not (command.help or "").strip()] == []
