"""`rollback -i` says per host what it undid (the finalize or the migration) and where it left
the host (migrated on LMTP, or back on the LDA): in the progress lines, the summary table and
the JSON report; so does `apply -i --rollback-on-fail`."""

from __future__ import annotations

import json
from io import StringIO

from rich.console import Console

from migrator.cli.fleet_view import FleetProgress, render_summary
from migrator.executor.apply import apply_plan
from migrator.executor.status import HostState, Undoes
from migrator.exit_status import ExitStatus
from migrator.fleet.kept import Reach
from migrator.fleet.report import to_json
from migrator.fleet.rollout import FleetReport, HostOutcome, QuietObserver
from migrator.fleet.work import apply_work, rollback_work
from migrator.inventory.model import InventoryHost
from migrator.transport.base import Transport
from tests.unit.executor_host import APPLY, APPLY_OR_ROLL_BACK, host
from tests.unit.fake_host import FakeTransport
from tests.unit.test_executor_finalize import migrated


def _reach(fakes: dict[str, FakeTransport]) -> Reach:
    def reach(target: InventoryHost) -> Transport:
        return fakes[target.name].connect_again()

    return reach


def _shown(report: FleetReport) -> str:
    out = StringIO()
    console = Console(file=out, width=300, force_terminal=False)
    with FleetProgress(console, report.action, [r.host for r in report.results]) as progress:
        for result in report.results:
            progress.finished(result)
    render_summary(report, console)
    return out.getvalue()


def test_fleet_rollback_says_a_finalize_was_undone_then_the_migration() -> None:
    finalized, migration, final = migrated()
    apply_plan(finalized.connect_again(), final, APPLY)
    only_migrated, plan = host()
    apply_plan(only_migrated, plan, APPLY)
    never, _ = host()
    fakes = {"mx1": finalized, "mx2": only_migrated, "mx3": never}
    work = rollback_work(_reach(fakes), QuietObserver())
    results = tuple(work(InventoryHost(name), "") for name in fakes)
    report = FleetReport("rollback", results, started=1.0, finished=2.0)
    mx1, mx2, mx3 = results
    assert (mx1.outcome, mx2.outcome, mx3.outcome) == (
        HostOutcome.ROLLED_BACK,
        HostOutcome.ROLLED_BACK,
        HostOutcome.NOTHING_TO_DO,
    )
    assert mx1.undone is not None and mx2.undone is not None and mx3.undone is None
    assert (mx1.undone.undoes, mx1.undone.plan_id, mx1.undone.leaves) == (
        Undoes.FINALIZE,
        final.plan_id,
        HostState.MIGRATED,
    )
    assert mx1.undone.leaves_plan_id == migration.plan_id
    assert (mx2.undone.undoes, mx2.undone.plan_id, mx2.undone.leaves) == (
        Undoes.MIGRATION,
        plan.plan_id,
        HostState.ROLLED_BACK,
    )
    hosts = json.loads(to_json(report))["hosts"]
    assert [h["rolled_back"] for h in hosts] == [
        {
            "undid": "finalize",
            "plan_id": final.plan_id,
            "left": "migrated",
            "left_plan_id": migration.plan_id,
            "delivery": "lmtp",
        },
        {
            "undid": "migration",
            "plan_id": plan.plan_id,
            "left": "rolled back",
            "left_plan_id": "",
            "delivery": "lda",
        },
        None,
    ]
    shown = _shown(report)
    said_mx1 = (
        f"undid the finalize {final.plan_id}: pipe service back, left migrated on LMTP "
        f"({migration.plan_id})"
    )
    said_mx2 = f"undid the migration {plan.plan_id}: back to the LDA"
    lines = shown.splitlines()
    assert lines[0].startswith("mx1: rolled back in ") and lines[0].endswith(said_mx1), shown
    assert lines[1].startswith("mx2: rolled back in ") and lines[1].endswith(said_mx2), shown
    rows = {line.split()[1]: line for line in shown.splitlines() if line.startswith("│ mx")}
    assert said_mx1 in rows["mx1"] and said_mx2 in rows["mx2"], shown
    assert "undid" not in rows["mx3"]

    again = rollback_work(_reach(fakes), QuietObserver())(InventoryHost("mx1"), "")
    assert again.undone is not None
    assert (again.undone.undoes, again.undone.plan_id) == (Undoes.MIGRATION, migration.plan_id)


def test_fleet_apply_that_rolls_back_says_the_migration_was_undone() -> None:
    fake, plan = host()
    fake.fail("reload_postfix")
    work = apply_work(
        _reach({"mx1": fake}),
        {"mx1": plan},
        APPLY_OR_ROLL_BACK,
        QuietObserver(),
    )
    result = work(InventoryHost("mx1"), "")
    assert (result.outcome, result.exit_code) == (HostOutcome.ROLLED_BACK, ExitStatus.ROLLED_BACK)
    assert result.undone is not None
    assert (result.undone.undoes, result.undone.leaves) == (Undoes.MIGRATION, HostState.ROLLED_BACK)
    assert "reload postfix failed" in _shown(FleetReport("apply", (result,)))
