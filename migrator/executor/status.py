"""status: where a host stands, read from its remote journal and its files, and what the
next `migrator rollback` would undo there.

A finalize is an apply of its own, journaled on top of the migration it cleans up after
(its state's ``follows``): while it is the host's current apply the host is *finalized*, and
a rollback undoes the finalize only (the pipe service comes back, LMTP still delivers, the
migration is current again); the rollback after that undoes the migration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from migrator.errors import RefusedError
from migrator.executor.journal import (
    SETTLED,
    Journal,
    JournalState,
    JournalStatus,
    LockInfo,
    peek,
)
from migrator.executor.rollback import edited_since_apply
from migrator.transport.base import FileData, Transport


class HostState(StrEnum):
    """A host's migration state, as `migrator status` reports it."""

    CLEAN = "clean"
    PLANNED = "planned"
    IN_PROGRESS = "apply in progress"
    INTERRUPTED = "interrupted"
    FAILED = "failed, needs attention"
    MIGRATED = "migrated"
    FINALIZED = "finalized"
    DRIFTED = "drifted since apply"
    ROLLED_BACK = "rolled back"


class Undoes(StrEnum):
    """What a rollback puts back: the switch to LMTP, or the finalize after it."""

    MIGRATION = "migration"
    FINALIZE = "finalize"


