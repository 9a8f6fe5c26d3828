"""rollback on a fake host: after a failure at every step, and from another control node."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.errors import PlanDriftError, PlanError
from migrator.executor.apply import ApplyReport, Outcome, apply_plan
from migrator.executor.journal import BASE, RESERVE_BYTES, JournalStatus
from migrator.executor.rollback import NothingToRollBackError, rollback_latest
from migrator.executor.status import HostState
from migrator.exit_status import ExitStatus
from migrator.plan.document import Plan, Step
from tests.unit.executor_host import (
    APPLY,
    APPLY_OR_ROLL_BACK,
    NAMES,
    actions_of,
    daemons,
    files_of,
    host,
    planned,
    planned_files,
    status,
    token,
    written_before,
)
from tests.unit.fake_host import FakeTransport

ERRORS_RELOAD_POSTFIX = (
    "systemctl reload postfix failed: postfix/postfix-script: fatal: the Postfix mail system"
)


def test_rollback_points_postfix_back_before_dovecot_drops_the_listener() -> None:
    fake, plan = host()
    apply_plan(fake, plan, APPLY)
    other = fake.connect_again()
    start = len(fake.state.events)
    report = rollback_latest(other)
    assert report is not None and report.ok
    assert [s.action for s in report.steps] == [
        "restore_files",
        "postmap",
        "reload_postfix",
        "reload_dovecot",
        "verify_files",
        "test_delivery",
    ]
    tokens = [token(k, p) for k, p in fake.state.events[start:]]
    restored = sorted(f"write {c.path}" for c in plan.files)
    assert sorted(t for t in tokens if t.startswith("write ")) == restored
    last_restore = max(i for i, t in enumerate(tokens) if t.startswith("write "))
    # The drain lists Postfix's lmtp agents, then reloads Postfix, then waits for those.
    steps = ("postmap", "wait_lmtp", "reload_postfix", "reload_dovecot", "sendmail")
    order = [tokens.index(k) for k in steps]
    assert last_restore < order[0] and order == sorted(order)
    assert report.delivery is not None and report.delivery.relay == "dovecot"


def test_rollback_reloads_postfix_inside_the_lmtp_drain_as_the_host_does() -> None:
    """One round trip lists the lmtp agents, reloads Postfix as the host reloads it, and waits
    (at most 30 s) for only the agents listed, so none started after the reload is waited for."""
    fake, plan = host()
    fake.state.managers = ("service", "service")
    apply_plan(fake, plan, APPLY)
    other = fake.connect_again()
    report = rollback_latest(other)
    assert report is not None and report.ok
    kinds = fake.kinds(other.session)
    assert "reload_postfix" not in kinds  # no reload outside the drain
    [drain] = [
        c for c in fake.state.commands if c.session == other.session and c.kind == "wait_lmtp"
    ]
    assert drain.argv[4:] == ("300", "service", "postfix", "reload")
    assert kinds.index("wait_lmtp") < kinds.index("reload_dovecot")
    assert daemons(fake) == daemons(host()[0])  # Postfix reloaded back to the LDA


def test_rollback_reloads_dovecot_even_when_lmtp_deliveries_outlast_the_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Postfix's lmtp agents still busy after the wait: Dovecot is reloaded all the same (the
    rollback must finish), and the log says deliveries were still running."""
    fake, plan = host()
    apply_plan(fake, plan, APPLY)
    fake.state.lmtp_busy = ("4242",)
    report = rollback_latest(fake.connect_again())
    assert report is not None and report.ok
    actions = [s.action for s in report.steps]
    assert actions.index("reload_postfix") + 1 == actions.index("reload_dovecot")
    assert "LMTP deliveries still running (busy 4242); reloading Dovecot" in caplog.text
    assert report.delivery is not None and report.delivery.relay == "dovecot"


@pytest.mark.parametrize(
    ("fault", "error", "left"),
    [
        ({}, ERRORS_RELOAD_POSTFIX, HostState.FAILED),
        (
            {"stdout": "Job for postfix.service failed.", "stderr": ""},
            "Job for postfix.service",
            HostState.FAILED,
        ),
        # The lock stays with the lost session; the retry takes it over.
        ({"disconnect": True}, "connection lost", HostState.INTERRUPTED),
    ],
    ids=["fails", "says-it-on-stdout", "connection-lost"],
)
def test_a_failed_postfix_reload_stops_the_rollback_before_dovecot_reloads(
    fault: dict[str, Any], error: str, left: HostState
) -> None:
    """The reload inside the drain fails as the reload_postfix command did: the rollback
    stops at reload_postfix, Dovecot keeps its listener, and a retry finishes the job."""
    fake, plan = host()
    originals, running = files_of(fake, plan), daemons(fake)
    apply_plan(fake, plan, APPLY)
    applied = daemons(fake)
    fake.fail("reload_postfix", **fault)
    report = rollback_latest(fake.connect_again())
    assert report is not None and not report.ok
    assert error in report.error, report.error
    assert [(t.action, t.ok) for t in report.steps][-1] == ("reload_postfix", False)
    assert daemons(fake)[:2] == applied[:2]  # neither daemon took the restored files
    assert fake.locked is (left is HostState.INTERRUPTED)
    assert status(fake).state is left
    retry = rollback_latest(fake.connect_again())
    assert retry is not None and retry.ok, retry
    assert (files_of(fake, plan), daemons(fake)) == (originals, running)


