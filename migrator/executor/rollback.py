"""rollback: put a host back exactly as its journal recorded it, and prove the LDA delivers.

Works from any control node: everything it needs (originals, owner, mode, symlinks, maps,
test recipient, the LDA's relay names, Postfix's log) is in the journal on the host.
``rollback_latest`` (what ``migrator rollback`` runs, for one host or a fleet) finds the apply
in the journal and takes the lock; ``rollback_host`` (also apply's --rollback-on-fail) restores.
A file edited after apply is never silently discarded: its copy is kept in the journal, and
rollback refuses it unless forced. Every write is a compare-and-swap against what was checked.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from migrator.address import check_recipient, recipient_problem
from migrator.delivery import proof
from migrator.endpoint import Endpoint
from migrator.errors import JournalError, MigratorError, PlanDriftError, PlanError, UsageError
from migrator.executor import actions, services
from migrator.executor.journal import (
    Journal,
    JournalState,
    JournalStatus,
    LockInfo,
    Original,
    peek,
    quietly,
)
from migrator.executor.step_log import Notify, StepLog, StepTiming, ignore
from migrator.plan.schema import LMTP_DRAIN_SECONDS
from migrator.transport.base import FileData, Transport, sha256

_RELOAD_POSTFIX = (
    f"reload Postfix, then wait (at most {LMTP_DRAIN_SECONDS} s) for the LMTP deliveries it "
    "had in flight to end"
)


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
    detail: str = ""
    follows: str = ""  # a finalize rolled back: the migration it followed ("": a migration)


def lda_relay_matcher(state: JournalState) -> Callable[[str], bool]:
    """A predicate for Postfix's relay= of the delivery rollback proves: the pipe service or
    local(8), or (a finalize rolled back) the LMTP next hop the host still delivers over."""
    if state.lmtp_endpoint:
        return Endpoint.from_postfix(state.lmtp_endpoint, state.queue_directory).relay_matches
    names = set(state.lda_relays)
    return lambda relay: relay in names


def rollback_host(
    transport: Transport,
    journal: Journal,
    state: JournalState,
    runtime: services.Runtime,
    expect_relay: Callable[[str], bool],
    notify: Notify = ignore,
    *,
    force: bool = False,
) -> RollbackReport:
    """Restore every original (content, owner, mode, symlink), re-run postmap, reload Postfix
    then Dovecot, check the files, prove LDA delivery, and release the lock. Never raises for
    a host-side failure: the report says what went wrong (the host then needs attention).
    Journal writes use the space apply reserved, and their failure never stops the restore."""
    log = StepLog(transport.host, notify)
    state = state.with_step("rollback", JournalStatus.ROLLING_BACK)
    restored: list[str] = []
    quietly(lambda: journal.write_state(state, reserve=True))
    try:
        record = _roll_back(transport, journal, state, runtime, expect_relay, log, restored, force)
    except MigratorError as exc:
        failed = replace(state, error=str(exc)).with_step(state.step, JournalStatus.FAILED)
        quietly(lambda: journal.write_state(failed, reserve=True))
        quietly(journal.unlock)
        timings = tuple(log.timings)
        return RollbackReport(
            transport.host,
            state.plan_id,
            False,
            tuple(restored),
            timings,
            str(exc),
            follows=state.follows,
        )
    error = _record_done(transport, journal, state)
    timings = tuple(log.timings)
    return RollbackReport(
        transport.host,
        state.plan_id,
        not error,
        tuple(restored),
        timings,
        error,
        record,
        follows=state.follows,
    )


def _record_done(transport: Transport, journal: Journal, state: JournalState) -> str:
    """Record the rollback as done, free the reserve and the lock: '' when recorded, else
    what the report says (the host is restored all the same)."""
    done = state.with_step("done", JournalStatus.ROLLED_BACK)
    unrecorded = quietly(lambda: journal.write_state(done, reserve=True)) or _point_back(
        transport, state
    )
    quietly(journal.release_reserve)
    quietly(journal.unlock)
    return f"restored, but the journal could not record it: {unrecorded}" if unrecorded else ""


def _point_back(transport: Transport, state: JournalState) -> str:
    """A finalize undone: the apply it cleaned up after is the host's current one again
    ('' when done, or nothing to do; else why not)."""
    if not state.follows:
        return ""
    return quietly(Journal(transport, state.follows).point_current)


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
    force: bool,
) -> proof.DeliveryRecord | None:
    """The rollback's steps, in order; ``restored`` grows as files come back."""
    with log.step("restore_files", "restore every touched file byte-identical"):
        _restore(transport, journal, state, restored, force)
    for spec in state.postmaps:
        with log.step("postmap", f"postmap {spec}"):
            actions.postmap(transport, spec)
    # Postfix takes the restored files before Dovecot drops the listener, and the lmtp agents
    # that ran before its reload end their delivery first; those started after it (where
    # LMTP stays in use) are not waited for: they may stay busy until the wait's cap.
    with log.step("reload_postfix", _RELOAD_POSTFIX):
        services.drain_lmtp(transport, runtime, LMTP_DRAIN_SECONDS)
    with log.step("reload_dovecot", "reload Dovecot"):
        services.reload(transport, runtime, "dovecot")
    with log.step("verify_files", "symlink, sha256, owner and mode equal the originals"):
        _verify(transport, state.originals)
    if not state.test_recipient:
        return None
    path = "LMTP" if state.lmtp_endpoint else "the LDA"
    with log.step("test_delivery", f"send a test message: {path} delivers it again"):
        return proof.prove_delivery(
            transport,
            state.test_recipient,
            log_path=state.log_path or runtime.log_path,
            expect_relay=expect_relay,
            over_lmtp=bool(state.lmtp_endpoint),
            tag=f"rollback-{state.plan_id}",
        )


