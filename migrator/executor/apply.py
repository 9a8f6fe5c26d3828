"""apply: run a saved plan on a live host as one journaled, reversible transaction.

Order (domain.md): lock and journal, drift check, then the plan's steps, each recorded in
the remote journal before and after it runs. Any failure (or Ctrl-C) with rollback_on_fail
hands over to ``rollback.rollback_host``, which puts every byte back and proves the old LDA
path delivers; without it the host is left journaled as the failure left it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from migrator.address import check_recipient
from migrator.delivery import ab, proof
from migrator.delivery.corpus import traits_from_facts
from migrator.delivery.outcome import KindProof
from migrator.delivery.proof_mode import DEFAULT_PROOF, ProofMode
from migrator.errors import DeliveryError, MigratorError, UsageError
from migrator.executor import actions, scope, services
from migrator.executor.carry import CarryingTransport
from migrator.executor.journal import Journal, JournalState, JournalStatus, quietly
from migrator.executor.opening import Opened, check_drift, open_journal
from migrator.executor.rollback import RollbackReport, lda_relay_matcher, rollback_host
from migrator.executor.status import require_migrated
from migrator.executor.step_log import Notify, StepLog, StepTiming, ignore
from migrator.exit_status import ExitStatus
from migrator.host.queue import check_queue
from migrator.plan.document import FileChange, Plan, Step
from migrator.transport.base import Transport


class Outcome(StrEnum):
    """How an apply ended for one host."""

    APPLIED = "applied"
    NO_CHANGES = "no changes"
    ROLLED_BACK = "rolled back"
    NEEDS_ATTENTION = "needs attention"

    @property
    def exit_status(self) -> ExitStatus:
        """The exit code of a run that ended so (the README's table)."""
        return _EXIT_STATUS[self]


_EXIT_STATUS = {
    Outcome.APPLIED: ExitStatus.SUCCESS,
    Outcome.NO_CHANGES: ExitStatus.SUCCESS,
    Outcome.ROLLED_BACK: ExitStatus.ROLLED_BACK,
    Outcome.NEEDS_ATTENTION: ExitStatus.NEEDS_ATTENTION,
}


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """What happened on one host: outcome, each step with its timing, the error if any."""

    host: str
    plan_id: str
    outcome: Outcome
    steps: tuple[StepTiming, ...] = ()
    error: str = ""
    failed_step: str = ""
    interrupted: bool = False
    rollback: RollbackReport | None = None
    delivery: proof.DeliveryRecord | None = None
    proof: tuple[KindProof, ...] = ()  # the A/B proof, kind by kind (apply --proof ab)
    proof_skipped: tuple[str, ...] = ()  # "smtputf8: smtputf8_enable = no"


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    rollback_on_fail: bool = False
    test_recipient: str | None = None
    delivery_timeout: float = 20.0
    proof: ProofMode = DEFAULT_PROOF
    node: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


def apply_plan(
    transport: Transport, plan: Plan, options: ApplyOptions, notify: Notify = ignore
) -> ApplyReport:
    """Apply plan to the host behind transport and prove delivery over LMTP.

    Raises (with nothing changed on the host) UsageError, JournalError when the host is
    locked or its journal unsafe or full, PlanDriftError when a file no longer matches the
    plan, TransportError. The journal (originals, state, space for rollback) is complete
    before the first write; failures after it, the journal's own included, are reported in
    the ApplyReport (rolled back or needs attention), never raised.
    """
    if not plan.has_changes:
        return ApplyReport(transport.host, plan.plan_id, Outcome.NO_CHANGES)
    recipient, follows = _before_the_lock(transport, plan, options)
    journal = Journal(transport, plan.plan_id)
    # How the host runs its daemons and where Postfix logs: read by the lock's round trip.
    runtime = services.parse_runtime(journal.lock(options.node, then=services.RUNTIME_SCRIPT))
    log = StepLog(transport.host, notify)
    try:
        originals = check_drift(transport, plan)
        _preconditions(transport, plan, log)
        opened = Opened(originals, recipient, runtime, options.node, follows)
        state = open_journal(journal, plan, opened)
    except BaseException:
        journal.unlock()
        raise
    run = _Run(transport, plan, runtime, journal, state, log, options)
    try:
        for step in plan.steps:
            run.step(step)
        # Recording "applied" is part of the transaction: if it fails, the apply fails. The
        # unlock carries it, and runs only once it is written.
        run.state = run.state.with_step("done", JournalStatus.APPLIED)
        run.transport.carry([run.state])
        Journal(run.transport, plan.plan_id).unlock()
    except (MigratorError, KeyboardInterrupt) as exc:
        return run.fail(exc, options.rollback_on_fail)
    return run.report(Outcome.APPLIED)


def _before_the_lock(transport: Transport, plan: Plan, options: ApplyOptions) -> tuple[str, str]:
    """The test recipient, and (a finalize) the plan id of the apply it follows.

    Raises UsageError (no or a bad recipient), PlanError (files outside the host's config
    directories), RefusedError (a finalize on a host not migrated), JournalError, TransportError.
    """
    recipient = options.test_recipient or _planned_recipient(plan)
    if not recipient:
        raise UsageError("no test recipient: give --test-recipient ADDR", host=transport.host)
    # Checked here, before the lock, whatever it came from (option, inventory, plan file).
    _check_inputs(plan, options.proof, recipient, transport.host)
    # The host, not the plan, says where its configs live: refuse before the lock.
    scope.check_scope(transport, plan)
    # A finalize cleans up after the apply that migrated the host, and only after it.
    follows = require_migrated(transport).plan_id if plan.finalizes else ""
    return recipient, follows


# Steps that change nothing and run before the journal opens: their refusal leaves the host
# as it was (exit 1), right before the first write.
PRECONDITIONS = frozenset({"check_queue"})


def _preconditions(transport: Transport, plan: Plan, log: StepLog) -> None:
    """Run the plan's preconditions, timed. Raises RefusedError, FactError, TransportError."""
    for step in plan.steps:
        if step.action == "check_queue":
            with log.step(step.action, plan.describe(step)):
                check_queue(transport, plan.finalizes)


def _check_inputs(plan: Plan, mode: ProofMode, recipient: str, host: str) -> None:
    """The recipient is an address; the A/B proof needs the plan's proof_before step (its
    "before", taken before the first write). Raises UsageError: a bad recipient, or a plan
    made before the proof existed."""
    check_recipient(recipient, host=host)
    needs = mode is ProofMode.AB and not plan.finalizes  # a finalize switches nothing
    if needs and not any(s.action == "proof_before" for s in plan.steps):
        raise UsageError(
            f"plan {plan.plan_id} has no proof_before step (made by an older migrator): "
            "plan again, or apply it with --proof basic",
            host=host,
        )


def _planned_recipient(plan: Plan) -> str:
    for step in plan.steps:
        if step.action == "test_delivery":
            return step.args.get("recipient", "")
    return ""


# Why proof_before does not run under the basic proof.
_BASIC_SKIPS_BEFORE = "proof basic: no A/B proof, one test message after the switch instead"


class _Run:
    """One apply in progress: executes steps, times them, keeps the journal current."""

    def __init__(
        self,
        transport: Transport,
        plan: Plan,
        runtime: services.Runtime,
        journal: Journal,
        state: JournalState,
        log: StepLog,
        options: ApplyOptions,
    ) -> None:
        # Each journal entry travels with the next command: the step's own first one.
        self.transport = transport = CarryingTransport(transport, journal)
        self.plan, self.runtime = plan, runtime
        self.journal, self.state = journal, state
        self.recipient = state.test_recipient
        self.delivery_timeout = options.delivery_timeout
        self.mode = options.proof
        self.log = log
        self.current = ""
        self.record: proof.DeliveryRecord | None = None
        self.before: ab.BeforeProof | None = None
        self.proofs: tuple[KindProof, ...] = ()
        self.accepts: tuple[tuple[str, str], ...] = ()
        self.files: dict[str, FileChange] = {f.path: f for f in plan.files}
        self.actions: dict[str, Callable[[Step], None]] = {
            "write_file": self._write_file,
            "validate_postfix": lambda s: actions.validate_postfix(transport),
            "validate_dovecot": lambda s: actions.validate_dovecot(transport),
            "postmap": lambda s: actions.postmap(transport, s.args["map"]),
            "wait_lmtp": lambda s: services.drain_lmtp(transport, runtime, s.args["seconds"]),
            "reload_dovecot": lambda s: services.reload(transport, runtime, "dovecot"),
            "reload_postfix": lambda s: services.reload(transport, runtime, "postfix"),
            "wait_socket": self._wait_socket,
            "wait_port": self._wait_port,
            "probe_lmtp": self._probe,
            "test_delivery": self._test_delivery,
            "proof_before": self._proof_before,
        }

    def step(self, step: Step) -> None:
        if step.action in PRECONDITIONS:
            return  # already run, right before the journal opened
        if step.action == "proof_before" and self.mode is not ProofMode.AB:
            # Shown as skipped, not as a step that took no time: it sends nothing.
            self.log.skip(step.action, self.plan.describe(step, self.mode), _BASIC_SKIPS_BEFORE)
            return
        self.current = step.action
        self._journal(step.action)
        with self.log.step(step.action, self.plan.describe(step, self.mode)):
            self.actions[step.action](step)
        self.state = replace(self.state, steps_done=(*self.state.steps_done, step.action))
        self._journal(step.action)

    def _journal(self, action: str) -> None:
        """Record the state before a step, or at its end: the next command carries it (the
        step's first, or the next step's), written before that command runs."""
        self.state = self.state.with_step(action)
        self.transport.carry([self.state])

    def _write_file(self, step: Step) -> None:
        change = self.files[step.args["path"]]
        content = change.content_after.encode("utf-8", "surrogateescape")
        # Compare-and-swap: a change made on the host since the drift check is not overwritten.
        self.transport.write_atomic(
            change.path,
            content,
            owner=change.owner,
            group=change.group,
            mode=int(change.mode, 8),
            expected_sha256=change.sha256_before,
        )

    def _wait_socket(self, step: Step) -> None:
        args = step.args
        mode = int(args["mode"], 8)
        actions.wait_socket(self.transport, args["path"], args["owner"], args["group"], mode)

    def _probe(self, step: Step) -> None:
        proof.probe_lmtp(self.transport, self.plan.lmtp_endpoint, self.recipient)

    def _wait_port(self, step: Step) -> None:
        actions.wait_port(self.transport, step.args["address"], step.args["port"])

    def _proof_before(self, step: Step) -> None:
        self.accepts = ab.parse_accepts(step.args["accepts"])
        self.before = ab.prove_before(
            self.transport,
            self.recipient,
            traits_from_facts(self.plan.facts, smtputf8=True),
            token=uuid.uuid4().hex[:12],
            log_path=self.runtime.log_path,
            timeout=self.delivery_timeout,
        )
        ab.require_delivered(self.before, self.transport.host)

    def _test_delivery(self, step: Step) -> None:
        if self.mode is ProofMode.AB and self.before is not None:
            after = ab.prove_after(
                self.transport,
                self.before,
                token=uuid.uuid4().hex[:12],
                log_path=self.runtime.log_path,
                timeout=self.delivery_timeout,
                expect_relay=self.plan.lmtp_endpoint.relay_matches,
            )
            self.proofs = ab.accept(after.proofs, self.accepts)
            failure = ab.proof_failure(self.proofs, after.waited)
            if failure is not None:
                raise DeliveryError(failure, host=self.transport.host)
            return
        self.record = proof.prove_delivery(
            self.transport,
            self.recipient,
            log_path=self.runtime.log_path,
            expect_relay=self.plan.lmtp_endpoint.relay_matches,
            over_lmtp=True,
            tag=self.plan.plan_id,
            timeout=self.delivery_timeout,
        )

    def fail(self, exc: BaseException, rollback_on_fail: bool) -> ApplyReport:
        interrupted = isinstance(exc, KeyboardInterrupt)
        error = "interrupted" if interrupted else str(exc)
        self.transport.drop()  # the states below supersede any not yet written
        self.state = replace(self.state, error=error)
        if not rollback_on_fail:
            failed = self.state.with_step(self.current, JournalStatus.FAILED)
            unrecorded = quietly(lambda: self.journal.write_state(failed, reserve=True))
            if unrecorded:
                error = f"{error}; the journal could not record it: {unrecorded}"
            quietly(self.journal.unlock)
            return self.report(Outcome.NEEDS_ATTENTION, error, interrupted)
        report = rollback_host(
            self.transport.inner,
            self.journal,
            self.state,
            self.runtime,
            lda_relay_matcher(self.state),
            self.log.notify,
        )
        outcome = Outcome.ROLLED_BACK if report.ok else Outcome.NEEDS_ATTENTION
        return replace(self.report(outcome, error, interrupted), rollback=report)

    def report(self, outcome: Outcome, error: str = "", interrupted: bool = False) -> ApplyReport:
        return ApplyReport(
            host=self.transport.host,
            plan_id=self.plan.plan_id,
            outcome=outcome,
            steps=tuple(self.log.timings),
            error=error,
            failed_step=self.current if error else "",
            interrupted=interrupted,
            delivery=self.record,
            proof=self.proofs,
            proof_skipped=tuple(
                f"{kind}: {why}"
                for kind, why in (self.before.skipped if self.before else {}).items()
            ),
        )
