"""How migrator's per-host reports become Ansible results (pure: no Ansible, no host)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from ansible_collections.migrator.mail.plugins.module_utils import results
from migrator.delivery.outcome import KindProof, MailOutcome
from migrator.delivery.proof_mode import DEFAULT_PROOF, ProofMode
from migrator.executor.apply import ApplyReport, Outcome
from migrator.executor.rollback import RollbackReport
from migrator.executor.step_log import StepTiming

COLLECTION = Path(__file__).resolve().parents[2] / "ansible_collections" / "migrator" / "mail"
STEPS = (StepTiming("write_file", "write /etc/postfix/main.cf", 0.01234, True),)
ROLLED_BACK = RollbackReport("mx1", "p1", True, ("/etc/postfix/main.cf",), STEPS)
FAILED_ROLLBACK = RollbackReport("mx1", "p1", False, (), STEPS, "postfix reload failed")


@pytest.mark.parametrize(
    ("report", "changed", "failed"),
    [
        (ApplyReport("mx1", "p1", Outcome.APPLIED, STEPS), True, False),
        (ApplyReport("mx1", "p1", Outcome.NO_CHANGES), False, False),
        (
            ApplyReport(
                "mx1", "p1", Outcome.ROLLED_BACK, STEPS, "x", "postmap", False, ROLLED_BACK
            ),
            False,
            True,
        ),
        (
            ApplyReport(
                "mx1", "p1", Outcome.NEEDS_ATTENTION, STEPS, "x", "postmap", False, FAILED_ROLLBACK
            ),
            True,
            True,
        ),
    ],
)
def test_changed_only_when_files_stay_changed(
    report: ApplyReport, changed: bool, failed: bool
) -> None:
    result = results.apply_result(report)
    assert result["changed"] is changed
    assert result.get("failed", False) is failed
    step = {"action": "write_file", "description": "write /etc/postfix/main.cf"}
    expected = [{**step, "seconds": 0.012, "ok": True}] if report.steps else []
    assert result["steps"] == expected
    assert result["plan_id"] == "p1" and result["outcome"] == str(report.outcome)


def test_a_failed_apply_says_what_happened_in_one_line() -> None:
    rolled = ApplyReport(
        "mx1", "p1", Outcome.ROLLED_BACK, STEPS, "boom", "postmap", False, ROLLED_BACK
    )
    result = results.apply_result(rolled)
    assert (
        result["msg"] == "mx1: apply failed at postmap (boom); rolled back, the LDA delivers again"
    )
    assert result["rolled_back"] is True and result["rollback"]["restored"] == [
        "/etc/postfix/main.cf"
    ]
    stuck = ApplyReport(
        "mx1", "p1", Outcome.NEEDS_ATTENTION, STEPS, "boom", "postmap", False, FAILED_ROLLBACK
    )
    message = results.apply_result(stuck)["msg"]
    assert "rollback failed too: postfix reload failed" in message and "needs attention" in message
    assert "\n" not in message


def test_a_rollback_that_restored_nothing_is_no_change() -> None:
    assert results.rollback_result(RollbackReport("mx1", "p1", True))["changed"] is False
    failed = results.rollback_result(FAILED_ROLLBACK)
    assert failed["failed"] is True and "postfix reload failed" in failed["msg"]


def test_the_ab_proof_and_a_skipped_step_reach_the_result() -> None:
    before = MailOutcome("delivered 2.0.0", via=("dovecot",))
    after = MailOutcome("delivered 2.0.0", via=("h[private/dovecot-lmtp]",))
    skipped = StepTiming("proof_before", "send the proof messages", 0.0, True, "proof basic")
    report = ApplyReport(
        "mx1", "p1", Outcome.APPLIED, (skipped, *STEPS), proof=(KindProof("plain", before, after),)
    )
    result = results.apply_result(report)
    [kind] = result["ab_proof"]
    assert (kind["kind"], kind["same"], kind["verdict"]) == ("plain", True, "same")
    assert list(kind["after"]["via"]) == ["h[private/dovecot-lmtp]"] and result["proof"] is None
    assert result["steps"][0]["skipped"] == "proof basic" and "skipped" not in result["steps"][1]


def test_the_documented_proof_mode_is_migrators() -> None:
    """The module's documentation names ProofMode's choices and migrator's default."""
    text = (COLLECTION / "plugins" / "modules" / "lmtp.py").read_text()
    spec = ast.literal_eval(text.split("DOCUMENTATION = ", 1)[1].split("\n\n", 1)[0])
    option = yaml.safe_load(spec)["options"]["proof_mode"]
    assert sorted(option["choices"]) == sorted(mode.value for mode in ProofMode)
    assert option["default"] == DEFAULT_PROOF.value
    action = (COLLECTION / "plugins" / "action" / "lmtp.py").read_text()
    assert f'"choices": {sorted(mode.value for mode in ProofMode)!r}'.replace("'", '"') in action