def edited_since_apply(original: Original, current: FileData) -> bool:
    """True when a file is neither as it was before apply nor as apply wrote it."""
    if not current.exists:
        return original.existed
    return current.sha256 not in ((original.sha256,) if original.existed else ()) + (
        original.sha256_after,
    )


def check_drift(
    journal: Journal, state: JournalState, files: Mapping[str, FileData], force: bool
) -> None:
    """Keep in the journal a copy of every file edited since apply; refuse them unless force.

    Raises PlanDriftError (before anything is restored) naming each file and its copy.
    """
    kept = []
    for original in state.originals:
        current = files[original.path]
        if edited_since_apply(original, current):
            where = "deleted"
            if current.content is not None:
                where = f"kept in {journal.keep_drifted(state, original.path, current.content)}"
            kept.append(f"{original.path} ({where})")
    if kept and not force:
        raise PlanDriftError(
            f"edited since apply: {', '.join(kept)}; rollback would discard the edit, so "
            f"nothing was restored: review it, then run `migrator rollback {journal.host} "
            "--force`",
            host=journal.host,
        )


def _restore(
    transport: Transport,
    journal: Journal,
    state: JournalState,
    restored: list[str],
    force: bool,
) -> None:
    saved = {o.path: journal.original_path(state, o.path) for o in state.originals if o.existed}
    files = transport.read_files([o.path for o in state.originals])
    copies = journal.read(list(saved.values()))
    # Every journal copy is checked before the first write: a damaged journal changes nothing.
    for path, copy in saved.items():
        content = copies[copy].content
        original = next(o for o in state.originals if o.path == path)
        if content is None or sha256(content) != original.sha256:
            raise JournalError(
                "the journal's copy of this file is missing or damaged",
                host=transport.host,
                path=path,
            )
    check_drift(journal, state, files, force)
    for original in state.originals:
        current = files[original.path]
        if not original.existed:
            if current.exists:
                actions.remove_file(transport, original.path, current.sha256)
                restored.append(original.path)
        elif not _matches(current, original):
            _put_back(transport, original, current, copies[saved[original.path]].content or b"")
            restored.append(original.path)