def test_ctrl_c_during_the_rollbacks_postfix_reload_is_not_swallowed() -> None:
    fake, plan = host()
    apply_plan(fake, plan, APPLY)
    fake.fail("reload_postfix", raises=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        rollback_latest(fake.connect_again())


# -- a failure at every step ----------------------------------------------------------------

# What the report's error says when the step fails as fake_host.FAILURES makes it fail.
ERRORS = {
    "write_file": "No space left on device",
    "validate_dovecot": "`doveconf -n` rejected the config: doveconf: Fatal: Error in config",
    "reload_dovecot": "systemctl reload dovecot failed: Job for dovecot.service failed",
    "wait_socket": "socket is 'missing' after 10s, expected 'postfix postfix 600'",
    "wait_port": "nothing accepts connections on 127.0.0.1:24 after 10s",
    "probe_lmtp": "RCPT TO:<alice@example.test> answered 550 5.1.1",
    "postmap": "`postmap hash:/etc/postfix/transport` rejected the config: postmap: fatal",
    "validate_postfix": "`postfix check` rejected the config: postfix/postfix-script: fatal",
    "reload_postfix": ERRORS_RELOAD_POSTFIX,
    "test_delivery": "LMTP delivered 5 kind(s) unlike the LDA: plain: delivered 2.0.0: ",
    "proof_before": "the LDA did not deliver the plain proof message (deferred)",
}
EVERY_STEP = [(name, i) for name in NAMES for i in range(len(planned(name)[1].steps))]
STEP_IDS = [f"{name}-{i:02d}-{planned(name)[1].steps[i].action}" for name, i in EVERY_STEP]


def break_step(fake: FakeTransport, step: Step) -> None:
    """Make this step fail once, the way the host would."""
    if step.action == "write_file":
        fake.fail("write_file", path=step.args["path"])
    elif step.action == "proof_before":
        fake.fail("batch")
    elif step.action == "test_delivery":
        batches: list[tuple[str, ...]] = []
        fake.fail("batch", when=lambda argv: bool(batches.append(argv)) or len(batches) > 1)
    else:
        fake.fail(step.action)


@pytest.mark.parametrize(("name", "index"), EVERY_STEP, ids=STEP_IDS)
def test_a_failed_step_is_rolled_back_byte_identical(name: str, index: int) -> None:
    fake, plan = host(name)
    step = plan.steps[index]
    originals, running = files_of(fake, plan), daemons(fake)
    break_step(fake, step)
    report = apply_plan(fake, plan, APPLY_OR_ROLL_BACK)
    _check_failed(report, plan, index, Outcome.ROLLED_BACK)
    assert report.outcome.exit_status is ExitStatus.ROLLED_BACK
    assert int(report.outcome.exit_status) == 3
    assert report.rollback is not None and report.rollback.ok, report.rollback
    assert set(report.rollback.restored) == written_before(plan, index)
    assert files_of(fake, plan) == originals
    assert daemons(fake) == running
    assert report.rollback.delivery is not None
    assert report.rollback.delivery.relay in plan.lda_services
    last = fake.journal_states(plan.plan_id)[-1]
    assert (last.status, last.step) == (JournalStatus.ROLLED_BACK, "done")
    assert ERRORS[step.action] in last.error
    assert not fake.locked
    assert status(fake).state is HostState.ROLLED_BACK


@pytest.mark.parametrize(("name", "index"), EVERY_STEP, ids=STEP_IDS)
def test_a_failed_step_without_rollback_needs_attention_then_rolls_back(
    name: str, index: int
) -> None:
    fake, plan = host(name)
    step = plan.steps[index]
    originals, running = files_of(fake, plan), daemons(fake)
    break_step(fake, step)
    report = apply_plan(fake, plan, APPLY)
    _check_failed(report, plan, index, Outcome.NEEDS_ATTENTION)
    assert report.outcome.exit_status is ExitStatus.NEEDS_ATTENTION
    assert int(report.outcome.exit_status) == 4
    assert report.rollback is None
    written = written_before(plan, index)
    assert files_of(fake, plan) == {
        p: planned_files(plan)[p] if p in written else d for p, d in originals.items()
    }
    last = fake.journal_states(plan.plan_id)[-1]
    assert (last.status, last.step, last.steps_done) == (
        JournalStatus.FAILED,
        step.action,
        tuple(actions_of(plan)[:index]),
    )
    assert not fake.locked
    failed = status(fake)
    assert (failed.state, failed.step) == (HostState.FAILED, step.action)
    assert ERRORS[step.action] in failed.detail

    later = rollback_latest(fake.connect_again())
    assert later is not None and later.ok, later
    assert set(later.restored) == written
    assert files_of(fake, plan) == originals
    assert daemons(fake) == running
    assert fake.journal_states(plan.plan_id)[-1].status is JournalStatus.ROLLED_BACK
    assert not fake.locked
    assert status(fake).state is HostState.ROLLED_BACK


def _check_failed(report: ApplyReport, plan: Plan, index: int, outcome: Outcome) -> None:
    step = plan.steps[index]
    assert report.outcome is outcome
    assert (report.failed_step, report.interrupted) == (step.action, False)
    assert ERRORS[step.action] in report.error, report.error
    assert [t.action for t in report.steps] == actions_of(plan)[: index + 1]
    assert [t.ok for t in report.steps] == [True] * index + [False]


def test_every_action_of_the_plans_can_be_broken() -> None:
    actions = {s.action for name in NAMES for s in planned(name)[1].steps}
    assert actions == set(ERRORS)


def test_ctrl_c_during_apply_rolls_back() -> None:
    fake, plan = host()
    originals = files_of(fake, plan)
    fake.fail("reload_postfix", raises=KeyboardInterrupt())
    report = apply_plan(fake, plan, APPLY_OR_ROLL_BACK)
    assert (report.outcome, report.interrupted, report.error) == (
        Outcome.ROLLED_BACK,
        True,
        "interrupted",
    )
    assert report.failed_step == "reload_postfix"
    assert files_of(fake, plan) == originals
    assert not fake.locked


def test_a_failed_rollback_needs_attention_and_can_be_retried() -> None:
    fake, plan = host()
    originals = files_of(fake, plan)
    fake.fail("reload_postfix", times=2)  # apply's reload, then the rollback's
    report = apply_plan(fake, plan, APPLY_OR_ROLL_BACK)
    assert report.outcome is Outcome.NEEDS_ATTENTION
    assert report.outcome.exit_status == ExitStatus.NEEDS_ATTENTION
    assert report.rollback is not None and not report.rollback.ok
    assert "the Postfix mail system is not running" in report.rollback.error
    last = fake.journal_states(plan.plan_id)[-1]
    assert (last.status, last.step) == (JournalStatus.FAILED, "rollback")
    assert not fake.locked
    assert status(fake).state is HostState.FAILED
    retry = rollback_latest(fake.connect_again())
    assert retry is not None and retry.ok
    assert retry.restored == ()  # the first rollback had put the files back already
    assert files_of(fake, plan) == originals
    assert status(fake).state is HostState.ROLLED_BACK


def test_a_damaged_journal_copy_stops_the_rollback_before_any_write() -> None:
    fake, plan = host()
    fake.fail("reload_postfix")
    apply_plan(fake, plan, APPLY)
    after = files_of(fake, plan)
    copy = next(w.path for w in fake.state.writes if "/orig/" in w.path)
    fake.edit(copy, b"truncated")
    other = fake.connect_again()
    report = rollback_latest(other)
    assert report is not None and not report.ok
    assert "missing or damaged" in report.error
    assert {w.path.rsplit("/", 1)[1] for w in fake.state.writes if w.session == other.session} == {
        "state.json"
    }
    assert files_of(fake, plan) == after
    assert not fake.locked


# -- rollback_latest's refusals -------------------------------------------------------------


def test_rollback_of_a_host_never_applied_is_refused() -> None:
    fake, _ = host()
    with pytest.raises(NothingToRollBackError, match="no apply is recorded"):
        rollback_latest(fake)
    assert fake.kinds() == ["peek"]


def test_rollback_of_an_unknown_plan_id_is_refused() -> None:
    fake, plan = host()
    apply_plan(fake, plan, APPLY)
    other = fake.connect_again()
    with pytest.raises(PlanError, match="unknown plan id '20250101T000000Z-12345678'"):
        rollback_latest(other, "20250101T000000Z-12345678")
    assert fake.kinds(other.session) == ["peek", "journal_read"]


def test_rollback_twice_does_nothing_the_second_time() -> None:
    fake, plan = host()
    apply_plan(fake, plan, APPLY)
    assert rollback_latest(fake.connect_again()) is not None
    again = fake.connect_again()
    assert rollback_latest(again) is None
    assert fake.kinds(again.session) == ["peek", "journal_read"]
    assert not fake.locked


# -- a file edited after apply --------------------------------------------------------------

EDITED = "/etc/dovecot/conf.d/20-lmtp.conf"
ADMIN_EDIT = b"protocol lmtp {\n  mail_plugins = quota\n}\n"


def test_rollback_refuses_a_file_edited_after_apply_unless_forced() -> None:
    fake, plan = host()
    originals = files_of(fake, plan)
    apply_plan(fake, plan, APPLY)
    fake.edit(EDITED, ADMIN_EDIT)
    other = fake.connect_again()
    with pytest.raises(PlanDriftError, match=f"edited since apply: {EDITED} \\(kept in ") as caught:
        rollback_latest(other)
    copy = str(caught.value).split("kept in ", 1)[1].split(")", 1)[0]
    assert copy.startswith(f"{BASE}/journal/{plan.plan_id}/drift/")
    assert fake.file(copy).content == ADMIN_EDIT
    assert (fake.file(copy).owner, fake.file(copy).mode) == ("root", 0o600)
    assert f"migrator rollback {fake.host} --force" in str(caught.value)
    # Nothing restored, nothing reloaded, the lock released: the host is as the admin left it.
    assert [w.path for w in fake.state.writes if w.session == other.session] == [copy]
    assert fake.file(EDITED).content == ADMIN_EDIT
    reloads = {"postmap", "wait_lmtp", "reload_postfix", "reload_dovecot"}
    assert not reloads & set(fake.kinds(other.session))
    assert not fake.locked
    assert status(fake).state is HostState.DRIFTED

    forced = rollback_latest(fake.connect_again(), force=True)
    assert forced is not None and forced.ok, forced
    assert EDITED in forced.restored
    assert files_of(fake, plan) == originals
    assert fake.file(copy).content == ADMIN_EDIT  # the edit is still kept in the journal
    assert status(fake).state is HostState.ROLLED_BACK


def test_an_edit_between_rollbacks_check_and_its_write_is_not_overwritten() -> None:
    fake, plan = host()
    apply_plan(fake, plan, APPLY)
    applied = files_of(fake, plan)
    fake.meanwhile("write_file", lambda: fake.edit(EDITED, ADMIN_EDIT), path=EDITED)
    report = rollback_latest(fake.connect_again())
    assert report is not None and not report.ok
    assert "changed on the host since it was checked" in report.error, report.error
    assert EDITED not in report.restored
    assert fake.file(EDITED).content == ADMIN_EDIT
    assert not fake.locked
    last = fake.journal_states(plan.plan_id)[-1]
    assert (last.status, last.step) == (JournalStatus.FAILED, "rollback")
    # The retry sees the edit, keeps it and refuses it: nothing is silently discarded.
    with pytest.raises(PlanDriftError, match=f"edited since apply: {EDITED}"):
        rollback_latest(fake.connect_again())
    assert fake.file(EDITED).content == ADMIN_EDIT
    assert applied[EDITED].content != ADMIN_EDIT


def test_an_edit_between_applys_check_and_its_write_is_not_overwritten() -> None:
    fake, plan = host()
    path = next(s.args["path"] for s in plan.steps if s.action == "write_file")
    edit = (fake.file(path).content or b"") + b"# the admin's line\n"
    fake.meanwhile("write_file", lambda: fake.edit(path, edit), path=path)
    report = apply_plan(fake, plan, APPLY_OR_ROLL_BACK)
    assert report.outcome is Outcome.NEEDS_ATTENTION
    assert report.failed_step == "write_file"
    assert "changed on the host since it was checked" in report.error, report.error
    # Rollback finds the file neither as it was nor as apply would write it, and refuses it.
    assert report.rollback is not None and not report.rollback.ok
    assert f"edited since apply: {path}" in report.rollback.error
    assert fake.file(path).content == edit
    assert [w for w in fake.state.writes if w.path == path] == []
    assert not fake.locked


def test_a_full_disk_at_rollback_gives_up_the_reserve_to_record_its_state() -> None:
    fake, plan = host()
    apply_plan(fake, plan, APPLY)
    reserve = f"{BASE}/journal/{plan.plan_id}/reserve"
    assert len(fake.file(reserve).content or b"") == RESERVE_BYTES
    fake.fail("write_file", path=f"{BASE}/journal/{plan.plan_id}/state.json")
    other = fake.connect_again()
    report = rollback_latest(other)
    assert report is not None and report.ok, report
    # The first state write failed (disk full): the reserve went, and the state was written.
    kinds = fake.kinds(other.session)
    assert kinds.index("rm") < kinds.index("postmap")
    assert not fake.file(reserve).exists
    last = fake.journal_states(plan.plan_id)[-1]
    assert (last.status, last.step) == (JournalStatus.ROLLED_BACK, "done")
    assert [s.status for s in fake.journal_states(plan.plan_id)].count(
        JournalStatus.ROLLING_BACK
    ) == 1
