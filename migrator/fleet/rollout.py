"""Fleet runs: plan, apply or roll back many hosts in parallel, canary first, in waves.

Each host gets its own transport in a worker thread (``--forks`` of them). The schedule
(``fleet_schedule.py``) says which hosts start together; a wave starts only while failures
are within the budget; once over it, or after Ctrl-C, nothing new starts, hosts in flight
finish (or roll back), and the rest are reported "not started". One ``FleetReport`` tallies
the hosts and picks the exit code, as black's ``Report`` does. Never prints: progress goes
to a ``FleetObserver`` handed in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from migrator.executor.step_log import StepEvent, StepTiming
from migrator.exit_status import ExitStatus
from migrator.fleet.schedule import Batch, should_start_next
from migrator.inventory.model import InventoryHost
from migrator.transport.base import Transport

if TYPE_CHECKING:  # the delivery parsers cost `plan` ~40 ms of imports; apply fills it
    from migrator.delivery.outcome import KindProof
    from migrator.executor.status import NextRollback


class HostOutcome(StrEnum):
    """How one host ended in a fleet run."""

    CHANGES = "changes"
    NO_CHANGES = "no changes"
    REFUSED = "refused"
    ERROR = "error"
    APPLIED = "applied"
    ROLLED_BACK = "rolled back"
    NEEDS_ATTENTION = "needs attention"
    NOTHING_TO_DO = "nothing to do"
    NOT_STARTED = "not started"


# The fleet's exit code is the most serious of its hosts', in this order.
_SEVERITY = (
    ExitStatus.INTERRUPTED,
    ExitStatus.NEEDS_ATTENTION,
    ExitStatus.ROLLED_BACK,
    ExitStatus.ERROR,
    ExitStatus.CHANGES,
    ExitStatus.SUCCESS,
)


@dataclass(frozen=True, slots=True)
class HostResult:
    """One host's part in a fleet run: outcome, exit code, plan, steps, error, when."""

    host: str
    outcome: HostOutcome
    exit_code: ExitStatus
    plan_id: str = ""
    plan_path: str = ""
    error: str = ""
    failed_step: str = ""
    steps: tuple[StepTiming, ...] = ()
    batch: str = ""
    started: float | None = None
    finished: float | None = None
    proof: tuple[KindProof, ...] = ()  # apply's A/B proof, kind by kind
    # A rollback that worked: what it undid (the migration or a finalize), where it left it.
    undone: NextRollback | None = None

    @property
    def failed(self) -> bool:
        """Whether the host counts against the failure budget (a JUnit failure too)."""
        return self.outcome is not HostOutcome.NOT_STARTED and self.exit_code not in (
            ExitStatus.SUCCESS,
            ExitStatus.CHANGES,
        )

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass(frozen=True, slots=True)
class FleetReport:
    """Every host's result, in inventory order; tallies them and picks the exit code."""

    action: str
    results: tuple[HostResult, ...]
    interrupted: bool = False
    stopped_early: bool = False
    started: float = 0.0
    finished: float = 0.0

    def count(self, outcome: HostOutcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)

    @property
    def counts(self) -> dict[str, int]:
        """Hosts per outcome, for outcomes that occurred, in the enum's order."""
        return {o.value: self.count(o) for o in HostOutcome if self.count(o)}

    @property
    def failed(self) -> int:
        return sum(1 for result in self.results if result.failed)

    def exit_code(self, detailed: bool = False) -> ExitStatus:
        """130 if interrupted, else the most serious host exit code; 2 (changes) only
        when ``detailed`` (plan --detailed-exitcode), else changes count as success."""
        if self.interrupted:
            return ExitStatus.INTERRUPTED
        codes = {result.exit_code for result in self.results}
        if not detailed:
            codes.discard(ExitStatus.CHANGES)
        return next((code for code in _SEVERITY if code in codes), ExitStatus.SUCCESS)


class FleetObserver(Protocol):
    """Receives progress from worker threads (so it must be thread-safe)."""

    def started(self, host: str, batch: str) -> None: ...

    def step(self, event: StepEvent) -> None: ...

    def finished(self, result: HostResult) -> None: ...


