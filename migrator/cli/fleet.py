"""Fleet forms of `plan`, `apply` and `rollback`: ``-i INVENTORY`` instead of one HOST.

``fleet_options(command)`` adds the fleet options to a single-host command and, when ``-i``
is given, runs the fleet form here instead of the command's own body, which stays as it was.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from rich.console import Console

from migrator.cli.fleet_options import COMMON, EXTRA_OPTIONS
from migrator.cli.fleet_view import FleetProgress, render_summary
from migrator.cli.host_options import recipient_override
from migrator.cli.output_file import write_output
from migrator.cli.run_log import RunLog, observed
from migrator.cli.trust_options import plan_trust, signing_key
from migrator.delivery.proof_mode import DEFAULT_PROOF, ProofMode
from migrator.errors import MigratorError, UsageError
from migrator.exit_status import ExitStatus
from migrator.fleet.kept import KeptConnections, Reach
from migrator.fleet.report import to_json, to_junit
from migrator.fleet.rollout import FleetReport, HostOutcome, HostResult, Rollout, run_rollout
from migrator.fleet.schedule import Amount, fail_budget, schedule
from migrator.fleet.work import (
    Reacher,
    apply_work,
    plan_work,
    rollback_work,
)
from migrator.inventory.limit import limit
from migrator.inventory.load import load_inventory
from migrator.inventory.model import Inventory
from migrator.plan.document import Plan
from migrator.plan.signature import PlanTrust
from migrator.plan.store import latest_plan, load_plan
from migrator.rules.switch import Options

F = TypeVar("F", bound=Callable[..., Any])

_FLAGS = {"plan_file": "--plan", "plan_id": "--plan", "as_json": "--json"}


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """The fleet form's own options (-i and what goes with it), as the command got them."""

    inventory: tuple[str, ...]
    limit: str | None
    forks: int
    report_json: Path | None
    report_junit: Path | None
    canary: int = 0
    wave: str | None = None
    max_fail: str | None = None
    saved_plans: bool = False


@dataclass(frozen=True, slots=True)
class HostOptions:
    """The single-host options a fleet run shares (or must refuse: ``root``, ``as_json``...)."""

    host: str | None = None
    ssh_config: Path | None = None
    accept_new_host_key: bool = False
    plans_dir: Path = Path("plans")
    lmtp: str = "unix"
    allow_remote_lmtp: bool = False
    test_recipient: str | None = None
    no_save: bool = False
    detailed_exitcode: bool = False
    rollback_on_fail: bool = False
    proof: str = DEFAULT_PROOF.value
    yes: bool = False
    root: Path | None = None
    as_json: bool = False
    plan_file: Path | None = None
    plan_id: str | None = None
    facts_file: Path | None = None
    plan_key: Path | None = None
    require_signature: bool = False
    force: bool = False
    run_log: RunLog | None = None


_FLEET_KEYS = frozenset(f.name for f in fields(FleetOptions))


def fleet_options(command: str) -> Callable[[F], F]:
    """Add the fleet options to a command (plan, apply or rollback); -i runs the fleet form.

    Put it directly above the ``def``, below the click decorators.
    """
    options = COMMON + EXTRA_OPTIONS.get(command, ())

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(**kwargs: Any) -> Any:
            fleet = FleetOptions(**{k: kwargs.pop(k) for k in list(kwargs) if k in _FLEET_KEYS})
            if fleet.inventory:
                return _RUNNERS[command](fleet, HostOptions(**kwargs))
            if command != "plan" and not kwargs.get("host"):
                raise UsageError("give a HOST, or -i INVENTORY for a fleet")
            _forbid_fleet_only(command)
            if command == "apply":  # a single host's report, in the fleet's format
                kwargs["report_json"] = fleet.report_json
            return function(**kwargs)

        decorated: Any = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return decorated  # type: ignore[no-any-return]

    return decorate


def _forbid_fleet_only(command: str) -> None:
    """Raise UsageError for a fleet option given on the command line without -i (--limit,
    --forks, --report-junit, --canary...): one host has no fleet, and the option did
    nothing (apply writes its one host's --report-json)."""
    ctx = click.get_current_context()
    kept = {"inventory", *(("report_json",) if command == "apply" else ())}
    for name in sorted(_FLEET_KEYS - kept):
        if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            flag = next(p.opts[-1] for p in ctx.command.params if p.name == name)
            raise UsageError(f"{flag} goes with -i INVENTORY: one HOST has no fleet")


