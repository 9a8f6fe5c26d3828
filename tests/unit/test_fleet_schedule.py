"""The rollout schedule (pure) and the runner driven by fake work: canary, waves, budget."""

from __future__ import annotations

import threading
import time

import pytest

from migrator.errors import RefusedError, UsageError
from migrator.exit_status import ExitStatus
from migrator.fleet.rollout import (
    FleetReport,
    HostOutcome,
    HostResult,
    QuietObserver,
    Rollout,
    run_rollout,
)
from migrator.fleet.schedule import Amount, Batch, fail_budget, schedule, should_start_next
from migrator.fleet.work import Guarded
from migrator.inventory.model import InventoryHost

HOSTS = [f"h{i:02d}" for i in range(1, 11)]


def test_amount_parses_counts_and_percentages() -> None:
    assert Amount.parse("3", "--wave") == Amount(3)
    assert Amount.parse("25%", "--wave") == Amount(25, percent=True)
    assert Amount(25, percent=True).of(10) == 2
    assert Amount(3).of(10) == 3
    for bad in ("", "x", "-1", "101%", "5.5"):
        with pytest.raises(UsageError, match="--wave takes"):
            Amount.parse(bad, "--wave")


def test_canary_then_fixed_waves() -> None:
    batches = schedule(HOSTS, canary=1, wave=Amount(4))
    assert batches == (
        Batch("canary", ("h01",)),
        Batch("wave 1", ("h02", "h03", "h04", "h05")),
        Batch("wave 2", ("h06", "h07", "h08", "h09")),
        Batch("wave 3", ("h10",)),
    )


def test_percentage_waves_are_of_the_whole_fleet_and_at_least_one() -> None:
    assert [len(b.hosts) for b in schedule(HOSTS, wave=Amount(30, percent=True))] == [3, 3, 3, 1]
    assert [len(b.hosts) for b in schedule(HOSTS[:3], wave=Amount(10, percent=True))] == [1, 1, 1]


def test_no_wave_means_the_rest_at_once_and_no_canary_means_none() -> None:
    assert schedule(HOSTS) == (Batch("wave 1", tuple(HOSTS)),)
    assert schedule(HOSTS, canary=2)[1].hosts == tuple(HOSTS[2:])
    assert schedule([], canary=0) == ()


def test_budget_and_should_start_next() -> None:
    assert fail_budget(Amount(0), 10) == 0
    assert fail_budget(Amount(20, percent=True), 12) == 2
    assert should_start_next(0, 0)
    assert not should_start_next(1, 0)
    assert should_start_next(2, 2)
    assert not should_start_next(0, 5, canary_failed=1)
    assert not should_start_next(0, 5, stopping=True)


class FakeWork:
    """Work that records start order and fails the hosts it is told to fail."""

    def __init__(
        self, failing: set[str], seconds: float = 0.02, *, fail_first: bool = False
    ) -> None:
        self.failing = failing
        self.seconds = seconds
        # fail_first: other hosts begin their work only once a failing host has ended, so the
        # runner sees the failure first however loaded the machine is.
        self.fail_first = fail_first
        self.failed = threading.Event()
        self.order: list[str] = []
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def __call__(self, host: InventoryHost, batch: str) -> HostResult:
        with self.lock:
            self.order.append(host.name)
            self.running += 1
            self.most = max(self.most, self.running)
        started = time.time()
        if self.fail_first and host.name not in self.failing:
            self.failed.wait(timeout=30)
        time.sleep(0 if host.name in self.failing and self.fail_first else self.seconds)
        with self.lock:
            self.running -= 1
        if host.name in self.failing:
            self.failed.set()
            outcome, code = HostOutcome.ROLLED_BACK, ExitStatus.ROLLED_BACK
        else:
            outcome, code = HostOutcome.APPLIED, ExitStatus.SUCCESS
        return HostResult(
            host.name, outcome, code, batch=batch, started=started, finished=time.time()
        )


def _run(work: FakeWork, rollout: Rollout) -> FleetReport:
    hosts = [InventoryHost(name) for name in HOSTS]
    return run_rollout("apply", hosts, rollout, work, QuietObserver())


def test_waves_run_in_order_and_forks_bound_parallelism() -> None:
    work = FakeWork(set())
    report = _run(work, Rollout(schedule(HOSTS, canary=1, wave=Amount(3)), forks=2, budget=0))
    assert work.order[0] == "h01" and sorted(work.order) == HOSTS
    assert work.most <= 2
    results = {r.host: r for r in report.results}
    assert results["h01"].finished <= min(r.started for r in report.results[1:])  # type: ignore[operator]
    assert results["h04"].finished <= results["h05"].started  # type: ignore[operator]
    assert report.exit_code() is ExitStatus.SUCCESS and not report.stopped_early