def _put_back(transport: Transport, original: Original, current: FileData, content: bytes) -> None:
    """Write one original back (through its symlink, made again if it is gone), as a
    compare-and-swap against what rollback checked."""
    expected: str | None = current.sha256
    if original.link and current.link != original.link:
        actions.restore_link(transport, original.path, original.link)
        expected = None  # the link now leads to the file it led to before apply
    transport.write_atomic(
        original.path,
        content,
        owner=original.owner,
        group=original.group,
        mode=original.mode,
        expected_sha256=expected,
    )


def _matches(current: FileData, original: Original) -> bool:
    return (
        current.exists
        and current.sha256 == original.sha256
        and (current.owner, current.group, current.mode)
        == (original.owner, original.group, original.mode)
        and current.link == original.link
        and (not original.link or current.target == original.target)
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
    *,
    force: bool = False,
) -> RollbackReport | None:
    """Roll back plan_id (default: the plan of a lock a dead session left, else the host's
    current apply); None if already rolled back. A lock left behind by an apply that stopped
    before changing anything, or after its rollback, is released.

    ``test_recipient`` replaces the one the journal recorded for the LDA's test message.
    Raises NothingToRollBackError when no apply is recorded, PlanError for an unknown plan
    id, JournalError while an apply still runs (its SSH session alive) or when the journal is
    unsafe, PlanDriftError (nothing changed) for a file edited since apply unless force,
    TransportError, UsageError (nothing changed) when the test recipient is not a usable
    address. Host-side failures of the rollback itself are in the report, never raised.
    """
    wanted, stale = _choose_plan(transport.host, *peek(transport), plan_id)
    journal = Journal(transport, wanted)
    state = journal.read_state() if wanted else None
    if state is None or state.status is JournalStatus.ROLLED_BACK:
        return _nothing_to_restore(journal, state, stale)
    state = _with_recipient(state, test_recipient, transport.host)
    runtime = _lock_unchanged(transport, journal, state, stale, force)
    matcher = lda_relay_matcher(state)
    return rollback_host(transport, journal, state, runtime, matcher, notify, force=force)


def _choose_plan(
    host: str, lock: LockInfo, current: str, plan_id: str | None
) -> tuple[str, str | None]:
    """The plan to roll back ('' for none) and the plan of a lock a dead session left.

    Raises JournalError while an apply runs, NothingToRollBackError when none is recorded.
    """
    if lock.held and lock.alive:
        raise JournalError(f"an apply is running from {lock.node}", host=host)
    stale = lock.plan_id if lock.held else None
    wanted = plan_id or stale or current
    if not wanted and stale is None:
        raise NothingToRollBackError("no apply is recorded on this host", host=host)
    return wanted, stale


def _lock_unchanged(
    transport: Transport, journal: Journal, state: JournalState, stale: str | None, force: bool
) -> services.Runtime:
    """Take the lock (over a dead session's), then check no file changed since apply (unless
    force) and read the host's runtime; the lock is released if either fails.

    Raises JournalError, PlanDriftError, TransportError.
    """
    # The lock names this control node, not the one whose apply is being undone; how the host
    # runs its daemons and where Postfix logs is read in the lock's round trip.
    node = f"rollback:{socket.gethostname()}:{os.getpid()}"
    said = journal.lock(node, takeover=stale, then=services.RUNTIME_SCRIPT)
    try:
        check_drift(journal, state, transport.read_files([o.path for o in state.originals]), force)
        return services.parse_runtime(said)
    except BaseException:
        journal.unlock()
        raise


def _nothing_to_restore(
    journal: Journal, state: JournalState | None, stale: str | None
) -> RollbackReport | None:
    """An apply that stopped before writing its state, or one rolled back: release the lock
    it left behind, if any. Raises PlanError when the plan is unknown and holds no lock."""
    if state is None and journal.plan_id != stale:
        raise PlanError(f"unknown plan id {journal.plan_id!r} on this host", host=journal.host)
    if stale == journal.plan_id:
        journal.lock("rollback:release", takeover=stale)
        journal.unlock()
    if state is None:
        detail = "the apply stopped before changing anything; its lock is released"
        return RollbackReport(journal.host, journal.plan_id, True, detail=detail)
    return None
