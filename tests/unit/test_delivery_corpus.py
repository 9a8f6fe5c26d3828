"""The proof corpus (pure): message kinds, the batch's tar, reading its output, comparing."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from migrator.cli.proof_view import show_proof
from migrator.delivery.ab import improvement_note, production_batch, proof_failure
from migrator.delivery.batch import pack
from migrator.delivery.corpus import (
    HostTraits,
    Kind,
    build_mail,
    detail_address,
    new_token,
    production_kinds,
    traits_from_facts,
)
from migrator.delivery.outcome import MailOutcome, compare, parse_batch
from migrator.errors import UsageError
from migrator.executor.apply import ApplyReport, Outcome
from migrator.exit_status import ExitStatus
from migrator.fleet.report import to_json
from migrator.fleet.rollout import FleetReport, HostOutcome, HostResult
from tests.unit.test_plan_readme import EXAMPLE

TOKEN = "48c5cf9356fc"
# The batch script on a bookworm lab host (virtual-lda, LDA), trimmed to two messages: plain
# delivered to INBOX, +detail bounced by the LDA (-d ${recipient} keeps the extension).
CAPTURED_LDA = (Path(__file__).parent / "captured" / "proof_batch_lda.txt").read_text()


def test_each_kind_carries_the_token_where_it_can_be_found() -> None:
    for kind in Kind:
        mail = build_mail(kind, TOKEN, ["alice@example.test"])
        assert mail.message_id == f"<{TOKEN}.{kind.value}@proof.migrator.invalid>"
        assert f"X-Migrator-Proof: {TOKEN} {kind.value}\n".encode() in mail.content
        assert b"\r" not in mail.content


def test_eight_bit_and_smtputf8_are_what_they_say() -> None:
    eight = build_mail(Kind.EIGHT_BIT, TOKEN, ["alice@example.test"]).content
    head, body = eight.split(b"\n\n", 1)
    assert head.isascii() and not body.isascii()
    assert b"Content-Transfer-Encoding: 8bit" in head
    utf8 = build_mail(Kind.SMTPUTF8, TOKEN, ["alice@example.test"])
    head = utf8.content.split(b"\n\n", 1)[0]
    assert "Jörg Prüfer <jörg@bücher.example>".encode() in head  # raw UTF-8, no =?utf-8?
    assert b"=?utf-8?" not in head and utf8.smtputf8


def test_list_mail_has_a_list_id_and_size_limit_mail_its_size() -> None:
    assert b"List-Id: <proof.migrator.invalid>" in build_mail(Kind.LIST, TOKEN, ["a@b.c"]).content
    big = build_mail(Kind.SIZE_LIMIT, TOKEN, ["a@b.c"], size=200_000).content
    assert 199_000 < len(big) <= 200_000


@pytest.mark.parametrize(
    ("traits", "kinds"),
    [
        (HostTraits(), ["plain", "8bit"]),
        (
            HostTraits(smtputf8=True, delimiter="+", sieve=True),
            ["plain", "8bit", "smtputf8", "detail", "list"],
        ),
        (
            HostTraits(delimiter="-", alias="team@example.test"),
            ["plain", "8bit", "detail", "alias"],
        ),
    ],
)
def test_only_kinds_the_host_applies_are_sent(traits: HostTraits, kinds: list[str]) -> None:
    assert [k.value for k in production_kinds(traits)] == kinds
    batch = production_batch("alice@example.test", traits, TOKEN)
    assert batch.kinds == tuple(kinds) and batch.mailboxes == ("alice@example.test",)
    assert all(m.recipients[0].startswith("alice") for m in batch.mails)


def test_no_kind_that_fails_mail_is_ever_sent_on_a_live_host() -> None:
    # Over quota, unknown recipient, vacation, redirect, size limit: the lab's corpus only.
    every = HostTraits(smtputf8=True, delimiter="+", sieve=True, alias="team@example.test")
    assert set(production_kinds(every)) == set(Kind) - {
        Kind.OVER_QUOTA,
        Kind.UNKNOWN,
        Kind.VACATION,
        Kind.REDIRECT,
        Kind.SIZE_LIMIT,
        Kind.MANY,
    }


def test_traits_come_from_the_plans_facts() -> None:
    facts = json.loads(EXAMPLE.read_text())["facts"]
    assert traits_from_facts(facts, smtputf8=True) == HostTraits(True, "+", True)
    assert traits_from_facts({}, smtputf8=False) == HostTraits()


def test_detail_address_and_tokens() -> None:
    assert detail_address("alice@example.test", "+-") == "alice+migrator-proof@example.test"
    assert new_token("48C5CF9356FCAB") == "48c5cf9356fcab"
    for bad in ("abc", "48c5-cf93", "x" * 5):
        with pytest.raises(UsageError):
            new_token(bad)


def test_the_batch_goes_as_a_tar_with_a_manifest() -> None:
    batch = production_batch("alice@example.test", HostTraits(delimiter="+"), TOKEN)
    with tarfile.open(fileobj=io.BytesIO(pack(batch.mails))) as tar:
        names = tar.getnames()
        manifest = tar.extractfile("manifest").read().decode()  # type: ignore[union-attr]
    assert names == ["manifest", "m0", "m1", "m2"]
    assert manifest.splitlines() == [
        "m0 0 - alice@example.test",
        "m1 0 - alice@example.test",
        "m2 0 - alice+migrator-proof@example.test",
    ]


def test_the_captured_batch_reads_as_outcomes() -> None:
    report = parse_batch(CAPTURED_LDA, TOKEN, ["plain", "detail"])
    plain, detail = report.outcomes["plain"], report.outcomes["detail"]
    assert plain.status == "delivered 2.0.0"
    assert plain.recipients == ("alice@example.test delivered 2.0.0",)
    assert plain.copies == ("alice@example.test INBOX (\\Recent)",)
    assert plain.via == ("dovecot",)
    assert "Delivered-To: alice@example.test" in plain.headers
    assert "X-Migrator-Proof: TOKEN plain" in plain.headers
    assert not any(h.startswith(("Received", "Return-Path", "Message-ID")) for h in plain.headers)
    assert detail == MailOutcome(
        "bounced 5.1.1", ("alice+migrator-proof@example.test bounced 5.1.1",)
    )
    assert report.cleanup.ok and not report.error and report.waited is None


def test_skipped_kinds_and_leftovers_are_reported() -> None:
    text = "skip m1 smtputf8_enable = no\nleft alice@example.test\tINBOX\ntimeout 20\n"
    report = parse_batch(text, TOKEN, ["plain", "smtputf8"])
    assert list(report.outcomes) == ["plain"]
    assert report.skipped == {"smtputf8": "smtputf8_enable = no"}
    assert report.cleanup.left == ("alice@example.test\tINBOX",) and not report.cleanup.ok
    assert report.waited == 20


def test_without_a_log_the_queue_and_the_mailbox_decide() -> None:
    deferred = (
        'queue 1A7AA188473 plain {"queue_id": "1A7AA188473", "recipients": [{"address": '
        '"alice@example.test", "delay_reason": "host said: 452 4.2.2 Mailbox is full"}]}'
    )
    report = parse_batch(deferred + "\nsent m0 0 \nsent m1 0 \n", TOKEN, ["plain", "8bit"])
    assert report.outcomes["plain"].status == "deferred 4.2.2"
    assert report.outcomes["8bit"].status == "bounced"


def test_a_logged_code_wins_over_a_delay_reason_without_one() -> None:
    # The LDA over quota with quota_full_tempfail = yes (bookworm lab, tests/lab/test_quota.py):
    # the pipe's delay reason has no code; Postfix's log has 4.3.0.
    qid, reason = "1A7AA188473", "temporary failure. Command output: Quota exceeded"
    text = "\n".join(
        [
            f"log Dec  2 07:00:00 h postfix/cleanup[1]: {qid}: "
            f"message-id=<{TOKEN}.over-quota@proof.migrator.invalid>",
            f"log Dec  2 07:00:00 h postfix/pipe[2]: {qid}: to=<bob@example.test>, relay=dovecot, "
            f"delay=0.1, delays=0/0/0/0.1, dsn=4.3.0, status=deferred ({reason})",
            f'queue {qid} over-quota {{"queue_id": "{qid}", "recipients": [{{"address": '
            f'"bob@example.test", "delay_reason": "{reason}"}}]}}',
            "sent m0 0 ",
        ]
    )
    outcome = parse_batch(text, TOKEN, ["over-quota"]).outcomes["over-quota"]
    assert outcome.status == "deferred 4.3.0"
    assert outcome.recipients == ("bob@example.test deferred 4.3.0",)


def test_compare_names_each_differing_field() -> None:
    lda = parse_batch(CAPTURED_LDA, TOKEN, ["plain", "detail"]).outcomes
    lmtp = dict(lda)
    lmtp["plain"] = replace(lda["plain"], via=("h[private/dovecot-lmtp]",))
    assert [p.verdict for p in compare(lda, lmtp)] == ["same", "same"]  # the relay is not compared
    lmtp["plain"] = MailOutcome("bounced 5.6.7", ("alice@example.test bounced 5.6.7",))
    lmtp["detail"] = replace(
        lda["plain"], recipients=("alice+migrator-proof@example.test delivered 2.0.0",)
    )
    proofs = compare(lda, lmtp)
    assert [(p.kind, p.same, p.verdict) for p in proofs] == [
        ("plain", False, "differs"),
        ("detail", False, "improved"),
    ]
    assert proofs[0].differences[0] == "status: delivered 2.0.0 -> bounced 5.6.7"
    failure = proof_failure(proofs)
    assert failure is not None and failure.startswith(
        "LMTP delivered 1 kind(s) unlike the LDA: "
        "plain: delivered 2.0.0: alice@example.test INBOX -> bounced 5.6.7"
    )
    assert "detail" not in failure
    assert improvement_note(proofs) == "detail: bounced 5.1.1 -> delivered"


def test_a_kind_missing_after_the_switch_differs() -> None:
    lda = parse_batch(CAPTURED_LDA, TOKEN, ["plain"]).outcomes
    [proof] = compare(lda, {})
    assert (proof.after, proof.verdict) == (None, "differs")
    assert (
        proof_failure([proof])
        == "LMTP delivered 1 kind(s) unlike the LDA: plain: not sent after the switch"
    )


def test_the_report_json_and_the_table_carry_the_proof() -> None:
    lda = parse_batch(CAPTURED_LDA, TOKEN, ["plain", "detail"]).outcomes
    lmtp = {
        "plain": replace(lda["plain"], via=("h[private/dovecot-lmtp]",)),
        "detail": replace(lda["plain"], headers=("To: alice+migrator-proof@example.test",)),
    }
    proofs = compare(lda, lmtp)
    result = HostResult("mx1", HostOutcome.APPLIED, ExitStatus.SUCCESS, proof=proofs)
    [host] = json.loads(to_json(FleetReport("apply", (result,))))["hosts"]
    assert [(p["kind"], p["same"], p["verdict"]) for p in host["proof"]] == [
        ("plain", True, "same"),
        ("detail", False, "improved"),
    ]
    assert host["proof"][0]["before"]["via"] == ["dovecot"]
    assert host["proof"][1]["after"]["status"] == "delivered 2.0.0"
    assert host["proof"][1]["differences"][0] == "status: bounced 5.1.1 -> delivered 2.0.0"
    console = Console(record=True, width=200)
    report = ApplyReport("mx1", "p1", Outcome.APPLIED, proof=proofs, proof_skipped=("x: y",))
    show_proof(report, console)
    text = console.export_text()
    assert "mx1: A/B proof" in text and "not sent: x: y" in text
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert "plain" in rows[0] and rows[0].rstrip("│ ").endswith("yes")
    assert "detail" in rows[1] and "bounced 5.1.1" in rows[1] and "improved" in rows[1]
