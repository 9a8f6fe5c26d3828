"""The check and show commands where no host is needed: bad input, and the example plan."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from migrator.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "plans" / "example" / "virtual-lda.json"


def test_check_without_a_host_is_unknown_not_warning() -> None:
    result = CliRunner().invoke(main, ["check", "--format", "nagios"])
    assert result.exit_code == 3
    assert result.stdout.splitlines()[0] == (
        "MIGRATOR UNKNOWN - give a HOST, or -i INVENTORY for a fleet"
    )


def test_check_host_and_inventory_together_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "mx1", "-i", "mx2,", "--json"])
    assert result.exit_code == 3
    assert "give a HOST or -i INVENTORY, not both" in result.stderr
    assert result.stdout == ""


def test_check_a_missing_inventory_is_unknown(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ini"
    result = CliRunner().invoke(main, ["check", "-i", str(missing), "--format", "prometheus"])
    assert result.exit_code == 3
    assert str(missing) in result.stderr


def test_check_refuses_a_bad_test_recipient_as_usage() -> None:
    result = CliRunner().invoke(main, ["check", "mx1", "--test-recipient", "a@x\r\nQUIT"])
    assert result.exit_code == 64, result.output
    assert "--test-recipient" in result.output


def test_status_without_a_host_is_usage() -> None:
    result = CliRunner().invoke(main, ["status", "--json"])
    assert result.exit_code == 64 and "give a HOST, or -i INVENTORY" in result.output


def test_show_the_example_plan() -> None:
    result = CliRunner().invoke(main, ["show", str(EXAMPLE)])
    plan = json.loads(EXAMPLE.read_text())
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"plan {plan['plan_id']} for {plan['host']}, made ")
    assert "+virtual_transport = lmtp:unix:private/dovecot-lmtp" in result.output
    shown = CliRunner().invoke(main, ["show", "--json", str(EXAMPLE)])
    assert json.loads(shown.output) == plan


def test_show_refuses_a_tampered_plan(tmp_path: Path) -> None:
    tampered = tmp_path / "plan.json"
    data = json.loads(EXAMPLE.read_text())
    data["endpoint"] = "lmtp:inet:192.0.2.1:24"
    tampered.write_text(json.dumps(data))
    result = CliRunner().invoke(main, ["show", str(tampered)])
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"migrator: error: {tampered}: plan was edited by hand (checksum mismatch)\n"
    )
