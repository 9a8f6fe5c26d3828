"""status on a fake host, and applies whose control node or connection went away."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace

import pytest

from migrator.errors import JournalError, TransportError
from migrator.executor.apply import Outcome, apply_plan
from migrator.executor.journal import BASE
from migrator.executor.rollback import NothingToRollBackError, rollback_latest
from migrator.executor.status import HostState, StatusReport
from migrator.executor.step_log import StepEvent
from migrator.plan.document import Plan
from tests.unit.executor_host import (
    APPLY,
    APPLY_OR_ROLL_BACK,
    NODE,
    ControlNodeKilled,
    daemons,
    files_of,
    host,
    killed_at,
    planned_files,
    status,
)
from tests.unit.fake_host import FakeTransport
from tests.unit.test_executor_finalize import finalize_of


def test_an_apply_whose_session_died_is_interrupted_and_rolls_back_from_elsewhere() -> None:
    fake, plan = host()
    originals = files_of(fake, plan)
    killed_at(fake, plan, "reload_postfix")
    assert fake.locked
    seen = status(fake)
    assert (seen.state, seen.step) == (HostState.INTERRUPTED, "reload_postfix")
    assert f"control node {NODE} went away" in seen.detail
    with pytest.raises(JournalError, match="interrupted"):
        apply_plan(fake.connect_again(), plan, APPLY)
    report = rollback_latest(fake.connect_again())
    assert report is not None and report.ok
    assert set(report.restored) == {c.path for c in plan.files}
    assert files_of(fake, plan) == originals
    assert not fake.locked
    assert status(fake).state is HostState.ROLLED_BACK


def test_a_connection_lost_after_the_first_write_is_reported_not_raised() -> None:
    fake, plan = host()
    originals = files_of(fake, plan)
    fake.fail("reload_postfix", disconnect=True)
    report = apply_plan(fake, plan, APPLY_OR_ROLL_BACK)
    assert report.outcome is Outcome.NEEDS_ATTENTION
    assert report.failed_step == "reload_postfix"
    assert "connection lost" in report.error
    assert report.rollback is not None and not report.rollback.ok
    assert "connection lost" in report.rollback.error
    # The host is left as the lost session left it: interrupted, and rolled back from elsewhere.
    seen = status(fake)
    assert (seen.state, seen.step) == (HostState.INTERRUPTED, "reload_postfix")
    later = rollback_latest(fake.connect_again())
    assert later is not None and later.ok, later
    assert files_of(fake, plan) == originals
    assert not fake.locked


def test_a_rollback_whose_session_died_is_finished_from_elsewhere() -> None:
    fake, plan = host()
    originals, running = files_of(fake, plan), daemons(fake)
    fake.fail("validate_postfix")  # so apply never reloads Postfix: only the rollback does
    fake.fail("reload_postfix", raises=ControlNodeKilled(), disconnect=True)
    with pytest.raises(ControlNodeKilled):
        apply_plan(fake, plan, APPLY_OR_ROLL_BACK)
    seen = status(fake)
    assert (seen.state, seen.step) == (HostState.INTERRUPTED, "rollback")
    report = rollback_latest(fake.connect_again())
    assert report is not None and report.ok, report
    assert files_of(fake, plan) == originals
    assert daemons(fake) == running
    assert not fake.locked


def _status_during_rollback(fake: FakeTransport) -> StatusReport:
    seen: list[StatusReport] = []

    def notify(event: StepEvent) -> None:
        if event.action == "reload_postfix" and event.seconds is None:
            seen.append(status(fake))

    report = rollback_latest(fake.connect_again(), notify=notify)
    assert report is not None and report.ok
    return seen[0]


def test_status_sees_a_rollback_in_progress() -> None:
    fake, plan = host()
    apply_plan(fake, plan, APPLY)
    seen = _status_during_rollback(fake)
    assert (seen.state, seen.plan_id, seen.step) == (
        HostState.IN_PROGRESS,
        plan.plan_id,
        "rollback",
    )


def test_a_rollback_taking_over_a_dead_lock_does_not_name_the_dead_node() -> None:
    fake, plan = host()
    killed_at(fake, plan, "reload_postfix")
    seen = _status_during_rollback(fake)
    assert seen.state is HostState.IN_PROGRESS
    assert NODE not in seen.detail, seen.detail


@pytest.mark.parametrize("where", ["runtime", "state.json"])
def test_a_session_lost_before_the_journal_has_a_state_does_not_block_the_host(
    where: str,
) -> None:
    fake, plan = host()
    if where == "runtime":
        fake.fail("runtime", disconnect=True)
    else:
        state = f"{BASE}/journal/{plan.plan_id}/state.json"
        fake.fail("write_file", path=state, disconnect=True)
    with pytest.raises(TransportError):
        apply_plan(fake, plan, APPLY)
    assert all(w.path.startswith(f"{BASE}/") for w in fake.state.writes)
    seen = status(fake)
    assert not (seen.state is HostState.CLEAN and fake.locked), "clean, yet apply is refused"
    assert (seen.state, seen.step) == (HostState.INTERRUPTED, "lock")
    assert "went away before changing anything" in seen.detail
    # `migrator rollback`, as the refusal advises; "nothing to roll back" is a fine answer.
    with contextlib.suppress(NothingToRollBackError):
        rollback_latest(fake.connect_again())
    assert apply_plan(fake.connect_again(), plan, APPLY).outcome is Outcome.APPLIED
    assert not fake.locked


# -- status: every state --------------------------------------------------------------------


def _clean(fake: FakeTransport, plan: Plan) -> StatusReport:
    return status(fake)


def _planned(fake: FakeTransport, plan: Plan) -> StatusReport:
    return status(fake, ("20251201T000000Z-00000000", plan.plan_id))


def _in_progress(fake: FakeTransport, plan: Plan) -> StatusReport:
    seen: list[StatusReport] = []
    # While Postfix reloads (the step's journal entry went with its command).
    fake.meanwhile("reload_postfix", lambda: seen.append(status(fake)))
    apply_plan(fake, plan, APPLY)
    return seen[0]


def _interrupted(fake: FakeTransport, plan: Plan) -> StatusReport:
    killed_at(fake, plan, "probe_lmtp")
    return status(fake)


def _failed(fake: FakeTransport, plan: Plan) -> StatusReport:
    fake.fail("validate_postfix")
    apply_plan(fake, plan, APPLY)
    return status(fake)


def _migrated(fake: FakeTransport, plan: Plan) -> StatusReport:
    apply_plan(fake, plan, APPLY)
    return status(fake)


def _finalized(fake: FakeTransport, plan: Plan) -> StatusReport:
    apply_plan(fake, plan, APPLY)
    final = finalize_of(plan)
    assert apply_plan(fake.connect_again(), final, APPLY).outcome is Outcome.APPLIED
    report = status(fake)
    # The finalize's own plan id: the scenario's report speaks of it as of plan's.
    assert report.plan_id == final.plan_id and report.migration_plan_id == plan.plan_id
    return replace(report, plan_id=plan.plan_id)


def _drifted(fake: FakeTransport, plan: Plan) -> StatusReport:
    apply_plan(fake, plan, APPLY)
    fake.edit("/etc/dovecot/conf.d/20-lmtp.conf", b"protocol lmtp {\n}\n")
    return status(fake)


def _rolled_back(fake: FakeTransport, plan: Plan) -> StatusReport:
    apply_plan(fake, plan, APPLY)
    rollback_latest(fake.connect_again())
    return status(fake)


SCENARIOS: dict[HostState, tuple[Callable[[FakeTransport, Plan], StatusReport], str, str]] = {
    HostState.CLEAN: (_clean, "", ""),
    HostState.PLANNED: (_planned, "", "not applied"),
    HostState.IN_PROGRESS: (_in_progress, "reload_postfix", NODE),
    HostState.INTERRUPTED: (_interrupted, "probe_lmtp", f"control node {NODE} went away"),
    HostState.FAILED: (_failed, "validate_postfix", "`postfix check` rejected the config"),
    HostState.MIGRATED: (_migrated, "", ""),
    HostState.FINALIZED: (_finalized, "", "the LDA pipe service is removed (after migration"),
    HostState.DRIFTED: (_drifted, "", "changed since apply: /etc/dovecot/conf.d/20-lmtp.conf"),
    HostState.ROLLED_BACK: (_rolled_back, "", ""),
}


@pytest.mark.parametrize("state", list(HostState), ids=[s.name for s in HostState])
def test_status_reports_every_state(state: HostState) -> None:
    fake, plan = host()
    scenario, step, detail = SCENARIOS[state]
    report = scenario(fake, plan)
    assert report.host == fake.host
    assert report.state is state
    assert report.plan_id == ("" if state is HostState.CLEAN else plan.plan_id)
    assert report.step == step
    assert detail in report.detail
    assert bool(detail) == bool(report.detail)


def test_a_rolled_back_plan_can_be_applied_again() -> None:
    fake, plan = host()
    apply_plan(fake, plan, APPLY)
    assert rollback_latest(fake.connect_again()) is not None
    again = fake.connect_again()
    assert apply_plan(again, plan, APPLY).outcome is Outcome.APPLIED
    assert files_of(fake, plan) == planned_files(plan)
    assert status(fake).state is HostState.MIGRATED
    states = [s for s in fake.journal_states(plan.plan_id) if s.node == NODE]
    assert [s.step for s in states].count("start") == 2


def test_a_lock_left_after_a_finished_apply_is_named_and_taken_over() -> None:
    fake, plan = host()
    originals = files_of(fake, plan)
    fake.fail("unlock", raises=ControlNodeKilled(), disconnect=True)
    with pytest.raises(ControlNodeKilled):
        apply_plan(fake, plan, APPLY)
    assert fake.locked
    seen = status(fake)
    assert (seen.state, seen.plan_id) == (HostState.MIGRATED, plan.plan_id)
    assert "a lock from a dead session is left" in seen.detail
    # The apply was settled ("applied"): rollback takes the dead session's lock over.
    report = rollback_latest(fake.connect_again())
    assert report is not None and report.ok, report
    assert files_of(fake, plan) == originals
    assert not fake.locked
    assert status(fake).state is HostState.ROLLED_BACK
