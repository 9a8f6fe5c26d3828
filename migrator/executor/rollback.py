"""rollback: put a host back exactly as its journal recorded it, and prove the LDA delivers.

Works from any control node: everything it needs (originals, owner, mode, maps, test
recipient, the LDA's relay names, Postfix's log) is in the journal on the host.
``rollback_latest`` (what ``migrator rollback`` runs, for one host or a fleet) finds the apply
in the journal and takes the lock; ``rollback_host`` (also apply's --rollback-on-fail) restores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from migrator.address import check_recipient, recipient_problem
from migrator.delivery import proof
from migrator.errors import JournalError, MigratorError, PlanError, UsageError
from migrator.executor import actions, services
from migrator.executor.journal import Journal, JournalState, JournalStatus, Original, peek
from migrator.executor.step_log import Notify, StepLog, StepTiming, ignore
from migrator.transport.base import FileData, Transport, sha256


@dataclass(frozen=True, slots=True)
class RollbackReport:
    """What a rollback did: the files it restored, its steps, and whether it worked."""

    host: str
    plan_id: str
    ok: bool
    restored: tuple[str, ...] = ()
    steps: tuple[StepTiming, ...] = ()
    error: str = ""
    delivery: proof.DeliveryRecord | None = None


def lda_relay_matcher(state: JournalState) -> Callable[[str], bool]:
    """A predicate for Postfix's relay= of an LDA delivery: the pipe service or local(8)."""
    names = set(state.lda_relays)
    return lambda relay: relay in names


def rollback_host(
    transport: Transport,
    journal: Journal,
    state: JournalState,
    runtime: services.Runtime,
    expect_relay: Callable[[str], bool],
    notify: Notify = ignore,
) -> RollbackReport:
    """Restore every original (content, owner, mode), re-run postmap, reload Postfix then
    Dovecot, check the files, prove LDA delivery, and release the lock. Never raises for a
    host-side failure: the report says what went wrong (the host then needs attention)."""
    log = StepLog(transport.host, notify)
    state = state.with_step("rollback", JournalStatus.ROLLING_BACK)
    restored: list[str] = []
    try:
        journal.write_state(state)
        record = _roll_back(transport, journal, state, runtime, expect_relay, log, restored)
    except MigratorError as exc:
        failed = replace(state, error=str(exc)).with_step(state.step, JournalStatus.FAILED)
        journal.write_state(failed)
        journal.unlock()
        timings = tuple(log.timings)
        return RollbackReport(
            transport.host, state.plan_id, False, tuple(restored), timings, str(exc)
        )
    journal.write_state(state.with_step("done", JournalStatus.ROLLED_BACK))
    journal.unlock()
    return RollbackReport(
        transport.host, state.plan_id, True, tuple(restored), tuple(log.timings), "", record
    )


def _with_recipient(state: JournalState, given: str | None, host: str) -> JournalState:
    """STATE with the test recipient rollback will use, checked before anything changes.

    Raises UsageError when GIVEN is not an address, or when none is given and the journal's
    is not one (a journal written before addresses were checked, or edited on the host).
    """
    if given:
        return replace(state, test_recipient=check_recipient(given, host=host))
    problem = recipient_problem(state.test_recipient) if state.test_recipient else None
    if problem:
        raise UsageError(
            f"the journal's test recipient {state.test_recipient!r} {problem}; nothing was "
            "changed: give --test-recipient ADDR to roll back",
            host=host,
        )
    return state


def _roll_back(
    transport: Transport,
    journal: Journal,
    state: JournalState,
    runtime: services.Runtime,
    expect_relay: Callable[[str], bool],
    log: StepLog,
    restored: list[str],
) -> proof.DeliveryRecord | None:
    """The rollback's steps, in order; ``restored`` grows as files come back."""
    with log.step("restore_files", "restore every touched file byte-identical"):
        _restore(transport, journal, state, restored)
    for spec in state.postmaps:
        with log.step("postmap", f"postmap {spec}"):
            actions.postmap(transport, spec)
    for daemon in ("postfix", "dovecot"):
        with log.step(f"reload_{daemon}", f"reload {daemon.capitalize()}"):
            services.reload(transport, runtime, daemon)
    with log.step("verify_files", "sha256, owner and mode equal the originals"):
        _verify(transport, state.originals)
    if not state.test_recipient:
        return None
    with log.step("test_delivery", "send a test message: the LDA delivers it again"):
        return proof.prove_delivery(
            transport,
            state.test_recipient,
            log_path=state.log_path or runtime.log_path,
            expect_relay=expect_relay,
            over_lmtp=False,
            tag=f"rollback-{state.plan_id}",
        )


def _restore(
    transport: Transport, journal: Journal, state: JournalState, restored: list[str]
) -> None:
    saved = {o.path: journal.original_path(state, o.path) for o in state.originals if o.existed}
    files = transport.read_files([o.path for o in state.originals] + list(saved.values()))
    # Every journal copy is checked before the first write: a damaged journal changes nothing.
    for path, copy in saved.items():
        content = files[copy].content
        original = next(o for o in state.originals if o.path == path)
        if content is None or sha256(content) != original.sha256:
            raise JournalError(
                "the journal's copy of this file is missing or damaged",
                host=transport.host,
                path=path,
            )
    for original in state.originals:
        current = files[original.path]
        if not original.existed:
            if current.exists:
                actions.remove_file(transport, original.path)
                restored.append(original.path)
        elif not _matches(current, original):
            content = files[saved[original.path]].content or b""
            transport.write_atomic(
                original.path,
                content,
                owner=original.owner,
                group=original.group,
                mode=original.mode,
            )
            restored.append(original.path)


def _matches(current: FileData, original: Original) -> bool:
    return (
        current.exists
        and current.sha256 == original.sha256
        and (current.owner, current.group, current.mode)
        == (original.owner, original.group, original.mode)
    )


def _verify(transport: Transport, originals: tuple[Original, ...]) -> None:
    files = transport.read_files([o.path for o in originals])
    wrong = [
        o.path
        for o in originals
        if (o.existed and not _matches(files[o.path], o))
        or (not o.existed and files[o.path].exists)
    ]
    if wrong:
        raise JournalError(f"not restored: {', '.join(wrong)}", host=transport.host)


class NothingToRollBackError(UsageError):
    """The host's journal records no apply at all (a fleet reports it as nothing to do)."""


def rollback_latest(
    transport: Transport,
    plan_id: str | None = None,
    notify: Notify = ignore,
    test_recipient: str | None = None,
) -> RollbackReport | None:
    """Roll back plan_id (default: the host's current apply); None if already rolled back.

    ``test_recipient`` replaces the one the journal recorded for the LDA's test message.
    Raises NothingToRollBackError when no apply is recorded, PlanError for an unknown plan
    id, JournalError while an apply still runs (its SSH session alive), TransportError,
    UsageError (nothing changed) when the test recipient is not a usable address.
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
    state = _with_recipient(state, test_recipient, transport.host)
    if lock.held and lock.alive:
        raise JournalError(f"an apply is running from {lock.node}", host=transport.host)
    journal.lock(f"rollback:{lock.node or 'cli'}", takeover=True)
    runtime = services.read_runtime(transport)
    return rollback_host(transport, journal, state, runtime, lda_relay_matcher(state), notify)
