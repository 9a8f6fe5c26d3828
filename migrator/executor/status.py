"""status: where a host stands, read from its remote journal and its files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from migrator.errors import RefusedError
from migrator.executor.journal import (
    SETTLED,
    Journal,
    JournalState,
    JournalStatus,
    LockInfo,
    peek,
)
from migrator.transport.base import Transport


class HostState(StrEnum):
    """A host's migration state, as `migrator status` reports it."""

    CLEAN = "clean"
    PLANNED = "planned"
    IN_PROGRESS = "apply in progress"
    INTERRUPTED = "interrupted"
    FAILED = "failed, needs attention"
    MIGRATED = "migrated"
    DRIFTED = "drifted since apply"
    ROLLED_BACK = "rolled back"


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One host's state, the plan it concerns, and the detail a person needs."""

    host: str
    state: HostState
    plan_id: str = ""
    step: str = ""
    detail: str = ""

    def line(self) -> str:
        parts = [f"{self.host}: {self.state}"]
        if self.step and self.state in (HostState.INTERRUPTED, HostState.IN_PROGRESS):
            parts.append(f"at step {self.step}")
        if self.plan_id:
            parts.append(f"(plan {self.plan_id})")
        text = " ".join(parts)
        return f"{text}: {self.detail}" if self.detail else text


def host_status(transport: Transport, saved_plans: Sequence[str] = ()) -> StatusReport:
    """Read the host's lock, journal and files (four round trips at most); change nothing.

    Every state but clean, planned, migrated and rolled back names the command that gets
    out of it. Raises JournalError when the journal is unsafe, TransportError.
    """
    lock, current = peek(transport)
    host = transport.host
    if lock.held:
        return _locked(transport, lock)
    if not current:
        if saved_plans:
            return StatusReport(host, HostState.PLANNED, saved_plans[-1], detail="not applied")
        return StatusReport(host, HostState.CLEAN)
    state = Journal(transport, current).read_state()
    if state is None:
        return StatusReport(host, HostState.CLEAN, current, detail="journal has no state")
    return _journaled(transport, state)


def _locked(transport: Transport, lock: LockInfo) -> StatusReport:
    """A host whose lock is taken: by a live apply, or left behind by a dead session."""
    host = transport.host
    state = Journal(transport, lock.plan_id).read_state() if lock.plan_id else None
    if lock.alive:
        step = state.step if state else "lock"
        return StatusReport(host, HostState.IN_PROGRESS, lock.plan_id, step, lock.node)
    if state is None:
        detail = (
            f"control node {lock.node or '(unknown)'} went away before changing anything; "
            f"run `migrator rollback {host}` to release its lock"
        )
        return StatusReport(host, HostState.INTERRUPTED, lock.plan_id, "lock", detail)
    report = _journaled(transport, state)
    if state.status in SETTLED:
        left = (
            "a lock from a dead session is left; the next `migrator apply` or "
            f"`migrator rollback {host}` releases it"
        )
        detail = f"{report.detail}; {left}" if report.detail else left
        return replace(report, detail=detail)
    return report


def _journaled(transport: Transport, state: JournalState) -> StatusReport:
    """A host as its journal's state for one plan says, the lock being free or stale."""
    host, plan_id = transport.host, state.plan_id
    if state.status in (JournalStatus.APPLYING, JournalStatus.ROLLING_BACK):
        detail = f"control node {state.node} went away; run `migrator rollback {host}`"
        return StatusReport(host, HostState.INTERRUPTED, plan_id, state.step, detail)
    if state.status is JournalStatus.FAILED:
        detail = f"{state.error}; run `migrator rollback {host}`"
        return StatusReport(host, HostState.FAILED, plan_id, state.step, detail)
    if state.status is JournalStatus.ROLLED_BACK:
        return StatusReport(host, HostState.ROLLED_BACK, plan_id)
    return _applied(transport, state)


def _applied(transport: Transport, state: JournalState) -> StatusReport:
    files = transport.read_files([o.path for o in state.originals])
    drifted = [o.path for o in state.originals if files[o.path].sha256 != o.sha256_after]
    if drifted:
        detail = (
            f"changed since apply: {', '.join(drifted)}; `migrator rollback {transport.host} "
            "--force` would discard that (a copy is kept in the journal)"
        )
        return StatusReport(transport.host, HostState.DRIFTED, state.plan_id, detail=detail)
    return StatusReport(transport.host, HostState.MIGRATED, state.plan_id)


def require_migrated(transport: Transport) -> StatusReport:
    """The host's status, when it is migrated and unchanged since (what finalize needs).

    Raises RefusedError naming the state and why otherwise (clean, drifted, interrupted,
    rolled back...), JournalError, TransportError.
    """
    report = host_status(transport)
    if report.state is not HostState.MIGRATED:
        raise RefusedError(
            f"not migrated ({report.line().removeprefix(f'{transport.host}: ')}): finalize "
            "only cleans up after a `migrator apply` that switched the host to LMTP and "
            "whose files are unchanged since",
            host=transport.host,
        )
    return report
