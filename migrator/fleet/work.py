"""The work a fleet run does on one host: plan it, apply its plan, or roll it back.

Each piece of work is a callable run in a worker thread (``--forks`` of them), takes an
``InventoryHost`` and the batch name, and returns a ``HostResult``; ``Guarded`` makes sure
one host's failure is that host's result and never stops the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from migrator.config.reader import ParseCache
from migrator.errors import MigratorError, RefusedError, UsageError
from migrator.executor.status import NextRollback, require_migrated, undoing
from migrator.exit_status import ExitStatus
from migrator.fleet.kept import Reach
from migrator.fleet.rollout import FleetObserver, HostOutcome, HostResult, Work
from migrator.inventory.model import InventoryHost
from migrator.plan.build import build_plan
from migrator.plan.document import Plan
from migrator.plan.signature import PlanKey
from migrator.plan.store import save_plan
from migrator.rules.switch import Options

# ``connect`` imports the SSH transport (paramiko) on first use. Imported here, in the main
# thread, before any worker starts: --forks workers importing it at once queued on Python's
# import lock (about a tenth of a fleet plan's time, measured with py-spy on 10 hosts).
from migrator.transport import connect, ssh, ssh_config  # noqa: F401
from migrator.transport.base import Transport

if TYPE_CHECKING:
    from migrator.executor.apply import ApplyOptions, ApplyReport
    from migrator.executor.rollback import RollbackReport


@dataclass(frozen=True, slots=True)
class Reacher:
    """How to reach an inventory host: an ``-F`` in its ssh args variables, else
    ``--ssh-config``, else the config that listed the host, else ssh's own files; and the
    inventory's hostname/port/user overrides and ssh options."""

    ssh_config: Path | None = None
    accept_new_host_key: bool = False

    def __call__(self, host: InventoryHost) -> Transport:
        """The host's transport; raises UsageError for a host its inventory made unusable."""
        if host.problem:
            raise UsageError(host.problem, host=host.name)
        return connect(
            host.name,
            ssh_config=host.ssh_config_arg or self.ssh_config or host.ssh_config,
            accept_new_host_key=self.accept_new_host_key,
            user=host.user,
            hostname=host.hostname,
            port=host.port,
            options=host.ssh_options,
        )


@dataclass(frozen=True, slots=True)
class Guarded:
    """Work that turns any error of one host into that host's ERROR result.

    The one broad catch of the fleet: a bug or an untranslated library error on one host
    must not stop the others (its message still names the host).
    """

    work: Work

    def __call__(self, host: InventoryHost, batch: str) -> HostResult:
        started = time.time()
        try:
            return self.work(host, batch)
        except MigratorError as exc:
            outcome = HostOutcome.REFUSED if isinstance(exc, RefusedError) else HostOutcome.ERROR
            message = str(exc)
        except Exception as exc:  # the one broad catch: see the docstring
            outcome, message = HostOutcome.ERROR, f"unexpected error: {type(exc).__name__}: {exc}"
        return HostResult(
            host.name,
            outcome,
            ExitStatus.ERROR,
            error=_named(host.name, message),
            batch=batch,
            started=started,
            finished=time.time(),
        )


def _named(host: str, error: str) -> str:
    """The error with the host's name first (once), so a fleet's messages say whose."""
    if not error or error.startswith(f"{host}: "):
        return error
    return f"{host}: {error}"


@dataclass(frozen=True, slots=True)
class _Planning:
    reach: Reach
    options: Options
    plans_dir: Path | None
    cache: ParseCache
    key: PlanKey | None = None
    finalize: bool = False

    def __call__(self, host: InventoryHost, batch: str) -> HostResult:
        started = time.time()
        options, plans_dir = self.options, self.plans_dir
        wanted = replace(options, test_recipient=host.test_recipient or options.test_recipient)
        with self.reach(host) as transport:
            if self.finalize:
                require_migrated(transport)
            plan = build_plan(transport, wanted, cache=self.cache, finalize=self.finalize)
        saved = save_plan(plan, plans_dir, self.key) if plans_dir is not None else None
        outcome = HostOutcome.CHANGES if plan.has_changes else HostOutcome.NO_CHANGES
        code = ExitStatus.CHANGES if plan.has_changes else ExitStatus.SUCCESS
        return HostResult(
            host.name,
            outcome,
            code,
            plan_id=plan.plan_id,
            plan_path=str(saved or ""),
            batch=batch,
            started=started,
            finished=time.time(),
        )


