"""How apply and rollback show each step as it ends: one line, its timing, ok or FAILED."""

from __future__ import annotations

from rich.console import Console

from migrator.executor.step_log import Notify, StepEvent


def step_printer(console: Console) -> Notify:
    """A step listener that prints each finished step on console."""

    def show(event: StepEvent) -> None:
        if event.seconds is None:
            return
        if event.skipped:
            console.print(
                f"{event.host}: [yellow]skipped[/yellow] {event.description}: {event.skipped}"
            )
            return
        mark = "[green]ok[/green]" if event.ok else "[red]FAILED[/red]"
        detail = f": {event.detail}" if event.detail and not event.ok else ""
        console.print(f"{event.host}: {mark} {event.seconds:6.2f}s {event.description}{detail}")

    return show
