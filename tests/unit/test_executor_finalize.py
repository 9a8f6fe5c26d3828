"""finalize on a fake host: applied after the migration, refused before it or with mail queued
for the pipe, and rolled back to the migrated host (then the migration itself)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from migrator.errors import RefusedError
from migrator.executor.apply import Outcome, apply_plan
from migrator.executor.journal import BASE, JournalStatus
from migrator.executor.rollback import rollback_latest
from migrator.executor.status import HostState, Undoes
from migrator.plan.document import Plan
from tests.unit.executor_host import (
    APPLY,
    MAIN,
    actions_of,
    files_of,
    host,
    planned_files,
    status,
)
from tests.unit.fake_host import FakeTransport
from tests.unit.hosts import fixture_hosts, write_out
from tests.unit.test_finalize_plan import finalize_plan

_TREES = tempfile.TemporaryDirectory(prefix="migrator-finalize-")


_FINALIZE: dict[str, Plan] = {}


def finalize_of(migration: Plan) -> Plan:
    """The finalize plan of the fixture host as the migration left it (made once)."""
    if migration.plan_id not in _FINALIZE:
        fixture = next(h for h in fixture_hosts() if h.name == MAIN)
        migrated = write_out(fixture, migration, Path(_TREES.name) / migration.plan_id)
        _FINALIZE[migration.plan_id] = finalize_plan(migrated, MAIN)
    return _FINALIZE[migration.plan_id]


def migrated() -> tuple[FakeTransport, Plan, Plan]:
    """A fake host migrated by its plan, that plan, and the host's finalize plan."""
    fake, plan = host()
    assert apply_plan(fake, plan, APPLY).outcome is Outcome.APPLIED
    return fake, plan, finalize_of(plan)


def before(final: Plan) -> dict[str, bytes]:
    return {f.path: f.content_before.encode() for f in final.files}


def contents(fake: FakeTransport, final: Plan) -> dict[str, bytes]:
    return {path: data.content or b"" for path, data in files_of(fake, final).items()}


def test_finalize_removes_the_pipe_and_proves_lmtp_delivery() -> None:
    fake, plan, final = migrated()
    assert final.finalizes == ("dovecot",)
    session = fake.connect_again()
    report = apply_plan(session, final, APPLY)
    assert report.outcome is Outcome.APPLIED, report.error
    assert [t.action for t in report.steps] == actions_of(final)
    assert files_of(fake, final) == planned_files(final)
    assert "argv=/usr/lib/dovecot/dovecot-lda" not in fake.state.postfix_loaded
    assert report.delivery is not None
    assert final.lmtp_endpoint.relay_matches(report.delivery.relay), report.delivery.relay
    kinds = fake.kinds(session.session)
    # Migrated (status), then the queue right before the journal opens and the first write.
    assert kinds[:4] == ["config_dirs", "peek", "journal_read", "lock"], kinds
    assert kinds.index("queue") < kinds.index("prepare"), kinds
    state = fake.journal_states(final.plan_id)[-1]
    assert (state.status, state.follows) == (JournalStatus.APPLIED, plan.plan_id)
    assert state.lmtp_endpoint == final.endpoint
    seen = status(fake)
    assert (seen.state, seen.plan_id) == (HostState.FINALIZED, final.plan_id)
    assert seen.migration_plan_id == plan.plan_id
    # The next rollback undoes the finalize only, and leaves the migration current.
    assert seen.rollback is not None
    assert (seen.rollback.undoes, seen.rollback.plan_id) == (Undoes.FINALIZE, final.plan_id)
    assert (seen.rollback.leaves, seen.rollback.leaves_plan_id) == (
        HostState.MIGRATED,
        plan.plan_id,
    )
    assert f"`migrator rollback {fake.host}` would put it back" in seen.detail


def test_rollback_of_a_finalize_puts_the_migrated_host_back_then_the_migration() -> None:
    fake, plan, final = migrated()
    apply_plan(fake.connect_again(), final, APPLY)
    undone = rollback_latest(fake.connect_again())
    assert undone is not None and undone.ok, undone
    assert undone.plan_id == final.plan_id
    assert contents(fake, final) == before(final)
    # Rolled back, the host still delivers over LMTP: that is what was proven.
    assert undone.delivery is not None
    assert final.lmtp_endpoint.relay_matches(undone.delivery.relay), undone.delivery.relay
    assert fake.file(f"{BASE}/current").content == f"{plan.plan_id}\n".encode()
    back = status(fake)
    assert (back.state, back.plan_id, back.migration_plan_id) == (
        HostState.MIGRATED,
        plan.plan_id,
        "",
    )
    assert back.rollback is not None and back.rollback.undoes is Undoes.MIGRATION
    again = rollback_latest(fake.connect_again())
    assert again is not None and again.ok and again.plan_id == plan.plan_id
    assert again.delivery is not None and again.delivery.relay == "dovecot"
    assert status(fake).state is HostState.ROLLED_BACK and status(fake).rollback is None


def test_mail_queued_for_the_pipe_refuses_with_the_count_and_changes_nothing() -> None:
    fake, plan, final = migrated()
    fake.state.queue = [
        "message hold 947C7188707 dovecot:",
        "message deferred A1B2C3 -",
        "message deferred D4E5F6 dovecot:nexthop",
    ]
    writes = len(fake.state.writes)
    with pytest.raises(RefusedError, match=r"2 message\(s\) queued for the old LDA transport "):
        apply_plan(fake.connect_again(), final, APPLY)
    assert len(fake.state.writes) == writes
    assert not fake.locked
    assert (status(fake).state, status(fake).plan_id) == (HostState.MIGRATED, plan.plan_id)
    # Mail not bound to the pipe (resolved again when retried) does not hold finalize back.
    fake.state.queue = ["message deferred A1B2C3 -"]
    assert apply_plan(fake.connect_again(), final, APPLY).outcome is Outcome.APPLIED


def test_a_host_not_migrated_is_refused_before_the_lock() -> None:
    _, _, final = migrated()
    fake, _ = host()
    with pytest.raises(RefusedError, match=r"not migrated \(clean\)"):
        apply_plan(fake, final, APPLY)
    assert "lock" not in fake.kinds() and fake.state.writes == []


def test_a_host_drifted_since_its_migration_is_refused_naming_the_file() -> None:
    fake, plan, final = migrated()
    changed = plan.files[0].path
    fake.edit(changed, b"# edited by hand\n")
    with pytest.raises(RefusedError, match=rf"not migrated \(drifted since apply.*{changed}"):
        apply_plan(fake.connect_again(), final, APPLY)
    assert not fake.locked
