"""rollback: put a host back exactly as its journal recorded it, and prove the LDA delivers.

Works from any control node: everything it needs (originals, owner, mode, maps, test
recipient, the LDA's relay names, Postfix's log) is in the journal on the host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from migrator import delivery, services, steps
from migrator.errors import JournalError, MigratorError
from migrator.journal import Journal, JournalState, JournalStatus, Original
from migrator.step_log import Notify, StepLog, StepTiming, ignore
from migrator.transport.base import FileData, Transport


@dataclass(frozen=True, slots=True)
class RollbackReport:
    """What a rollback did: the files it restored, its steps, and whether it worked."""

    host: str
    plan_id: str
    ok: bool
    restored: tuple[str, ...] = ()
    steps: tuple[StepTiming, ...] = ()
    error: str = ""
    delivery: delivery.DeliveryRecord | None = None


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
    record = None
    try:
        journal.write_state(state)
        with log.step("restore_files", "restore every touched file byte-identical"):
            restored = _restore(transport, journal, state)
        for spec in state.postmaps:
            with log.step("postmap", f"postmap {spec}"):
                steps.postmap(transport, spec)
        for daemon in ("postfix", "dovecot"):
            with log.step(f"reload_{daemon}", f"reload {daemon.capitalize()}"):
                services.reload(transport, runtime, daemon)
        with log.step("verify_files", "sha256, owner and mode equal the originals"):
            _verify(transport, state.originals)
        if state.test_recipient:
            with log.step("test_delivery", "send a test message: the LDA delivers it again"):
                record = delivery.prove_delivery(
                    transport,
                    state.test_recipient,
                    log_path=state.log_path or runtime.log_path,
                    expect_relay=expect_relay,
                    tag=f"rollback-{state.plan_id}",
                )
    except MigratorError as exc:
        journal.write_state(
            replace(state, error=str(exc)).with_step(state.step, JournalStatus.FAILED)
        )
        journal.unlock()
        return RollbackReport(
            transport.host, state.plan_id, False, tuple(restored), tuple(log.timings), str(exc)
        )
    journal.write_state(state.with_step("done", JournalStatus.ROLLED_BACK))
    journal.unlock()
    return RollbackReport(
        transport.host, state.plan_id, True, tuple(restored), tuple(log.timings), "", record
    )


def _restore(transport: Transport, journal: Journal, state: JournalState) -> list[str]:
    saved = {o.path: journal.original_path(state, o.path) for o in state.originals if o.existed}
    files = transport.read_files([o.path for o in state.originals] + list(saved.values()))
    restored = []
    for original in state.originals:
        current = files[original.path]
        if not original.existed:
            if current.exists:
                steps.remove_file(transport, original.path)
                restored.append(original.path)
            continue
        content = files[saved[original.path]].content
        if content is None or steps.sha256(content) != original.sha256:
            raise JournalError(
                "the journal's copy of this file is missing or damaged",
                host=transport.host,
                path=original.path,
            )
        if not _matches(current, original):
            transport.write_atomic(
                original.path,
                content,
                owner=original.owner,
                group=original.group,
                mode=original.mode,
            )
            restored.append(original.path)
    return restored


def _matches(current: FileData, original: Original) -> bool:
    return (
        current.exists
        and steps.sha256(current.content or b"") == original.sha256
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
