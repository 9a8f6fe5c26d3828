"""`migrator finalize` wiring: a plan of the wrong kind is refused before any host is reached."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from migrator.cli import main
from tests.unit.hosts import HOSTS


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _migration_plan(plans: Path) -> Path:
    code, output = _run(
        "plan", "--root", str(HOSTS / "virtual-lda"), "--plans-dir", str(plans), "mx1"
    )
    assert code == 0, output
    return next((plans / "mx1").glob("*.json"))


def test_finalize_needs_a_host_or_an_inventory() -> None:
    code, output = _run("finalize")
    assert code == 1 and "give a HOST, or -i INVENTORY" in output


def test_a_migration_plan_is_not_finalized(tmp_path: Path) -> None:
    saved = _migration_plan(tmp_path)
    code, output = _run("finalize", "mx1", "--plan", str(saved))
    assert code == 1, output
    assert f"mx1: {saved} is not a finalize plan (use `migrator apply`)" in output


def test_a_fleet_finalize_refuses_each_host_whose_saved_plan_is_a_migration(
    tmp_path: Path,
) -> None:
    _migration_plan(tmp_path)
    report = tmp_path / "r.json"
    code, output = _run(
        "finalize", "-i", "mx1,", "--saved-plans", "--plans-dir", str(tmp_path),
        "--report-json", str(report),
    )  # fmt: skip
    assert code == 1, output
    hosts = json.loads(report.read_text())["hosts"]
    assert [h["outcome"] for h in hosts] == ["error"]
    assert "the latest saved plan is a migration plan: use `migrator apply`" in hosts[0]["error"]