def _inventory(fleet: FleetOptions, single: HostOptions) -> Inventory:
    if single.host:
        raise UsageError("give a HOST or -i INVENTORY, not both (use --limit to pick hosts)")
    return limit(load_inventory(list(fleet.inventory)), fleet.limit)


def _reach(single: HostOptions) -> Reacher:
    return Reacher(single.ssh_config, single.accept_new_host_key)


def _forbid(single: HostOptions, *names: str) -> None:
    for name in names:
        if getattr(single, name):
            flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
            raise UsageError(f"{flag} does not go with -i INVENTORY")


def _finish(
    report: FleetReport, fleet: FleetOptions, console: Console, detailed: bool, log: RunLog | None
) -> None:
    render_summary(report, console, detailed=detailed)
    if log is not None:
        log.rest(report)
    if fleet.report_json:
        _write(fleet.report_json, to_json(report, detailed=detailed))
    if fleet.report_junit:
        _write(fleet.report_junit, to_junit(report))
    sys.exit(report.exit_code(detailed))


@contextlib.contextmanager
def _ctrl_c_stops() -> Iterator[threading.Event]:
    """An event Ctrl-C sets (instead of raising) while a rollout runs: no new host starts,
    hosts in flight finish or roll back. A second Ctrl-C raises KeyboardInterrupt as usual."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def write_report(path: Path, report: FleetReport) -> None:
    """Write REPORT's JSON to PATH. Raises UsageError naming the path when it cannot."""
    _write(path, to_json(report))


