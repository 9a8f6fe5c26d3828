"""The A/B proof as a small table: each kind, its outcome before (LDA) and after (LMTP)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from migrator.executor.apply import ApplyReport

_MARK = {
    "same": "[green]yes[/]",
    "improved": "[yellow]improved[/]",
    "announced": "[yellow]as the plan warned[/]",
    "differs": "[red]NO[/]",
}


def show_proof(report: ApplyReport, console: Console) -> None:
    """Print the proof's table (nothing when apply ran no A/B proof), then each kind that
    differs with its differing fields, and the kinds the host's settings ruled out."""
    if not report.proof:
        return
    table = Table(title=f"{report.host}: A/B proof", title_justify="left")
    for column in ("kind", "before (LDA)", "after (LMTP)", "same?"):
        table.add_column(column)
    for proof in report.proof:
        after = proof.after.summary if proof.after else "-"
        table.add_row(proof.kind, proof.before.summary, after, _MARK[proof.verdict])
    console.print(table)
    for proof in report.proof:
        if not proof.same:
            console.print(f"  {proof.kind}: " + "; ".join(proof.differences), markup=False)
    for skipped in report.proof_skipped:
        console.print(f"  not sent: {skipped}", markup=False)
