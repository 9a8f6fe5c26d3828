"""The fleet options on plan/apply/rollback: wiring and one-line errors (no host reached)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from migrator.cli import main


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_apply_and_rollback_need_a_host_or_an_inventory() -> None:
    for command in ("apply", "rollback"):
        code, output = _run(command)
        assert code == 1 and "give a HOST, or -i INVENTORY" in output


def test_host_and_inventory_together_are_refused(tmp_path: Path) -> None:
    code, output = _run("plan", "mx1", "-i", "mx2,mx3,")
    assert code == 1 and "not both" in output


def test_bad_inventory_and_bad_amounts_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "hosts.ini"
    bad.write_text("[mx]\nmx1 ansible_port=ssh\n")
    code, output = _run("plan", "-i", str(bad))
    assert code == 1 and f"{bad}:2: mx1: ansible_port is not a number" in output
    code, output = _run("apply", "-i", "mx1,", "--wave", "half", "--yes")
    assert code == 64 and "--wave takes a number" in output  # read with the command line
    code, output = _run("plan", "-i", "mx1,mx2,", "--limit", "web*")
    assert code == 1 and "matches no host" in output
    code, output = _run("apply", "-i", "mx1,", "--plan", str(bad))
    assert code == 1 and "--plan does not go with -i" in output
    assert len(output.strip().splitlines()) == 1


def test_saved_plans_missing_is_each_hosts_error(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    code, output = _run(
        "apply", "-i", "mx1,mx2,", "--saved-plans", "--plans-dir", str(tmp_path),
        "--report-json", str(report),
    )  # fmt: skip
    assert code == 1, output
    hosts = json.loads(report.read_text())["hosts"]
    assert [h["outcome"] for h in hosts] == ["error", "error"]
    assert hosts[0]["error"].startswith("mx1: ") and "run plan -i first" in hosts[0]["error"]
