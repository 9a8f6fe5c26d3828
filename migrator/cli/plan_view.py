"""Showing a Plan to a person: a short summary of what changes and why, then the diffs.

The console is handed in (a terminal gets colour, a pipe or a test gets plain text).
"""

from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.text import Text

from migrator.cli.terminal_text import printable
from migrator.plan.document import Plan

_DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def render_plan(plan: Plan, console: Console, *, saved_to: str | None = None) -> None:
    """Print the plan's summary, warnings and unified diffs."""
    if not plan.has_changes:
        console.print(f"[bold]{plan.host}[/bold]: no changes (nothing hands mail to Dovecot's LDA)")
        _warnings(plan, console)
        return
    services = ", ".join(plan.lda_services) or "mailbox_command"
    if plan.finalizes:
        console.print(
            f"[bold]{plan.host}[/bold]: finalize: remove the LDA pipe service ({services}); "
            f"delivery stays on LMTP ({plan.endpoint})"
        )
    else:
        console.print(
            f"[bold]{plan.host}[/bold]: switch delivery from Dovecot LDA ({services}) "
            f"to LMTP ({plan.endpoint})"
        )
    for file, changes in groupby(plan.changes, key=lambda c: c.file):
        console.print(Text(f"  {file}", style="bold"))
        for change in changes:
            what = change.summary.removeprefix(f"{file}: ")
            console.print(Text(printable(f"    {what}")))
            console.print(Text(printable(f"      why: {change.reason}"), style="dim"))
    _warnings(plan, console)
    _steps(plan, console)
    console.print()
    for file in plan.files:
        # Lines end at \n only: a \r or \f inside one is shown as such, never a line break.
        for line in file.diff.removesuffix("\n").split("\n"):
            console.print(Text(printable(line), style=_style(line)), soft_wrap=True)
        console.print()
    if saved_to:
        console.print(f"plan {plan.plan_id} saved to {saved_to}")


def _warnings(plan: Plan, console: Console) -> None:
    for warning in plan.warnings:
        console.print(Text(printable(f"  note: {warning}"), style="yellow"))


def _steps(plan: Plan, console: Console) -> None:
    """The steps apply takes, in order, each as the plan describes it."""
    console.print(Text("  steps apply takes:", style="bold"))
    for number, step in enumerate(plan.steps, 1):
        console.print(Text(f"    {number}. {step.action}: {plan.describe(step)}"))


def _style(line: str) -> str:
    for prefix, style in _DIFF_STYLES:
        if line.startswith(prefix):
            return style
    return ""
