"""Showing a fleet run: live progress while it runs, a summary table when it ends.

On a terminal the progress is a rich Live table (per host: batch, current step, elapsed;
totals below); elsewhere it is one plain line per event, safe for CI logs. The console is
handed in; worker threads call the observer, so state changes are locked.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from migrator.cli.terminal_text import printable
from migrator.executor.status import NextRollback, Undoes
from migrator.executor.step_log import StepEvent
from migrator.fleet.rollout import FleetReport, HostOutcome, HostResult

_STYLE = {
    HostOutcome.CHANGES: "yellow",
    HostOutcome.NO_CHANGES: "green",
    HostOutcome.APPLIED: "bold green",
    HostOutcome.NOTHING_TO_DO: "green",
    HostOutcome.REFUSED: "red",
    HostOutcome.ERROR: "red",
    HostOutcome.ROLLED_BACK: "bold yellow",
    HostOutcome.NEEDS_ATTENTION: "bold red",
    HostOutcome.NOT_STARTED: "dim",
}


class FleetProgress:
    """A FleetObserver that shows progress on ``console``; use it as a context manager."""

    def __init__(self, console: Console, action: str, hosts: list[str]) -> None:
        self.console = console
        self.action = action
        self.hosts = hosts
        self._lock = threading.Lock()
        self._state: dict[str, tuple[str, str, float | None]] = {
            h: ("", "waiting", None) for h in hosts
        }
        self._done: dict[str, HostResult] = {}
        self._began = time.monotonic()
        self._live: Live | None = None

    def __enter__(self) -> FleetProgress:
        if self.console.is_terminal:
            self._live = Live(
                console=self.console, get_renderable=self._render, refresh_per_second=4
            )
            self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()

    def started(self, host: str, batch: str) -> None:
        with self._lock:
            self._state[host] = (batch, f"{self.action}ing", time.monotonic())
        self._line(f"{host}: started ({batch})")

    def step(self, event: StepEvent) -> None:
        with self._lock:
            batch, _, since = self._state.get(event.host, ("", "", time.monotonic()))
            self._state[event.host] = (batch, event.description, since)
        if event.skipped:
            self._line(f"{event.host}: skipped {event.description}: {event.skipped}")
        elif event.seconds is not None:
            mark = "ok" if event.ok else "FAILED"
            detail = f": {event.detail}" if event.detail and not event.ok else ""
            self._line(f"{event.host}: {mark} {event.seconds:6.2f}s {event.description}{detail}")

    def finished(self, result: HostResult) -> None:
        with self._lock:
            self._done[result.host] = result
        seconds = f" in {result.seconds:.1f}s" if result.seconds is not None else ""
        error = f": {result.error}" if result.error else ""
        undid = f": {undone_text(result.undone)}" if result.undone and not error else ""
        self._line(f"{result.host}: {result.outcome.value}{seconds}{error}{undid}")

    def _line(self, text: str) -> None:
        if self._live is None:
            with self._lock:
                shown = printable(text)
                self.console.print(shown, markup=False, highlight=False, soft_wrap=True)

    def _render(self) -> RenderableType:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for column in ("host", "batch", "step / outcome", "elapsed"):
            table.add_column(column)
        now = time.monotonic()
        with self._lock:
            for host in self.hosts:
                batch, step, since = self._state[host]
                done = self._done.get(host)
                if done is not None:
                    seconds = f"{done.seconds:.1f}s" if done.seconds is not None else ""
                    status = Text(done.outcome.value, style=_STYLE[done.outcome])
                    table.add_row(host, batch or done.batch, status, seconds)
                elif since is not None:
                    table.add_row(host, batch, step, f"{now - since:.1f}s")
            totals = _totals(len(self.hosts), list(self._done.values()))
        elapsed = f"{now - self._began:.1f}s"
        return Group(table, Text(f"{self.action}: {totals}  ({elapsed})", style="bold"))


def undone_text(undone: NextRollback) -> str:
    """What a rollback undid and where it left the host, in a few words."""
    if undone.undoes is Undoes.FINALIZE:
        return (
            f"undid the finalize {undone.plan_id}: pipe service back, left migrated on LMTP "
            f"({undone.leaves_plan_id})"
        )
    return f"undid the migration {undone.plan_id}: back to the LDA"


def _totals(total: int, done: list[HostResult]) -> str:
    counts: dict[str, int] = {}
    for result in done:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    parts = [f"{len(done)}/{total} done"] + [f"{n} {name}" for name, n in counts.items()]
    return ", ".join(parts)


def render_summary(report: FleetReport, console: Console, *, detailed: bool = False) -> None:
    """The summary table: host, batch, outcome, seconds, and the reason or plan."""
    table = Table(title=f"migrator {report.action}: {len(report.results)} hosts")
    # One batch (plan, rollback, apply without waves) says nothing worth a column.
    batches = len({r.batch for r in report.results if r.batch}) > 1
    for column in ("host", *(("batch",) if batches else ()), "outcome", "exit", "seconds"):
        table.add_column(column, overflow="fold")
    table.add_column("detail", overflow="fold")
    for result in report.results:
        undid = undone_text(result.undone) if result.undone else ""
        detail = result.error or undid or result.plan_path or result.plan_id
        seconds = f"{result.seconds:.1f}" if result.seconds is not None else ""
        table.add_row(
            result.host,
            *((result.batch,) if batches else ()),
            Text(result.outcome.value, style=_STYLE[result.outcome]),
            str(int(result.exit_code)),
            seconds,
            Text(printable(detail)),
        )
    console.print(table)
    counts = ", ".join(f"{n} {name}" for name, n in report.counts.items())
    notes = []
    if report.interrupted:
        notes.append("interrupted: hosts in flight finished, nothing new started")
    elif report.stopped_early and report.count(HostOutcome.NOT_STARTED):
        notes.append("stopped: the failure budget was spent, nothing new started")
    took = report.finished - report.started
    code = int(report.exit_code(detailed))
    console.print(f"{counts} in {took:.1f}s; exit code {code}", highlight=False)
    for note in notes:
        console.print(f"[bold yellow]{note}[/]")