@dataclass(frozen=True, slots=True)
class NextRollback:
    """What the next `migrator rollback HOST` would undo, and where it leaves the host.

    ``edited``: files changed since that apply and not as they were before it, which the
    rollback refuses to discard unless forced (``--force``, or ``force: true`` in Ansible).
    """

    undoes: Undoes
    plan_id: str
    leaves: HostState
    leaves_plan_id: str = ""
    edited: tuple[str, ...] = ()

    def text(self) -> str:
        """One short phrase, as the status table's column says it."""
        if self.undoes is Undoes.FINALIZE:
            what = (
                f"the finalize {self.plan_id}: pipe service back, still migrated "
                f"({self.leaves_plan_id})"
            )
        else:
            what = f"the migration {self.plan_id}: back to the LDA"
        return f"{what}; needs --force (edited: {', '.join(self.edited)})" if self.edited else what

    def data(self) -> dict[str, Any]:
        return {
            "undoes": self.undoes.value,
            "plan_id": self.plan_id,
            "leaves": self.leaves.value,
            "leaves_plan_id": self.leaves_plan_id,
            "needs_force": bool(self.edited),
            "edited": list(self.edited),
        }


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One host's state, the plan it concerns, and the detail a person needs.

    ``migration_plan_id``: the migration a finalize plan follows ("" for a migration plan);
    ``rollback``: what the next rollback would undo (None: nothing, or it would be refused
    while an apply runs).
    """

    host: str
    state: HostState
    plan_id: str = ""
    step: str = ""
    detail: str = ""
    migration_plan_id: str = ""
    rollback: NextRollback | None = None

    def data(self) -> dict[str, Any]:
        """The report as plain data (`status --json`, lmtp_info's facts)."""
        return {
            "host": self.host,
            "state": self.state.value,
            "plan_id": self.plan_id,
            "step": self.step,
            "detail": self.detail,
            "migration_plan_id": self.migration_plan_id,
            "rollback": self.rollback.data() if self.rollback else None,
        }

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
    files = None
    if state.status is JournalStatus.APPLIED:
        files = transport.read_files([o.path for o in state.originals])
    return journaled_report(transport.host, state, files)


def journaled_report(
    host: str, state: JournalState, files: Mapping[str, FileData] | None = None
) -> StatusReport:
    """The state of a host whose current apply's journal says STATE (pure).

    FILES are the originals' paths as they are now, read for an applied state only (None
    otherwise): an applied migration is migrated, an applied finalize finalized, either
    drifted when a file changed since.
    """
    plan_id, follows = state.plan_id, state.follows
    undo = next_rollback(state, files)
    if state.status in (JournalStatus.APPLYING, JournalStatus.ROLLING_BACK):
        detail = f"control node {state.node} went away; run `migrator rollback {host}`"
        return StatusReport(host, HostState.INTERRUPTED, plan_id, state.step, detail, follows, undo)
    if state.status is JournalStatus.FAILED:
        detail = f"{state.error}; run `migrator rollback {host}`"
        return StatusReport(host, HostState.FAILED, plan_id, state.step, detail, follows, undo)
    if state.status is JournalStatus.ROLLED_BACK:
        return StatusReport(host, HostState.ROLLED_BACK, plan_id, "", _stranded(host, state))
    changed = [o.path for o in state.originals if files and files[o.path].sha256 != o.sha256_after]
    if changed:
        detail = _drift_detail(host, state, changed, undo)
        return StatusReport(host, HostState.DRIFTED, plan_id, "", detail, follows, undo)
    if follows:
        detail = (
            f"the LDA pipe service is removed (after migration {follows}); `migrator rollback "
            f"{host}` would put it back and leave the host migrated, on LMTP"
        )
        return StatusReport(host, HostState.FINALIZED, plan_id, "", detail, follows, undo)
    return StatusReport(host, HostState.MIGRATED, plan_id, rollback=undo)


def next_rollback(
    state: JournalState, files: Mapping[str, FileData] | None = None
) -> NextRollback | None:
    """What `migrator rollback` would undo on a host whose current apply's journal says STATE
    (pure): that apply; a finalize's leaves its migration current (migrated), a migration's
    leaves the host on the LDA. None once rolled back. ``edited`` is known only with FILES."""
    if state.status is JournalStatus.ROLLED_BACK:
        return None
    edited = tuple(
        o.path for o in state.originals if files and edited_since_apply(o, files[o.path])
    )
    return undoing(state.plan_id, state.follows, edited)


def undoing(plan_id: str, follows: str, edited: tuple[str, ...] = ()) -> NextRollback:
    """What rolling back apply PLAN_ID undoes (pure): a finalize (it FOLLOWS a migration)
    leaves that migration current (migrated), a migration leaves the host on the LDA."""
    if follows:
        return NextRollback(Undoes.FINALIZE, plan_id, HostState.MIGRATED, follows, edited)
    return NextRollback(Undoes.MIGRATION, plan_id, HostState.ROLLED_BACK, "", edited)


def _drift_detail(
    host: str, state: JournalState, changed: Sequence[str], undo: NextRollback | None
) -> str:
    kind = "finalize" if state.follows else "apply"
    if undo and undo.edited:
        return (
            f"changed since {kind}: {', '.join(changed)}; `migrator rollback {host} --force` "
            "would discard that (a copy is kept in the journal)"
        )
    return (
        f"changed since {kind}: {', '.join(changed)}, back as before it; `migrator rollback "
        f"{host}` puts the rest back"
    )


def _stranded(host: str, state: JournalState) -> str:
    """A rolled-back finalize still the host's current apply: its rollback could not make
    the migration current again, which stays applied ('' for any other rolled-back plan)."""
    if not state.follows:
        return ""
    return (
        f"the finalize is undone but the journal still names it current; the migration "
        f"{state.follows} is still applied (`migrator rollback {host} --plan {state.follows}` "
        "undoes it)"
    )


def require_migrated(transport: Transport) -> StatusReport:
    """The host's status, when it is migrated (or already finalized) and unchanged since
    (what finalize needs; finalizing a finalized host again plans no changes).

    Raises RefusedError naming the state and why otherwise (clean, drifted, interrupted,
    rolled back...), JournalError, TransportError.
    """
    report = host_status(transport)
    if report.state not in (HostState.MIGRATED, HostState.FINALIZED):
        raise RefusedError(
            f"not migrated ({report.line().removeprefix(f'{transport.host}: ')}): finalize "
            "only cleans up after a `migrator apply` that switched the host to LMTP and "
            "whose files are unchanged since",
            host=transport.host,
        )
    return report