def plan_work(
    reach: Reach,
    options: Options,
    plans_dir: Path | None,
    key: PlanKey | None = None,
    *,
    finalize: bool = False,
) -> Work:
    """Work that plans one host (with finalize: the removal of its LDA pipe, once migrated)
    and saves its plan (unless plans_dir is None; signed with key, if any). Its hosts share
    one parse cache: run it in threads, so a fleet's common files parse once."""
    return Guarded(_Planning(reach, options, plans_dir, ParseCache(), key, finalize))


def apply_work(
    reach: Reach, plans: dict[str, Plan], options: ApplyOptions, observer: FleetObserver
) -> Work:
    """Work that applies each host's plan (from ``plans``) and reports its steps."""
    # Imported here, in the main thread before any worker starts (as ``connect`` above), and
    # only by the commands that apply or roll back: `plan` does not pay for the executor's
    # imports (~60 ms of CPU at every start).
    from migrator.executor.apply import apply_plan

    def run(host: InventoryHost, batch: str) -> HostResult:
        started = time.time()
        plan = plans[host.name]
        wanted = replace(options, test_recipient=host.test_recipient or options.test_recipient)
        with reach(host) as transport:
            report = apply_plan(transport, plan, wanted, observer.step)
        return apply_result(host.name, report, batch, started)

    return Guarded(run)


def apply_result(name: str, report: ApplyReport, batch: str, started: float) -> HostResult:
    """One host's ApplyReport as its part of a fleet run (or of a single host's report)."""
    return HostResult(
        name,
        HostOutcome(report.outcome.value),
        report.outcome.exit_status,
        plan_id=report.plan_id,
        error=_named(name, report.error),
        failed_step=report.failed_step,
        steps=report.steps + (report.rollback.steps if report.rollback else ()),
        batch=batch,
        started=started,
        finished=time.time(),
        proof=report.proof,
        undone=undone(report.rollback),
    )


def undone(report: RollbackReport | None) -> NextRollback | None:
    """What a rollback undid and where it left the host; None when it restored nothing: it
    failed, or only released the lock of an apply that stopped before changing anything."""
    if report is None or not report.ok or not report.steps:
        return None
    return undoing(report.plan_id, report.follows)


def rollback_work(
    reach: Reach,
    observer: FleetObserver,
    test_recipient: str | None = None,
    *,
    force: bool = False,
) -> Work:
    """Work that rolls back each host's latest apply (nothing to do if there is none);
    ``test_recipient`` (--test-recipient) replaces the one each journal recorded; with force,
    files edited since apply are rolled back too (their copies kept)."""
    from migrator.executor.rollback import NothingToRollBackError, rollback_latest

    def run(host: InventoryHost, batch: str) -> HostResult:
        started = time.time()
        with reach(host) as transport:
            try:
                report: RollbackReport | None = rollback_latest(
                    transport, None, observer.step, test_recipient, force=force
                )
            except NothingToRollBackError:
                report = None
        result = HostResult(
            host.name, HostOutcome.NOTHING_TO_DO, ExitStatus.SUCCESS, batch=batch, started=started
        )
        if report is not None:
            result = replace(
                result,
                outcome=HostOutcome.ROLLED_BACK if report.ok else HostOutcome.NEEDS_ATTENTION,
                exit_code=ExitStatus.SUCCESS if report.ok else ExitStatus.NEEDS_ATTENTION,
                error="" if report.ok else _named(host.name, report.error),
                plan_id=report.plan_id,
                steps=report.steps,
                undone=undone(report),
            )
        return replace(result, finished=time.time())

    return Guarded(run)
