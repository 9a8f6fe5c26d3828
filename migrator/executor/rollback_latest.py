"""Rolling back a host's latest (or a named) apply: find it in the journal, lock, restore.

The one core that ``migrator rollback HOST`` and ``migrator rollback -i INVENTORY`` share;
``rollback.rollback_host`` does the restoring itself.
"""

from __future__ import annotations

from migrator.errors import JournalError, PlanError, UsageError
from migrator.executor.journal import Journal, JournalStatus, peek
from migrator.executor.rollback import RollbackReport, lda_relay_matcher, rollback_host
from migrator.executor.services import read_runtime
from migrator.executor.step_log import Notify, ignore
from migrator.transport.base import Transport


class NothingToRollBackError(UsageError):
    """The host's journal records no apply at all (a fleet reports it as nothing to do)."""


def rollback_latest(
    transport: Transport, plan_id: str | None = None, notify: Notify = ignore
) -> RollbackReport | None:
    """Roll back plan_id (default: the host's current apply); None if already rolled back.

    Raises NothingToRollBackError when no apply is recorded, PlanError for an unknown plan
    id, JournalError while an apply still runs (its SSH session alive), TransportError.
    Host-side failures of the rollback itself are in the report, never raised.
    """
    lock, current = peek(transport)
    wanted = plan_id or current
    if not wanted:
        raise NothingToRollBackError("no apply is recorded on this host", host=transport.host)
    journal = Journal(transport, wanted)
    state = journal.read_state()
    if state is None:
        raise PlanError(f"unknown plan id {wanted!r} on this host", host=transport.host)
    if state.status is JournalStatus.ROLLED_BACK:
        return None
    if lock.held and lock.alive:
        raise JournalError(f"an apply is running from {lock.node}", host=transport.host)
    journal.lock(f"rollback:{lock.node or 'cli'}", takeover=True)
    runtime = read_runtime(transport)
    return rollback_host(transport, journal, state, runtime, lda_relay_matcher(state), notify)
