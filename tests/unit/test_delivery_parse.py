"""Delivery proofs, read from captured lab output (pure), and their round trips (a fake host)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from migrator.delivery import proof, scripts
from migrator.delivery.parse import (
    ConfirmReport,
    LmtpReply,
    delivery_failure,
    first_received,
    header_delivery_failure,
    lmtp_trace,
    parse_confirm_output,
    parse_fetch,
    parse_log_delivery,
    parse_transcript,
    probe_commands,
    probe_failure,
    removal_failure,
)
from migrator.endpoint import Endpoint
from migrator.errors import DeliveryError, UsageError
from migrator.transport.base import FileData, RunResult

LMTP = "unix:/var/spool/postfix/private/dovecot-lmtp"
RCPT = "alice@example.test"
MID = "<migrator.cap.76596b6c6e5a44fcb576031eb9ca7309@dlm-01>"
COMMANDS = probe_commands([RCPT])

PROBE_OK = """\
using python3
< 220 dlm-01.example.test Dovecot (Debian) ready.
> LHLO migrator.probe
< 250-dlm-01.example.test
< 250-8BITMIME
< 250-CHUNKING
< 250-ENHANCEDSTATUSCODES
< 250 PIPELINING
> MAIL FROM:<>
< 250 2.1.0 OK
> RCPT TO:<alice@example.test>
< 250 2.1.5 OK
> RSET
< 250 2.0.0 OK
> QUIT
< 221 2.0.0 Bye
"""

PROBE_UNKNOWN_USER = """\
using perl
< 220 dlm-01.example.test Dovecot (Debian) ready.
> LHLO migrator.probe
< 250-dlm-01.example.test
< 250 PIPELINING
> MAIL FROM:<>
< 250 2.1.0 OK
> RCPT TO:<alice@example.test>
< 550 5.1.1 <alice@example.test> User doesn't exist: alice@example.test
> RSET
< 250 2.0.0 OK
> QUIT
< 221 2.0.0 Bye
"""

# Captured on the lmtp profile: sent over LMTP, Sieve filed it (List-Id) into Lists.
CONFIRM_OK = (
    "log Nov 25 02:55:56 dlm-01 postfix/pickup[26796]: F15E1164177: uid=0 from=<>\n"
    f"log Nov 25 02:55:56 dlm-01 postfix/cleanup[3361]: F15E1164177: message-id={MID}\n"
    "log Nov 25 02:55:56 dlm-01 postfix/qmgr[26797]: F15E1164177: from=<>, size=516, nrcpt=1"
    " (queue active)\n"
    f"log Nov 25 02:55:57 dlm-01 postfix/lmtp[3364]: F15E1164177: to=<{RCPT}>,"
    " relay=dlm-01.example.test[private/dovecot-lmtp], delay=0.04, delays=0.02/0/0/0.02,"
    f" dsn=2.0.0, status=sent (250 2.0.0 <{RCPT}> oJcoOzxOBmvcCwAA02715w Saved)\n"
    "log Nov 25 02:55:57 dlm-01 postfix/qmgr[26797]: F15E1164177: removed\n"
    f"user {RCPT}\n"
    "fetch 0\n"
    "doveadm mailbox\tuid\n"
    "doveadm Lists\t3\n"
)

# Captured on system-lda: local(8) runs dovecot-lda for a system user that has no mailbox.
CONFIRM_DEFERRED = (
    "log Nov 25 02:55:19 dsl-01 postfix/cleanup[3480]: 187231641D5: message-id=<m@dsl-01>\n"
    "log Nov 25 02:55:19 dsl-01 postfix/local[3485]: 187231641D5: to=<nobody@example.test>,"
    " relay=local, delay=0.08, delays=0.03/0/0/0.04, dsn=4.3.0,"
    " status=deferred (temporary failure)\n"
)

LDA_LINE = (
    "Nov 25 02:53:31 dvl-01 postfix/pipe[30137]: 1D934164093: to=<alice@example.test>,"
    " orig_to=<team@example.test>, relay=dovecot, delay=0.06, delays=0.02/0.01/0/0.04,"
    " dsn=2.0.0, status=sent (delivered via dovecot service)"
)
BOUNCE_LINE = (
    "Nov 25 02:53:31 dvl-01 postfix/pipe[30138]: 1D934164093: to=<nobody@example.test>,"
    " relay=dovecot, delay=0.08, delays=0.02/0.02/0/0.04, dsn=5.1.1, status=bounced (user unknown)"
)


def test_probe_transcript_read() -> None:
    interpreter, replies, error = parse_transcript(PROBE_OK)
    assert interpreter == "python3"
    assert error is None
    assert replies[1] == LmtpReply(
        "LHLO migrator.probe",
        250,
        "dlm-01.example.test | 8BITMIME | CHUNKING | ENHANCEDSTATUSCODES | PIPELINING",
    )
    assert [r.code for r in replies] == [220, 250, 250, 250, 250, 221]
    assert probe_failure(LMTP, COMMANDS, replies, error) is None


def test_probe_fails_on_the_rcpt_reply() -> None:
    _, replies, error = parse_transcript(PROBE_UNKNOWN_USER)
    assert probe_failure(LMTP, COMMANDS, replies, error) == (
        f"LMTP {LMTP}: RCPT TO:<alice@example.test> answered 550 5.1.1 <alice@example.test>"
        " User doesn't exist: alice@example.test"
    )


@pytest.mark.parametrize(
    ("transcript", "expected"),
    [
        (
            "using perl\nerror connect to /x: Permission denied\n",
            "LMTP unix:/x: connect to /x: Permission denied",
        ),
        (
            "using perl\n< 220 ready\n> LHLO migrator.probe\nerror no answer within 10s\n",
            "LMTP unix:/x: no answer within 10s (at LHLO migrator.probe)",
        ),
        ("using perl\n< 421 4.3.2 shutting down\n", "LMTP unix:/x: greeting answered 421 4.3.2"),
        (
            "error no LMTP client: none of 'perl python3' is installed\n",
            "LMTP unix:/x: no LMTP client: none of 'perl python3' is installed",
        ),
    ],
)
def test_probe_failures_are_one_line(transcript: str, expected: str) -> None:
    _, replies, error = parse_transcript(transcript)
    failure = probe_failure("unix:/x", COMMANDS, replies, error)
    assert failure is not None
    assert failure.startswith(expected)
    assert "\n" not in failure


def test_probe_without_quit_reply_is_fine() -> None:
    _, replies, error = parse_transcript(PROBE_OK.replace("< 221 2.0.0 Bye\n", ""))
    assert probe_failure(LMTP, COMMANDS, replies, error) is None


def test_log_lines() -> None:
    lda = parse_log_delivery(LDA_LINE, "alice@example.test")
    assert lda is not None
    assert (lda.queue_id, lda.relay, lda.delay, lda.dsn, lda.status) == (
        "1D934164093",
        "dovecot",
        0.06,
        "2.0.0",
        "sent",
    )
    assert lda.detail == "delivered via dovecot service"
    assert parse_log_delivery(LDA_LINE, "bob@example.test") is None
    bounce = parse_log_delivery(BOUNCE_LINE, "nobody@example.test")
    assert bounce is not None
    assert (bounce.status, bounce.dsn, bounce.detail) == ("bounced", "5.1.1", "user unknown")
    assert parse_log_delivery("F15E1164177: removed", RCPT) is None


def test_confirm_report_proves_lmtp_delivery_into_lists() -> None:
    report = parse_confirm_output(CONFIRM_OK)
    assert report.queue_id == "F15E1164177"
    assert report.fetch_rc == 0
    assert report.waited is None
    assert parse_fetch(report.fetch_lines) == [("Lists", 3)]
    assert delivery_failure(report, RCPT, "private/dovecot-lmtp") is None
    assert delivery_failure(report, RCPT, lambda relay: relay.endswith("-lmtp]")) is None
    record = proof.build_record(report, RCPT, MID, "/var/log/postfix.log", 0.1)
    assert (record.queue_id, record.mailbox, record.uid, record.delay) == (
        "F15E1164177",
        "Lists",
        3,
        0.04,
    )


def test_confirm_report_failures_name_the_status() -> None:
    report = parse_confirm_output(CONFIRM_OK)
    wrong = delivery_failure(report, RCPT, "dovecot-lda")
    assert wrong is not None
    assert "relay=dlm-01.example.test[private/dovecot-lmtp], not a relay containing" in wrong
    deferred = delivery_failure(parse_confirm_output(CONFIRM_DEFERRED), "nobody@example.test", "")
    assert deferred == "queue id 187231641D5: status=deferred dsn=4.3.0 (temporary failure)"
    assert delivery_failure(parse_confirm_output("timeout 2\n"), RCPT, "") == (
        "timeout: no cleanup line with this Message-ID within 2 s"
        " (Postfix did not pick it up, or logs elsewhere)"
    )
    missing = CONFIRM_OK.replace("doveadm Lists\t3\n", "")
    assert "no message with this Message-ID" in str(
        delivery_failure(parse_confirm_output(missing), RCPT, "")
    )
    first = CONFIRM_OK.split("log Nov 25 02:55:57")[0] + "timeout 20\n"
    assert delivery_failure(parse_confirm_output(first), RCPT, "") == (
        f"timeout: queue id F15E1164177 has no outcome for <{RCPT}> within 20 s"
    )


def test_removal() -> None:
    assert removal_failure("postsuper postsuper: Deleted: 0 messages\nuser a\nexpunge 0\n") is None
    unknown = "user nobody\nexpunge 67\ndoveadm doveadm(nobody): Error: User doesn't exist\n"
    assert removal_failure(unknown) is None
    assert removal_failure("user a\nexpunge 75\ndoveadm Error: x\n") == (
        "doveadm expunge exited 75: Error: x"
    )
    assert removal_failure("user a\nexpunge 0\nleft INBOX\t7\n") == (
        "still in INBOX\t7 after doveadm expunge"
    )


def test_test_message() -> None:
    message = proof.build_test_message(RCPT, tag="t1", sender="", host="h", list_id="<l.x>")
    assert message["Subject"] == "migrator delivery test t1"
    assert message["X-Migrator-Test"] == "t1"
    assert message["List-Id"] == "<l.x>"
    assert str(message["Message-ID"]).startswith("<migrator.t1.")
    with pytest.raises(UsageError):
        proof.build_test_message(RCPT, tag="a\nBcc: x", sender="", host="h")


class FakeHost:
    """A recording transport: answers each run with the next canned output."""

    def __init__(self, *outputs: str) -> None:
        self.outputs = list(outputs)
        self.calls: list[tuple[str, ...]] = []

    host = "fake-01"
    live = True

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> RunResult:
        self.calls.append(tuple(argv))
        return RunResult(self.host, tuple(argv), 0, self.outputs.pop(0).encode(), b"")

    def read_files(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        raise AssertionError("not used")

    def write_atomic(self, path: str, content: bytes, *, owner: str, group: str, mode: int) -> None:
        raise AssertionError("not used")

    def close(self) -> None:
        pass


def test_one_round_trip_per_operation() -> None:
    host = FakeHost(PROBE_OK)
    result = proof.probe_lmtp(host, Endpoint.from_probe_target(LMTP), RCPT)
    assert len(host.calls) == 1
    assert host.calls[0][:2] == ("sh", "-c")
    assert [r.code for r in result.replies][-1] == 221
    said = f"sendmail 0 \n{CONFIRM_OK}confirm-rc 0\nmigrator-remove\nuser a\nexpunge 0\n"
    host = FakeHost(said)
    record = proof.prove_delivery(
        host,
        RCPT,
        log_path="/var/log/postfix.log",
        expect_relay="private/dovecot-lmtp",
        over_lmtp=True,
        tag="x",
    )
    assert len(host.calls) == 1 and host.calls[0][2] is scripts.PROVE_SH  # send, find, remove
    assert record.mailbox == "Lists"


def test_failed_proof_still_removes_and_names_host_and_log() -> None:
    said = f"sendmail 0 \n{CONFIRM_DEFERRED}confirm-rc 0\nmigrator-remove\nuser nobody\nexpunge 0\n"
    host = FakeHost(said)
    with pytest.raises(DeliveryError) as caught:
        proof.prove_delivery(
            host,
            "nobody@example.test",
            log_path="/var/log/mail.log",
            expect_relay="",
            over_lmtp=True,
            tag="x",
        )
    assert str(caught.value).startswith("fake-01: /var/log/mail.log: test message <migrator.x.")
    assert "status=deferred dsn=4.3.0 (temporary failure)" in str(caught.value)
    assert "/var/log/mail.log" in host.calls[0]  # the removal also drops it from the queue


def test_report_is_a_record() -> None:
    assert ConfirmReport(None, (), 20, None, None, ()).waited == 20


def test_confirm_script_ignores_an_older_use_of_the_queue_id(tmp_path: Path) -> None:
    """The confirm script itself, run here on a log where the queue id was used before."""
    older = CONFIRM_DEFERRED.replace("187231641D5", "F15E1164177").replace("nobody@", "alice@")
    lines = [line.removeprefix("log ") for line in (older + CONFIRM_OK).splitlines()]
    log = tmp_path / "postfix.log"
    log.write_text("\n".join(line for line in lines if line.startswith("Nov")) + "\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "doveadm").write_text(
        "#!/bin/sh\n[ \"$1\" = user ] || printf 'mailbox\\tuid\\nLists\\t3\\n'\n"
    )
    (fake / "doveadm").chmod(0o755)
    argv = ["sh", "-c", scripts.CONFIRM_SH, "sh", str(log), MID, RCPT, "2", "", "100000"]
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout
    report = parse_confirm_output(out)
    assert report.queue_id == "F15E1164177"
    assert delivery_failure(report, RCPT, "private/dovecot-lmtp") is None
    assert not any("status=deferred" in line for line in report.log_lines)


LMTP_HEADER = [
    "hdr:",
    "Return-Path: <>",
    "Delivered-To: alice@example.test",
    "Received: from mx1.example.test",
    "\tby mx1.example.test with LMTP",
    "\tid 9K2mHg0UL2e0HAAA (envelope-from <>)",
    "\tfor <alice@example.test>; Wed, 02 Dec 2026 01:22:31 +0000",
    "Received: by mx1.example.test (Postfix, from userid 0)",
    "\tid 459CA164042; Wed,  2 Dec 2026 01:22:31 +0000 (UTC)",
]


def test_the_newest_trace_is_unfolded_and_tells_lmtp_from_the_lda() -> None:
    assert first_received(LMTP_HEADER).startswith("Received: from mx1.example.test by mx1")
    assert lmtp_trace(LMTP_HEADER)
    assert not lmtp_trace(["Received: by mx1 (Postfix, from userid 0)", "\tid 1; Wed"])
    assert not lmtp_trace(["Subject: with LMTP in the subject"])


def test_without_a_log_the_queue_says_why() -> None:
    entry = (
        '{"queue_name": "deferred", "queue_id": "187231641D5", "arrival_time": 1790000000, '
        '"recipients": [{"address": "nobody@example.test", '
        '"delay_reason": "unknown user: \\"nobody\\""}]}'
    )
    report = parse_confirm_output(f"user nobody\nfetch 0\ntimeout 3\nqueue {entry}\n")
    failure = header_delivery_failure(report, "nobody@example.test", over_lmtp=False)
    assert failure is not None and 'still queued: unknown user: \\"nobody\\"' in failure
    gone = parse_confirm_output("user nobody\nfetch 0\ntimeout 3\n")
    assert "not queued either (bounced?)" in (header_delivery_failure(gone, "x@y", False) or "")
