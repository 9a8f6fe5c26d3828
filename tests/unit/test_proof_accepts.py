"""Differences the plan announced (its warnings, recorded in proof_before's ``accepts``) are
shown "as the plan warned" and do not fail the A/B proof; every other difference still does."""

from __future__ import annotations

import pytest

from migrator.delivery.ab import accept, parse_accepts, proof_failure
from migrator.delivery.outcome import MailOutcome, compare

ACCEPTS = parse_accepts("smtputf8:bounced 5.6.7;*:header x-original-to")
INBOX = ("alice@example.test INBOX (\\Recent)",)


def _mail(status: str = "delivered 2.0.0", *headers: str) -> MailOutcome:
    copies = INBOX if status.startswith("delivered") else ()
    return MailOutcome(status, copies=copies, headers=("Subject: x", *headers))


def _proofs(before: dict[str, MailOutcome], after: dict[str, MailOutcome]) -> list[str]:
    return [p.verdict for p in accept(compare(before, after), ACCEPTS)]


def test_an_announced_bounce_and_a_vanished_header_pass_as_announced() -> None:
    before = {"smtputf8": _mail(), "plain": _mail("delivered 2.0.0", "X-Original-To: a@b")}
    after = {"smtputf8": _mail("bounced 5.6.7"), "plain": _mail()}
    proofs = accept(compare(before, after), ACCEPTS)
    assert [p.verdict for p in proofs] == ["announced", "announced"]
    assert proof_failure(proofs) is None
    assert "as the plan warned" in proofs[0].announced


def test_an_announced_bounce_without_a_mail_log_passes_saying_so() -> None:
    """No mail log: the bounce's code cannot be read; the kind announced to bounce passes."""
    proofs = accept(compare({"smtputf8": _mail()}, {"smtputf8": _mail("bounced")}), ACCEPTS)
    assert [p.verdict for p in proofs] == ["announced"] and proof_failure(proofs) is None
    assert "no mail log" in proofs[0].announced
    other = accept(compare({"8bit": _mail()}, {"8bit": _mail("bounced")}), ACCEPTS)
    assert [p.verdict for p in other] == ["differs"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"smtputf8": _mail()}, {"smtputf8": _mail("bounced 5.1.1")}),  # another code
        ({"8bit": _mail()}, {"8bit": _mail("bounced 5.6.7")}),  # another kind
        ({"plain": _mail("delivered 2.0.0", "X-Original-To: a")}, {"plain": _mail("deferred")}),
        ({"plain": _mail("delivered 2.0.0", "Delivered-To: a")}, {"plain": _mail()}),
    ],
)
def test_a_difference_the_plan_did_not_announce_still_fails(
    before: dict[str, MailOutcome], after: dict[str, MailOutcome]
) -> None:
    proofs = accept(compare(before, after), ACCEPTS)
    assert [p.verdict for p in proofs] == ["differs"]
    assert proof_failure(proofs) is not None
