"""The check and show commands where no host is needed: bad input, and the example plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.check.findings import Status
from migrator.cli import main
from migrator.exit_status import CHECK_UNKNOWN, ExitStatus, error_status

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


def test_check_exit_codes_are_the_nagios_plugins() -> None:
    """0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (README "Exit codes"): the worst finding's
    status is the exit code, and an error that ends check is UNKNOWN, where it ends every
    other command with 1."""
    assert [int(s) for s in (Status.OK, Status.WARNING, Status.CRITICAL)] == [0, 1, 2]
    assert error_status("check") == CHECK_UNKNOWN == Status.UNKNOWN == 3
    assert error_status("apply") == error_status(None) == ExitStatus.ERROR == 1


def _inventory(tmp_path: Path) -> str:
    """An inventory of one host check cannot reach (no SSH connection for it)."""
    path = tmp_path / "hosts.ini"
    path.write_text("[mail]\nmx1 ansible_connection=docker\n")
    return str(path)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--json"], 3),  # no host
        (["mx1", "--limit", "mx*"], 3),  # --limit without -i
        (["-i", "{tmp}/nope.ini"], 3),  # a missing inventory
        (["-i", "{inventory}", "--json"], 3),  # a host that cannot be reached
        (["-i", "{inventory}", "--output", "{tmp}/no/such/dir/x.prom"], 3),  # unwritable
        (["mx1", "--bogus"], 64),  # an unknown option
        (["mx1", "--forks", "0"], 64),  # a bad option value
        (["mx1", "--format", "xml"], 64),
    ],
)
def test_check_exit_code_for_input_that_checks_no_host(
    args: list[str], code: int, tmp_path: Path
) -> None:
    given = [a.format(tmp=tmp_path, inventory=_inventory(tmp_path)) for a in args]
    result = CliRunner().invoke(main, ["check", *given])
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


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