def _write(path: Path, text: str) -> None:
    try:
        write_output(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write report {path}: {exc.strerror}") from exc


def _plan_phase(
    inventory: Inventory,
    single: HostOptions,
    forks: int,
    console: Console,
    finalize: bool = False,
    reach: Reach | None = None,
) -> FleetReport:
    options = Options(
        lmtp=single.lmtp,
        allow_remote_lmtp=single.allow_remote_lmtp,
        test_recipient=single.test_recipient,
    )
    plans_dir = None if single.no_save else single.plans_dir
    key = signing_key(single.plan_key)
    work = plan_work(reach or _reach(single), options, plans_dir, key, finalize=finalize)
    rollout = Rollout(schedule(inventory.names), forks=forks, budget=len(inventory.hosts))
    with FleetProgress(console, "plan", list(inventory.names)) as shown, _ctrl_c_stops() as stop:
        progress = observed(shown, single.run_log)
        return run_rollout("plan", inventory.hosts, rollout, work, progress, stop=stop)


def run_plan(fleet: FleetOptions, single: HostOptions) -> None:
    """`plan -i`: plan every host in parallel, save each plan, summarise, exit."""
    _forbid(single, "root", "as_json", "facts_file")
    console = Console(highlight=False)
    report = _plan_phase(_inventory(fleet, single), single, fleet.forks, console)
    _finish(report, fleet, console, single.detailed_exitcode, single.run_log)


def run_apply(fleet: FleetOptions, single: HostOptions, finalize: bool = False) -> None:
    """`apply -i` (`finalize -i`): plan (or load saved plans), confirm, then canary, waves,
    budget."""
    _forbid(single, "plan_file")
    console = Console(highlight=False)
    inventory = _inventory(fleet, single)
    # The connection a host's plan opened is the one its apply uses.
    kept = KeptConnections(_reach(single))
    try:
        report = _plan_and_apply(inventory, fleet, single, console, finalize, kept)
    finally:
        kept.close()
    _finish(report, fleet, console, False, single.run_log)


def _plan_and_apply(
    inventory: Inventory,
    fleet: FleetOptions,
    single: HostOptions,
    console: Console,
    finalize: bool,
    kept: KeptConnections,
) -> FleetReport:
    # Not imported by `plan` (see apply_work in fleet/work.py).
    from migrator.executor.apply import ApplyOptions

    plans, prior = _plans(inventory, fleet, single, console, finalize, kept.keeping)
    if not fleet.saved_plans and any(plan.has_changes for plan in plans.values()):
        # A saved plan was approved when it was made (as terraform apply PLANFILE).
        _confirm(len([p for p in plans.values() if p.has_changes]), single.yes)
    prior += [
        HostResult(name, HostOutcome.NO_CHANGES, ExitStatus.SUCCESS, plan_id=plan.plan_id)
        for name, plan in plans.items()
        if not plan.has_changes
    ]
    todo = [name for name in inventory.names if name in plans and plans[name].has_changes]
    rollout = _rollout(fleet, todo, len(inventory.hosts))
    options = ApplyOptions(
        proof=ProofMode(single.proof),
        rollback_on_fail=single.rollback_on_fail,
        # An inventory's per-host one beats it; a config default only went into fresh plans.
        test_recipient=recipient_override(single.test_recipient),
    )
    verb = "finalize" if finalize else "apply"
    with FleetProgress(console, verb, todo) as shown, _ctrl_c_stops() as stop:
        progress = observed(shown, single.run_log)
        work = apply_work(kept.taking, plans, options, progress)
        return run_rollout(verb, inventory.hosts, rollout, work, progress, prior, stop)


def _rollout(fleet: FleetOptions, todo: list[str], total: int) -> Rollout:
    """Canary, waves and failure budget from the options (no --max-fail: no limit)."""
    wave = Amount.parse(fleet.wave, "--wave") if fleet.wave else None
    max_fail = fleet.max_fail
    budget = fail_budget(Amount.parse(max_fail, "--max-fail"), total) if max_fail else total
    return Rollout(schedule(todo, fleet.canary, wave), fleet.forks, budget)


def _plans(
    inventory: Inventory,
    fleet: FleetOptions,
    single: HostOptions,
    console: Console,
    finalize: bool = False,
    reach: Reach | None = None,
) -> tuple[dict[str, Plan], list[HostResult]]:
    """Each host's plan, and a result for each host that has none (it counts as failed)."""
    plans: dict[str, Plan] = {}
    failed: list[HostResult] = []
    trust = plan_trust(single.plan_key, single.require_signature)
    if fleet.saved_plans:
        for name in inventory.names:
            try:
                plans[name] = _saved(single.plans_dir, name, trust, finalize)
            except MigratorError as exc:
                failed.append(HostResult(name, HostOutcome.ERROR, ExitStatus.ERROR, error=str(exc)))
        return plans, failed
    planned = _plan_phase(inventory, single, fleet.forks, console, finalize, reach)
    render_summary(planned, console, detailed=True)
    for result in planned.results:
        if result.plan_path:
            plans[result.host] = load_plan(Path(result.plan_path), result.host, trust)
        else:
            failed.append(result)
    if planned.interrupted:
        raise KeyboardInterrupt
    return plans, failed


def _saved(plans_dir: Path, host: str, trust: PlanTrust, finalize: bool) -> Plan:
    """The host's latest saved plan, which must be of the kind the command runs.

    Raises PlanError (from the store), UsageError for a plan of the other kind.
    """
    plan = latest_plan(plans_dir, host, trust)
    if plan.has_changes and bool(plan.finalizes) != finalize:
        kind = "a finalize plan" if plan.finalizes else "a migration plan"
        command = "finalize" if plan.finalizes else "apply"
        raise UsageError(f"the latest saved plan is {kind}: use `migrator {command}`", host=host)
    return plan


def _confirm(count: int, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("not a terminal: give --yes to apply without asking")
    if not click.confirm(f"Apply these plans to {count} hosts?", default=False):
        raise UsageError("not applied: you said no")


def run_rollback(fleet: FleetOptions, single: HostOptions) -> None:
    """`rollback -i`: roll back each host's latest apply, in parallel, canary and waves too."""
    _forbid(single, "plan_id")
    console = Console(highlight=False)
    inventory = _inventory(fleet, single)
    rollout = _rollout(fleet, list(inventory.names), len(inventory.hosts))
    with (
        FleetProgress(console, "rollback", list(inventory.names)) as shown,
        _ctrl_c_stops() as stop,
    ):
        progress = observed(shown, single.run_log)
        work = rollback_work(_reach(single), progress, single.test_recipient, force=single.force)
        report = run_rollout("rollback", inventory.hosts, rollout, work, progress, stop=stop)
    _finish(report, fleet, console, False, single.run_log)


_RUNNERS: dict[str, Callable[[FleetOptions, HostOptions], None]] = {
    "plan": run_plan,
    "apply": run_apply,
    "finalize": functools.partial(run_apply, finalize=True),
    "rollback": run_rollback,
}