class QuietObserver:
    """A FleetObserver that shows nothing."""

    def started(self, host: str, batch: str) -> None:
        """Nothing."""

    def step(self, event: StepEvent) -> None:
        """Nothing."""

    def finished(self, result: HostResult) -> None:
        """Nothing."""


Reach = Callable[[InventoryHost], Transport]
Work = Callable[[InventoryHost, str], HostResult]


@dataclass(frozen=True, slots=True)
class Rollout:
    """How a run proceeds: the batches, parallelism and the failure budget (hosts)."""

    batches: tuple[Batch, ...]
    forks: int = 10
    budget: int = 0


@dataclass(slots=True)
class _Progress:
    results: dict[str, HostResult] = field(default_factory=dict)
    failed: int = 0
    canary_failed: int = 0
    interrupted: bool = False
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def stopping(self) -> bool:
        self.interrupted = self.interrupted or self.stop.is_set()
        return self.interrupted


def run_rollout(
    action: str,
    hosts: Sequence[InventoryHost],
    rollout: Rollout,
    work: Work,
    observer: FleetObserver,
    prior: Sequence[HostResult] = (),
    stop: threading.Event | None = None,
) -> FleetReport:
    """Run work on every host batch by batch, within the budget; report every host.

    ``prior`` are hosts already decided (e.g. planning refused them): they count against the
    budget and are reported as they are. ``stop`` set (the CLI sets it on Ctrl-C), or a
    KeyboardInterrupt while waiting, stops new starts and waits for hosts in flight; the
    report is then marked interrupted. Never raises for a host. Work runs in threads: the
    hosts of a plan run share one parse cache, and Augeas runs outside the GIL.
    """
    begun = time.time()
    by_name = {host.name: host for host in hosts}
    state = _Progress(results={r.host: r for r in prior}, failed=sum(r.failed for r in prior))
    state.stop = stop or threading.Event()
    with ThreadPoolExecutor(max_workers=max(1, rollout.forks)) as pool:
        for batch in rollout.batches:
            todo = [by_name[name] for name in batch.hosts if name not in state.results]
            if not _run_batch(batch, todo, rollout, work, observer, pool, state):
                break
    results = tuple(
        state.results.get(host.name) or _not_started(host.name, _batch_of(host.name, rollout))
        for host in hosts
    )
    stopped = any(r.outcome is HostOutcome.NOT_STARTED for r in results)
    for result in results:
        if result.outcome is HostOutcome.NOT_STARTED:
            observer.finished(result)
    return FleetReport(action, results, state.interrupted, stopped, begun, time.time())


def _run_batch(
    batch: Batch,
    todo: list[InventoryHost],
    rollout: Rollout,
    work: Work,
    observer: FleetObserver,
    pool: Executor,
    state: _Progress,
) -> bool:
    """Run one batch to its end; False once nothing more may start (budget, canary, Ctrl-C)."""
    pending: set[Future[HostResult]] = set()
    queue = list(todo)
    while queue or pending:
        allowed = should_start_next(
            state.failed,
            rollout.budget,
            canary_failed=state.canary_failed,
            stopping=state.stopping,
        )
        while allowed and queue and len(pending) < rollout.forks:
            host = queue.pop(0)
            observer.started(host.name, batch.name)
            future = pool.submit(work, host, batch.name)
            pending.add(future)
        if not allowed:
            queue.clear()
        if not pending:
            break
        try:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        except KeyboardInterrupt:
            state.interrupted = True  # hosts in flight finish (or roll back); nothing new starts
            continue
        for finished in done:
            _record(state, batch, finished.result(), observer)
    return should_start_next(
        state.failed, rollout.budget, canary_failed=state.canary_failed, stopping=state.stopping
    )


def _record(state: _Progress, batch: Batch, result: HostResult, observer: FleetObserver) -> None:
    state.results[result.host] = result
    if result.failed:
        state.failed += 1
        state.canary_failed += batch.name == "canary"
    observer.finished(result)


def _batch_of(host: str, rollout: Rollout) -> str:
    return next((b.name for b in rollout.batches if host in b.hosts), "")


def _not_started(host: str, batch: str) -> HostResult:
    return HostResult(host, HostOutcome.NOT_STARTED, ExitStatus.ERROR, batch=batch)
