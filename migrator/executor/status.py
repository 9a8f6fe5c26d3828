"""status: where a host stands, read from its remote journal and its files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from migrator.executor.journal import Journal, JournalState, JournalStatus, peek
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
    """Read the host's lock, journal and files (three round trips at most); change nothing."""
    lock, current = peek(transport)
    host = transport.host
    if not current:
        if saved_plans:
            return StatusReport(host, HostState.PLANNED, saved_plans[-1], detail="not applied")
        return StatusReport(host, HostState.CLEAN)
    state = Journal(transport, current).read_state()
    if state is None:
        return StatusReport(host, HostState.CLEAN, current, detail="journal has no state")
    if state.status in (JournalStatus.APPLYING, JournalStatus.ROLLING_BACK):
        if lock.held and lock.alive:
            return StatusReport(host, HostState.IN_PROGRESS, current, state.step, lock.node)
        detail = f"control node {state.node} went away; run `migrator rollback {host}`"
        return StatusReport(host, HostState.INTERRUPTED, current, state.step, detail)
    if state.status is JournalStatus.FAILED:
        detail = f"{state.error}; run `migrator rollback {host}`"
        return StatusReport(host, HostState.FAILED, current, state.step, detail)
    if state.status is JournalStatus.ROLLED_BACK:
        return StatusReport(host, HostState.ROLLED_BACK, current)
    return _applied(transport, state)


def _applied(transport: Transport, state: JournalState) -> StatusReport:
    files = transport.read_files([o.path for o in state.originals])
    drifted = [o.path for o in state.originals if files[o.path].sha256 != o.sha256_after]
    if drifted:
        detail = f"changed since apply: {', '.join(drifted)}"
        return StatusReport(transport.host, HostState.DRIFTED, state.plan_id, detail=detail)
    return StatusReport(transport.host, HostState.MIGRATED, state.plan_id)
