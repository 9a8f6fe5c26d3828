"""apply on a fake host: the steps in order, the journal around them, and its refusals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from migrator.delivery.proof_mode import ProofMode
from migrator.errors import JournalError, PlanDriftError, UsageError
from migrator.executor.apply import ApplyOptions, Outcome, apply_plan
from migrator.executor.journal import BASE, JournalStatus
from migrator.executor.rollback import rollback_latest
from migrator.executor.status import HostState, StatusReport, host_status
from migrator.executor.step_log import StepEvent
from migrator.exit_status import ExitStatus
from migrator.plan.document import Step
from migrator.transport.base import FileData
from tests.unit.executor_host import (
    APPLY,
    COMMANDS,
    NAMES,
    NODE,
    actions_of,
    files_of,
    host,
    killed_at,
    planned_files,
    status,
    token,
)
from tests.unit.fake_host import FakeTransport


@pytest.mark.parametrize("name", NAMES)
def test_apply_switches_the_host_and_proves_lmtp_delivery(name: str) -> None:
    fake, plan = host(name)
    report = apply_plan(fake, plan, APPLY)
    assert report.outcome is Outcome.APPLIED
    assert report.outcome.exit_status is ExitStatus.SUCCESS
    assert int(report.outcome.exit_status) == 0
    assert (report.error, report.failed_step, report.rollback) == ("", "", None)
    assert [(t.action, t.ok) for t in report.steps] == [(a, True) for a in actions_of(plan)]
    assert files_of(fake, plan) == planned_files(plan)
    steps = [kind for a in actions_of(plan) for kind in COMMANDS.get(a, [a])]
    assert fake.kinds() == ["config_dirs", "lock", "runtime", "prepare", *steps, "unlock"]
    assert not fake.locked
    # The A/B proof: each kind as the LDA delivered it, now over LMTP.
    assert [(p.kind, p.verdict) for p in report.proof] == [
        ("plain", "same"),
        ("8bit", "same"),
        ("smtputf8", "same"),
        ("detail", "same"),
        ("list", "same"),
    ]
    for kind in report.proof:
        assert kind.before.via == ("dovecot",), kind.before
        assert kind.after is not None and len(kind.after.via) == 1
        assert plan.lmtp_endpoint.relay_matches(kind.after.via[0]), kind.after.via
    assert len(fake.state.messages) == 2 * len(report.proof)


@pytest.mark.parametrize("name", NAMES)
def test_dovecot_listens_before_postfix_is_pointed_at_it(name: str) -> None:
    fake, plan = host(name)
    apply_plan(fake, plan, APPLY)
    events = fake.state.events
    dovecot = [i for i, (k, p) in enumerate(events) if k == "write" and "/dovecot/" in p]
    postfix = [i for i, (k, p) in enumerate(events) if k == "write" and "/postfix/" in p]
    wait = "wait_socket" if plan.lmtp_endpoint.is_unix else "wait_port"
    order = [events.index((k, "")) for k in ("reload_dovecot", wait, "probe_lmtp")]
    later = [events.index(("reload_postfix", "")), len(events) - events[::-1].index(("batch", ""))]
    assert dovecot and postfix
    assert max(dovecot) < order[0] < order[1] < order[2] < min(postfix) < later[0] < later[1]


def test_journal_is_written_before_and_after_each_step() -> None:
    fake, plan = host()
    originals = files_of(fake, plan)
    apply_plan(fake, plan, APPLY)
    actions = actions_of(plan)
    expected: list[tuple[JournalStatus, str, tuple[str, ...]]]
    expected = [(JournalStatus.APPLYING, "start", ())]
    for i, action in enumerate(actions):
        expected.append((JournalStatus.APPLYING, action, tuple(actions[:i])))
        expected.append((JournalStatus.APPLYING, action, tuple(actions[: i + 1])))
    expected.append((JournalStatus.APPLIED, "done", tuple(actions)))
    states = fake.journal_states(plan.plan_id)
    assert [(s.status, s.step, s.steps_done) for s in states] == expected
    assert {
        (o.path, o.existed, o.owner, o.group, o.mode, o.sha256) for o in states[0].originals
    } == {(p, True, d.owner, d.group, d.mode, d.sha256) for p, d in originals.items()}
    # Interleaved: originals, the state, then per step: the state, the step, the state.
    tokens = [token(kind, path) for kind, path in fake.state.events]
    stream = ["config_dirs", "lock", "runtime", "prepare", *["orig"] * len(originals)]
    stream += ["state", "current"]
    for step in plan.steps:
        stream += ["state", *_step_tokens(step), "state"]
    assert tokens == [*stream, "state", "unlock"]


def _step_tokens(step: Step) -> list[str]:
    if step.action == "write_file":
        return [f"write {step.args['path']}"]
    return COMMANDS.get(step.action, [step.action])


def test_originals_are_kept_in_the_journal_before_any_config_is_written() -> None:
    fake, plan = host()
    originals = files_of(fake, plan)
    apply_plan(fake, plan, APPLY)
    copies = [w for w in fake.state.writes if "/orig/" in w.path]
    first_config = min(i for i, w in enumerate(fake.state.writes) if w.path in originals)
    assert all(fake.state.writes.index(c) < first_config for c in copies)
    assert [c.content for c in copies] == [originals[p].content for p in sorted(originals)]
    assert {(c.owner, c.group, c.mode) for c in copies} == {("root", "root", 0o600)}
    assert all(c.path.startswith(f"{BASE}/journal/{plan.plan_id}/orig/") for c in copies)


@pytest.mark.parametrize(
    ("manager", "dovecot", "postfix"),
    [
        ("systemd", ("systemctl", "reload", "dovecot"), ("systemctl", "reload", "postfix")),
        ("service", ("service", "dovecot", "reload"), ("service", "postfix", "reload")),
        ("direct", ("doveadm", "reload"), ("postfix", "reload")),
    ],
)
def test_daemons_are_reloaded_the_way_the_host_runs_them(
    manager: str, dovecot: tuple[str, ...], postfix: tuple[str, ...]
) -> None:
    fake, plan = host()
    fake.state.managers = (manager, manager)
    assert apply_plan(fake, plan, APPLY).outcome is Outcome.APPLIED
    reloads = [c.argv for c in fake.state.commands if c.kind.startswith("reload_")]
    assert reloads == [dovecot, postfix]


def test_a_plan_without_changes_touches_nothing() -> None:
    fake, plan = host()
    report = apply_plan(fake, replace(plan, files=(), steps=()), APPLY)
    assert report.outcome is Outcome.NO_CHANGES
    assert report.outcome.exit_status == ExitStatus.SUCCESS
    assert fake.state.commands == []
    assert fake.state.writes == []


def test_the_test_recipient_given_is_probed_and_sent_to_in_apply_and_rollback() -> None:
    fake, plan = host()
    fake.fail("reload_postfix")
    options = ApplyOptions(rollback_on_fail=True, test_recipient="bob@example.test", node=NODE)
    report = apply_plan(fake, plan, options)
    assert report.outcome is Outcome.ROLLED_BACK
    probe = next(c for c in fake.state.commands if c.kind == "probe_lmtp")
    assert "RCPT TO:<bob@example.test>" in probe.argv
    sent = [c.argv[-1] for c in fake.state.commands if c.kind in ("batch", "sendmail")]
    # The LDA's proof batch; then the rollback's test: apply failed before its own.
    assert sent == ["bob@example.test", "bob@example.test"]
    assert fake.journal_states(plan.plan_id)[0].test_recipient == "bob@example.test"


def test_without_a_test_recipient_nothing_is_done() -> None:
    fake, plan = host()
    steps = tuple(s for s in plan.steps if s.action != "test_delivery")
    with pytest.raises(UsageError, match="no test recipient"):
        apply_plan(fake, replace(plan, steps=steps), APPLY)
    assert fake.state.commands == []


# -- refusals: nothing changes --------------------------------------------------------------


def test_apply_is_refused_while_another_live_session_holds_the_lock() -> None:
    fake, plan = host()
    files = dict(fake.state.files)
    other = fake.hold_lock("20251231T235959Z-0badf00d", "ctl-02:99", alive=True)
    with pytest.raises(
        JournalError, match="by plan 20251231T235959Z-0badf00d from ctl-02:99, running"
    ):
        apply_plan(fake, plan, APPLY)
    assert fake.kinds(fake.session) == ["config_dirs", "lock"]
    assert [w.path for w in fake.state.writes] == []
    assert fake.state.files.keys() - files.keys() == {f"{BASE}/lock/owner"}
    assert {p: fake.state.files[p] for p in files} == files
    owner = (fake.file(f"{BASE}/lock/owner").content or b"").decode()
    assert fake.locked and f"holder={other.session}\n" in owner


def test_apply_is_refused_while_an_apply_runs_and_status_sees_it() -> None:
    fake, plan = host()
    seen: dict[str, object] = {}

    def meanwhile() -> None:
        seen["status"] = status(fake)
        other = fake.connect_again()
        for key, attempt in (
            ("apply", lambda: apply_plan(other, plan, APPLY)),
            ("rollback", lambda: rollback_latest(other)),
        ):
            try:
                attempt()
            except JournalError as exc:
                seen[key] = str(exc)
        seen["writes"] = [w.path for w in fake.state.writes if w.session == other.session]

    # While the probe runs (the step's journal entry went with its command).
    fake.meanwhile("probe_lmtp", meanwhile)
    assert apply_plan(fake, plan, APPLY).outcome is Outcome.APPLIED
    assert seen["status"] == StatusReport(
        fake.host, HostState.IN_PROGRESS, plan.plan_id, "probe_lmtp", NODE
    )
    assert f"locked by plan {plan.plan_id} from {NODE}, running" in str(seen["apply"])
    assert f"an apply is running from {NODE}" in str(seen["rollback"])
    assert seen["writes"] == []


def test_a_dead_sessions_lock_is_taken_over_when_its_apply_changed_nothing() -> None:
    fake, plan = host()
    fake.hold_lock("20251231T235959Z-0badf00d", "ctl-02:99", alive=False)
    assert apply_plan(fake, plan, APPLY).outcome is Outcome.APPLIED
    # The lock names a plan with no state: nothing is half done, so it is taken over.
    assert fake.kinds(fake.session)[:4] == ["config_dirs", "lock", "journal_read", "lock"]
    assert not fake.locked


def test_apply_is_refused_after_an_interrupted_apply_whose_session_is_gone() -> None:
    fake, plan = host()
    killed_at(fake, plan, "reload_postfix")
    files = dict(fake.state.files)
    other = fake.connect_again()
    with pytest.raises(JournalError, match="interrupted \\(its SSH session is gone\\)"):
        apply_plan(other, plan, APPLY)
    assert [w for w in fake.state.writes if w.session == other.session] == []
    assert fake.state.files == files
    assert fake.locked


@pytest.mark.parametrize("how", ["edited", "removed"])
def test_a_file_changed_since_planning_is_refused_before_anything_is_written(how: str) -> None:
    fake, plan = host()
    path = "/etc/postfix/transport"
    if how == "edited":
        fake.edit(path, (fake.file(path).content or b"") + b"other.test  dovecot:\n")
    else:
        del fake.state.files[path]
    with pytest.raises(PlanDriftError) as caught:
        apply_plan(fake, plan, APPLY)
    assert f"changed since the plan was made: {path};" in str(caught.value)
    # The runtime is read by the lock's own round trip, before the drift check.
    assert fake.kinds() == ["config_dirs", "lock", "runtime", "unlock"]
    assert fake.state.writes == []
    assert not fake.locked
    assert status(fake).state is HostState.CLEAN


@pytest.mark.parametrize(
    ("kind", "message"),
    [("lock", "cannot create /var/lib/migrator"), ("prepare", "cannot open the journal")],
)
def test_a_journal_that_cannot_be_opened_changes_nothing(kind: str, message: str) -> None:
    fake, plan = host()
    files = files_of(fake, plan)
    fake.fail(kind)
    with pytest.raises(JournalError, match=message):
        apply_plan(fake, plan, APPLY)
    assert fake.state.writes == []
    assert files_of(fake, plan) == files
    assert not fake.locked


# -- a journal that is not root's alone -----------------------------------------------------


def _planted(fake: FakeTransport) -> None:
    """A local user's state.json, for rollback to trust, in a journal otherwise root's."""
    fake.make_dir(f"{BASE}/journal/20250101T000000Z-0badf00d", mode=0o700)
    path = f"{BASE}/journal/20250101T000000Z-0badf00d/state.json"
    fake.state.files[path] = FileData(path, b"{}", "mallory", "mallory", 0o644)


UNSAFE: dict[str, tuple[Callable[[FakeTransport], None], str]] = {
    "owner": (lambda f: f.make_dir(BASE, owner="mallory", mode=0o700), "owned by mallory"),
    "mode": (lambda f: f.make_dir(BASE, mode=0o777), "writable by group or others"),
    "symlink": (lambda f: f.make_dir(BASE, link=True), "is a symlink"),
    "parent": (lambda f: f.make_dir("/var/lib", mode=0o775), "/var/lib is writable by group"),
    "planted": (_planted, "state.json is not root's alone"),
}


@pytest.mark.parametrize("how", list(UNSAFE))
def test_the_journal_refuses_an_unsafe_base_directory(how: str) -> None:
    fake, plan = host()
    make_unsafe, why = UNSAFE[how]
    make_unsafe(fake)
    files = dict(fake.state.files)
    with pytest.raises(JournalError, match="refusing the journal, nothing was changed") as caught:
        apply_plan(fake, plan, APPLY)
    assert why in str(caught.value)
    assert fake.kinds() == ["config_dirs", "lock"]
    assert fake.state.writes == []
    assert fake.state.files == files
    assert not fake.locked
    # status and rollback, from anywhere, refuse it the same way.
    for attempt in (host_status, rollback_latest):
        with pytest.raises(JournalError, match=why):
            attempt(fake.connect_again())


def test_a_plan_without_proof_before_needs_proof_basic() -> None:
    fake, plan = host()
    old = replace(plan, steps=tuple(s for s in plan.steps if s.action != "proof_before"))
    with pytest.raises(UsageError, match=r"no proof_before step .* --proof basic"):
        apply_plan(fake, old, APPLY)
    assert fake.state.commands == []
    report = apply_plan(fake, old, replace(APPLY, proof=ProofMode.BASIC))
    assert report.outcome is Outcome.APPLIED and report.proof == ()
    assert report.delivery is not None and report.delivery.message_id in fake.state.messages
    assert "batch" not in fake.kinds()


def test_proof_basic_sends_no_batch_and_shows_proof_before_skipped() -> None:
    fake, plan = host()
    events: list[StepEvent] = []
    report = apply_plan(fake, plan, replace(APPLY, proof=ProofMode.BASIC), events.append)
    assert report.outcome is Outcome.APPLIED and report.proof == ()
    first = report.steps[0]
    assert (first.action, first.seconds, first.ok) == ("proof_before", 0.0, True)
    assert first.skipped.startswith("proof basic")
    assert not any(t.skipped for t in report.steps[1:])
    [event] = [e for e in events if e.action == "proof_before"]  # no "started" event
    assert (event.seconds, event.skipped) == (0.0, first.skipped)
    assert fake.kinds().count("sendmail") == 1 and "batch" not in fake.kinds()
    # Not a step that ran: the journal never recorded it.
    states = fake.journal_states(plan.plan_id)
    assert states[-1].status is JournalStatus.APPLIED
    assert not any("proof_before" in (s.step, *s.steps_done) for s in states)


def test_the_default_proof_is_the_ab_proof() -> None:
    assert ApplyOptions().proof is ProofMode.AB
    fake, plan = host()
    report = apply_plan(fake, plan, ApplyOptions(node=NODE))
    assert report.proof and not any(t.skipped for t in report.steps)
    assert fake.kinds().count("batch") == 2
