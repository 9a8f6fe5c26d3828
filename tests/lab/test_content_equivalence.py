"""LMTP after `migrator apply` stores every content and envelope class as the LDA did (issue 13).

The message kinds of test_equivalence.py are ordinary mail; these are the classes that break
transports: dot lines, bare CR/LF, long lines, NUL, no final newline, ``From `` lines, 8-bit
headers, many headers, nested MIME, odd recipients and senders. Each is sent once through the
LDA and once through LMTP (one lab host per release, all classes in one batch each), and the
copies compared byte for byte after the trace headers each path adds (Return-Path,
Delivered-To, Dovecot's LMTP Received), with Postfix's verdict and the folder bob's Sieve chose.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from migrator.lab import lifecycle, mail
from migrator.lab.state import Lab, LabHost

from .conftest import LabFactory
from .messages import _dsn_class, send_raw, sendmail_raw, stored
from .test_equivalence import _apply as apply_saying

pytestmark = pytest.mark.lab

BOB = ("bob@example.test",)
# bob's Sieve: which envelope and header each path shows it decides the folder.
BOB_SIEVE = """require ["envelope", "fileinto", "mailbox"];
if envelope :is "from" "" { fileinto :create "NullSender"; }
elsif header :contains "subject" "\u00fcber" { fileinto :create "Eight"; }
elsif envelope :comparator "i;octet" :is "to" "bob@example.test" { fileinto :create "ToBob"; }
elsif envelope :is "to" "bob@example.test" { fileinto :create "ToBobAnyCase"; }
"""
NESTED = (
    b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n--outer\r\n'
    b'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n--inner\r\n'
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    b"caf\xc3\xa9\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--inner--\r\n"
    b"--outer\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@b.test\r\nSubject: in\r\n\r\n"
    b".\r\nFrom inner\r\n--outer--\r\n"
)


@dataclass(frozen=True, slots=True)
class Case:
    """One content or envelope class: what is sent, to whom, by which door."""

    name: str
    body: bytes = b"plain body\r\n"
    to: tuple[str, ...] = BOB
    sender: str = "tester@migrator.lab"
    headers: bytes = b""
    subject: bytes = b"content test"
    via: str = "smtp"
    """smtp (as given, dot-stuffed) or sendmail (the host's sendmail(1), fed the bytes)."""
    mime: bool = True


CASES = (
    Case("dot_lines", b".leading dot\r\n..two dots\r\n.\r\nafter a lone dot\r\n"),
    Case("bare_cr", b"one\rtwo\r\nthree\r\n"),
    Case("bare_lf", b"one\ntwo\r\nthree\r\n"),
    Case("sendmail_crlf", b"crlf line\r\nanother\r\n", via="sendmail"),
    Case("sendmail_lf", b"lf line\nanother\n", via="sendmail"),
    Case("no_final_newline", b"no newline at the end", via="sendmail"),
    Case("line_999", b"a" * 999 + b"\r\nend\r\n"),
    Case("line_5000", b"b" * 5000 + b"\r\nend\r\n"),
    Case("line_200k", b"c" * 200_000 + b"\r\nend\r\n"),
    Case("empty_body", b""),
    Case("from_lines", b"From here on\r\n>From quoted\r\nFrom: not a header\r\n"),
    Case("nul", b"a\x00b\r\n"),
    Case("eightbit_header", subject="\u00fcber caf\u00e9".encode()),
    Case("many_headers", headers=b"".join(b"X-Filler-%d: v\r\n" % i for i in range(1000))),
    Case("long_header", headers=b"X-Long: " + b"h" * 5000 + b"\r\n"),
    Case("folded_header", headers=b"X-Folded: a\r\n" + b"\tb\r\n" * 300),
    Case("nested_mime", NESTED, mime=False),
    Case("upper_rcpt", to=("BOB@example.test",)),
    Case("mixed_rcpt", to=("Bob@Example.Test",)),
    Case("detail", to=("bob+news@example.test",)),
    Case("detail_repeated", to=("bob+a+b@example.test",)),
    Case("detail_empty", to=("bob+@example.test",)),
    Case("quoted_local", to=('"bob"@example.test',)),
    Case("quoted_unknown", to=('"bob smith"@example.test',)),
    Case("null_sender", sender=""),
    Case("odd_sender", sender="a&b|c'd$e`f@migrator.lab"),
    Case("quoted_sender", sender='"odd sender"@migrator.lab'),
)


def _raw(case: Case, message_id: str) -> bytes:
    mime = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    head = (
        b"From: tester@migrator.lab\r\nTo: " + b", ".join(t.encode() for t in case.to) + b"\r\n"
        b"Subject: " + case.subject + b"\r\nDate: Wed, 02 Dec 2026 12:00:00 +0000\r\n"
        b"Message-ID: " + message_id.encode() + b"\r\n" + case.headers + b"MIME-Version: 1.0\r\n"
    ) + (mime if case.mime else b"")
    if case.via == "sendmail" and b"\r\n" not in case.body:
        return head.replace(b"\r\n", b"\n") + b"\n" + case.body
    return head + b"\r\n" + case.body


@dataclass(frozen=True, slots=True)
class Stored:
    """One class's outcome: Postfix's verdict per recipient, and each copy's folder, the trace
    headers its path added, and the bytes after them (Message-ID made <ID>)."""

    statuses: tuple[tuple[str, str, str], ...]
    copies: tuple[tuple[str, tuple[str, ...], bytes], ...] = ()


_FIELD = re.compile(rb"^([!-9;-~]+):[^\n]*\n(?:[ \t][^\n]*\n)*", re.M)


def split_trace(data: bytes, message_id: str) -> tuple[tuple[str, ...], bytes]:
    """The headers above Postfix's own Received (each path's additions, normalised), and the
    bytes after that Received with MESSAGE_ID replaced by <ID>."""
    added: list[str] = []
    at = 0
    while match := _FIELD.match(data, at):
        at = match.end()
        name, text = match[1].decode(), match[0].decode(errors="replace").strip()
        if name.lower() == "received" and "(Postfix" in text:
            return tuple(added), data[at:].replace(message_id.encode(), b"<ID>")
        added.append("Received: (LMTP)" if "with LMTP" in text else text)
    return tuple(added), data.replace(message_id.encode(), b"<ID>")


def _outcome(lab: Lab, host: LabHost, sent: mail.Sent | int) -> Stored:
    if isinstance(sent, int):
        return Stored((("*", "refused", str(sent)),))
    done = mail.wait_delivered(lab, host, sent, timeout=60)
    statuses = sorted((d.recipient, d.status, _dsn_class(lab, host, d)) for d in done)
    copies = tuple(
        (folder, *split_trace(data, sent.message_id))
        for folder, data in stored(lab, host, sent.message_id)
    )
    return Stored(tuple(statuses), copies)


def _send_all(
    lab: Lab, host: LabHost, tag: str, cases: Sequence[Case] = CASES
) -> dict[str, Stored]:
    """Every class in one batch: all sent, then each one's outcome."""
    sent: dict[str, mail.Sent | int] = {}
    for case in cases:
        raw = _raw(case, f"<{case.name}.{tag}.{uuid.uuid4().hex[:12]}@migrator.lab>")
        if case.via == "sendmail":
            sent[case.name] = sendmail_raw(lab, host, case.sender, case.to, raw)
        else:
            sent[case.name] = send_raw(host, case.sender, case.to, raw)
    return {name: _outcome(lab, host, s) for name, s in sent.items()}


def _prepare(lab: Lab, host: LabHost, release: str) -> None:
    """bob's Sieve script, and user names looked up as given (the pipe's flag u lowered
    them for the LDA; LMTP sees them as sent)."""
    home = "/var/vmail/example.test/bob"
    as_given = "%{user}" if release == "trixie" else "%u"
    script = (
        f'mkdir -p {home} && printf %s "$1" > {home}/.dovecot.sieve'
        " && chown -R vmail:vmail /var/vmail/example.test"
        f" && echo 'auth_username_format = {as_given}' >> /etc/dovecot/local.conf"
        " && doveadm reload"
    )
    done = lifecycle.run_in_host(host, lab, ["sh", "-c", script, "sh", BOB_SIEVE], capture=True)
    assert done.returncode == 0, done.stderr


LMTP_TRACE = "Received: (LMTP)"
# Where bob's Sieve files a class under LMTP when the plan announced why it differs.
ANNOUNCED_FOLDER = {
    "upper_rcpt": "bob/Maildir/.ToBobAnyCase",  # envelope "to" keeps BOB@ (recipient case)
    "mixed_rcpt": "bob/Maildir/.ToBobAnyCase",
    "null_sender": "bob/Maildir/.NullSender",  # envelope "from" is <>, not MAILER-DAEMON
}
DETAIL = ("detail", "detail_repeated", "detail_empty")


def as_lmtp_stores(name: str, lda: Stored, folders: Mapping[str, str] = ANNOUNCED_FOLDER) -> Stored:
    """What LMTP must store for a class the LDA delivered: the same bytes and folder, under
    the trace LMTP adds, with only the differences the plan announces."""
    copies = tuple(
        (
            folders.get(name, folder),
            (*(h.replace("<MAILER-DAEMON>", "<>") for h in trace), LMTP_TRACE),
            rest,
        )
        for folder, trace, rest in lda.copies
    )
    return Stored(lda.statuses, copies)


@pytest.mark.parametrize("release", ["bullseye", "bookworm", "trixie"])
def test_lmtp_stores_each_content_class_as_the_lda_did(
    make_lab: LabFactory, tmp_path: Path, release: str
) -> None:
    lab = make_lab("virtual-lda", release=release, prefix="ct")
    host = lab.hosts[0]
    _prepare(lab, host, release)
    lda = _send_all(lab, host, "lda")
    said = apply_saying(lab, host, tmp_path)
    lmtp = _send_all(lab, host, "lmtp")

    # The LDA's own outcomes, so that a class that stops exercising its path is caught.
    assert lda["line_999"].copies[0][2].endswith(b"\n" + b"a" * 999 + b"\nend\n")
    assert lda["line_200k"].copies[0][2].endswith(b"\n" + b"c" * 200_000 + b"\nend\n")
    assert lda["null_sender"].copies[0][:2] == (
        "bob/Maildir/.ToBob",
        ("Return-Path: <MAILER-DAEMON>", "Delivered-To: bob@example.test"),
    )
    assert lda["upper_rcpt"].copies[0][0] == "bob/Maildir/.ToBob"
    assert lda["eightbit_header"].copies[0][0] == "bob/Maildir/.Eight"
    assert lda["quoted_unknown"].statuses == (('"bob smith"@example.test', "bounced", "5.1.1"),)

    # Equalised: long lines arrive whole (Postfix's lmtp client would break them at 998), and
    # BOB@ is looked up lowered, as the pipe's flag u did (2.3 bounced it 5.1.1 with %u).
    assert any("set lmtp_line_length_limit = 0" in s for s in said), said
    # Announced: the trace line, the null sender, the recipient's case, +detail.
    assert any(s.startswith("trace header: Dovecot's LMTP prepends") for s in said), said
    assert any("which pipe(8) expands to MAILER-DAEMON for a bounce" in s for s in said), said
    lowered = "%{user | lower}" if release == "trixie" else "%Lu"
    assert any(f"set auth_username_format = {lowered} in protocol lmtp" in s for s in said)
    assert any(s.startswith("recipient case: service dovecot folded") for s in said), said
    assert any("mail to user+detail@ bounced" in s for s in said), said
    for case in CASES:
        if case.name not in DETAIL:
            assert lmtp[case.name] == as_lmtp_stores(case.name, lda[case.name]), case.name
    # +detail in any form: the LDA bounced it (-d ${recipient}); LMTP files it in bob's INBOX.
    plain = lmtp["quoted_local"].copies[0][2].replace(b'To: "bob"@', b"To: {}")
    for name in DETAIL:
        rcpt = next(c.to[0] for c in CASES if c.name == name)
        assert lda[name].statuses == ((rcpt, "bounced", "5.1.1"),), lda[name]
        assert lmtp[name] == Stored(
            ((rcpt, "sent", "2.0.0"),),
            (
                (
                    "bob/Maildir",
                    ("Return-Path: <tester@migrator.lab>", f"Delivered-To: {rcpt}", LMTP_TRACE),
                    plain.replace(b"To: {}", b"To: " + rcpt.split("@")[0].encode() + b"@"),
                ),
            ),
        ), lmtp[name]


SYSTEM_CASES = ("dot_lines", "line_5000", "nul", "null_sender", "upper_rcpt", "odd_sender")


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_system_users_get_each_content_class_as_the_lda_gave_it(
    make_lab: LabFactory, tmp_path: Path, release: str
) -> None:
    """mailbox_command hosts: local(8) ran the LDA; after the switch it hands the message to
    Postfix's lmtp client (mailbox_transport), which would break the long line too."""
    lab = make_lab("system-lda", release=release, prefix="cs")
    host = lab.hosts[0]
    cases = [c for c in CASES if c.name in SYSTEM_CASES]
    lda = _send_all(lab, host, "lda", cases)
    said = apply_saying(lab, host, tmp_path, "bob@example.test")
    lmtp = _send_all(lab, host, "lmtp", cases)

    assert any("set lmtp_line_length_limit = 0" in s for s in said), said
    assert not any(s.startswith(("null sender:", "recipient case:")) for s in said), said
    # local(8) passed <> and kept the case itself: only X-Original-To goes (test_equivalence).
    assert lda["null_sender"].copies[0][1][0] == "Return-Path: <>"
    for name in SYSTEM_CASES:
        without = tuple(
            (f, tuple(h for h in trace if not h.startswith("X-Original-To:")), rest)
            for f, trace, rest in lda[name].copies
        )
        expected = as_lmtp_stores(name, Stored(lda[name].statuses, without), folders={})
        assert lmtp[name] == expected, name