def test_budget_stops_the_next_wave_and_reports_the_rest_not_started() -> None:
    work = FakeWork({"h03"})
    rollout = Rollout(schedule(HOSTS, canary=1, wave=Amount(3)), forks=3, budget=0)
    report = _run(work, rollout)
    outcomes = {r.host: r.outcome for r in report.results}
    assert outcomes["h03"] is HostOutcome.ROLLED_BACK
    assert [outcomes[h] for h in ("h02", "h04")] == [HostOutcome.APPLIED] * 2  # in flight
    assert all(outcomes[h] is HostOutcome.NOT_STARTED for h in HOSTS[4:])
    assert report.stopped_early and report.exit_code() is ExitStatus.ROLLED_BACK
    assert report.counts == {"applied": 3, "rolled back": 1, "not started": 6}


def test_budget_within_a_wave_stops_queued_hosts() -> None:
    work = FakeWork({"h01"}, seconds=0.05, fail_first=True)
    report = _run(work, Rollout(schedule(HOSTS), forks=2, budget=0))
    started = [r.host for r in report.results if r.outcome is not HostOutcome.NOT_STARTED]
    assert started == ["h01", "h02"]


def test_a_larger_budget_lets_the_run_go_on() -> None:
    work = FakeWork({"h03", "h07"})
    report = _run(work, Rollout(schedule(HOSTS, wave=Amount(2)), forks=2, budget=2))
    assert report.count(HostOutcome.NOT_STARTED) == 0 and report.failed == 2


def test_a_failed_canary_stops_everything_whatever_the_budget() -> None:
    work = FakeWork({"h01"})
    report = _run(work, Rollout(schedule(HOSTS, canary=1), forks=4, budget=5))
    assert report.count(HostOutcome.NOT_STARTED) == 9


def test_prior_failures_count_against_the_budget() -> None:
    prior = [HostResult("h05", HostOutcome.REFUSED, ExitStatus.ERROR, error="h05: no")]
    hosts = [InventoryHost(name) for name in HOSTS]
    work = FakeWork(set())
    report = run_rollout(
        "apply", hosts, Rollout(schedule(HOSTS), budget=0), work, QuietObserver(), prior
    )
    assert work.order == [] and report.count(HostOutcome.NOT_STARTED) == 9


def test_guarded_work_names_the_host_and_never_raises() -> None:
    def refuse(host: InventoryHost, batch: str) -> HostResult:
        raise RefusedError("wrapped LDA", host=host.name)

    def crash(host: InventoryHost, batch: str) -> HostResult:
        raise KeyError("boom")

    refused = Guarded(refuse)(InventoryHost("mx1"), "wave 1")
    assert (refused.outcome, refused.error) == (HostOutcome.REFUSED, "mx1: wrapped LDA")
    crashed = Guarded(crash)(InventoryHost("mx2"), "wave 1")
    assert crashed.outcome is HostOutcome.ERROR and crashed.error.startswith("mx2: unexpected")


def test_exit_code_picks_the_most_serious() -> None:
    def result(code: ExitStatus) -> HostResult:
        return HostResult("h", HostOutcome.CHANGES, code)

    changes = FleetReport("plan", (result(ExitStatus.SUCCESS), result(ExitStatus.CHANGES)))
    assert changes.exit_code() is ExitStatus.SUCCESS
    assert changes.exit_code(detailed=True) is ExitStatus.CHANGES
    mixed = FleetReport("apply", (result(ExitStatus.ERROR), result(ExitStatus.NEEDS_ATTENTION)))
    assert mixed.exit_code() is ExitStatus.NEEDS_ATTENTION
    assert FleetReport("apply", (), interrupted=True).exit_code() is ExitStatus.INTERRUPTED


def test_ctrl_c_stops_new_hosts_and_lets_hosts_in_flight_finish() -> None:
    stop = threading.Event()

    class Interrupting(FakeWork):
        def __call__(self, host: InventoryHost, batch: str) -> HostResult:
            if host.name == "h02":
                stop.set()  # what the CLI's SIGINT handler does
            return super().__call__(host, batch)

    work = Interrupting(set(), seconds=0.2)
    hosts = [InventoryHost(name) for name in HOSTS]
    rollout = Rollout(schedule(HOSTS, wave=Amount(2)), forks=2, budget=5)
    report = run_rollout("apply", hosts, rollout, work, QuietObserver(), stop=stop)
    outcomes = [r.outcome for r in report.results]
    assert outcomes[:2] == [HostOutcome.APPLIED] * 2  # in flight: finished
    assert outcomes[2:] == [HostOutcome.NOT_STARTED] * 8
    assert report.interrupted and report.exit_code() is ExitStatus.INTERRUPTED
