"""What LMTP does to a message's content and envelope that the LDA pipe did not.

Measured on the lab's releases (Dovecot 2.3.13/Postfix 3.5, 2.3.19/3.7, 2.4.1/3.10) by
tests/lab/test_content_equivalence.py, byte for byte in the mailbox:

- Long lines: Postfix's lmtp client breaks every header or body line longer than
  ``lmtp_line_length_limit`` (998 on all three) by inserting CRLF and a space; the pipe
  wrote them whole. ``lmtp_line_length_limit = 0`` turns the breaking off (planned; Dovecot's
  LMTP then stores a 200,000-byte line whole, as the LDA did).
- Trace: Dovecot's LMTP prepends a ``Received: ... with LMTP`` line; the LDA added none. The
  delivery proof reads that line, so it stays (a warning).
- Null sender: pipe(8) expands ``${sender}`` of a bounce to its ``null_sender`` (default
  MAILER-DAEMON), so the LDA stored ``Return-Path: <MAILER-DAEMON>`` and Sieve saw that
  envelope sender; LMTP gets ``MAIL FROM:<>``: ``Return-Path: <>``, an empty envelope sender.
  No Postfix or Dovecot setting rewrites it (a warning).
- Recipient case: flag ``u`` folded the recipient's local part before ``-d``; LMTP gets the
  RCPT TO address as sent. With an ``auth_username_format`` that does not lower it (``%u``)
  Dovecot 2.3 bounces ``BOB@`` 5.1.1 where the LDA delivered: the plan lowers it in
  ``protocol lmtp``. Sieve's envelope "to" still keeps the case (a warning).
- The same on both paths (pinned in the lab): lines starting with "." and a lone ".", bare CR
  and LF, CRLF or LF through sendmail, no final newline, an empty body, ``From `` lines, NUL,
  8-bit headers without SMTPUTF8, many, long and folded headers, nested MIME, a quoted local
  part, odd characters in the envelope sender, ``+detail`` variants (``rules.equivalence``).
Pure: parsed config in, edits and warnings out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from migrator.config.edits import Edit, SetDovecotSetting, SetMainParam
from migrator.config.params import MainParams
from migrator.config.postfix import MasterEntry
from migrator.errors import RefusedError
from migrator.rules.dovecot import PROTOCOL_LMTP
from migrator.rules.hooks import LdaService

LINE_LIMIT = "lmtp_line_length_limit"
NO_LINE_LIMIT = "0"
DEFAULT_NULL_SENDER = "MAILER-DAEMON"


@dataclass(frozen=True, slots=True)
class ContentDifferences:
    """The edits and warnings for what LMTP does to content and envelopes."""

    edits: tuple[Edit, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class LmtpSide:
    """What protocol lmtp will have: its trace header and username settings, Dovecot's syntax
    version ("2.3" or "2.4") and the file a protocol lmtp setting goes to."""

    received_header: str | None
    username_format: str | None
    version: str
    file: str


def content_differences(
    main: MainParams,
    master: Sequence[MasterEntry],
    services: Sequence[LdaService],
    lmtp: LmtpSide,
) -> ContentDifferences:
    """The edits that keep long lines whole and find mixed-case recipients under LMTP, and
    warnings for the trace header, the null sender and the recipient's case."""
    edits = (*_line_limit(main), *_username_case(services, lmtp))
    warnings = [
        *_received(lmtp.received_header),
        *_null_sender(master, services),
        *_recipient_case(services),
    ]
    return ContentDifferences(edits, tuple(warnings))


def lowers_username(value: str | None, version: str) -> bool:
    """Whether an auth_username_format lowers the name (None: the default, which does)."""
    if value is None:
        return True
    return "lower" in value if version == "2.4" else "%L" in value


def lowered_username(value: str, version: str) -> str:
    """VALUE with each user, local part and domain variable lowered (2.3 ``%u`` → ``%Lu``,
    ``%{user}`` → ``%L{user}``; 2.4 ``%{user}`` → ``%{user | lower}``)."""
    if version == "2.4":
        return re.sub(
            r"%\{\s*(user|username|domain)\b([^}]*)\}",
            lambda m: f"%{{{m[1]}{m[2].rstrip()} | lower}}",
            value,
        )
    return re.sub(r"%(\{(?:user|username|domain)\}|[und])", r"%L\1", value)


def _username_case(services: Sequence[LdaService], lmtp: LmtpSide) -> tuple[Edit, ...]:
    folded = [s.name for s in services if "u" in s.flags]
    value = lmtp.username_format
    if not folded or value is None or lowers_username(value, lmtp.version):
        return ()
    wanted = lowered_username(value, lmtp.version)
    if wanted == value:
        return ()
    return (
        SetDovecotSetting(
            lmtp.file,
            PROTOCOL_LMTP,
            "auth_username_format",
            wanted,
            f"service {', '.join(folded)} folded the recipient's local part to lower case "
            f"(flags u) before -d; LMTP looks up RCPT TO as sent, and auth_username_format = "
            f"{value} does not lower it: mail to BOB@ bounced 5.1.1 (user unknown) where the "
            "LDA delivered it (measured on Dovecot 2.3)",
        ),
    )


def _line_limit(main: MainParams) -> tuple[Edit, ...]:
    if LINE_LIMIT in main.values:
        try:
            if main.expand(LINE_LIMIT).strip() == NO_LINE_LIMIT:
                return ()
        except RefusedError:
            pass
    return (
        SetMainParam(
            main.file,
            LINE_LIMIT,
            NO_LINE_LIMIT,
            "the LDA pipe wrote header and body lines of any length whole; Postfix's lmtp "
            "client breaks lines longer than lmtp_line_length_limit (998 by default) by inserting "
            "a newline and a space, which changes the stored message (a 999-byte line arrives "
            "as two); 0 turns that off",
        ),
    )


def _received(value: str | None) -> list[str]:
    if (value or "").strip().lower() == "no":
        return []
    return [
        "trace header: Dovecot's LMTP prepends its own Received: line (with LMTP) to every "
        "copy, the LDA added none; otherwise the stored message is the same byte for byte. "
        "The delivery proof reads that line to tell LMTP from the LDA, so the plan keeps it "
        "(lmtp_add_received_header = no would drop it)"
    ]


def _null_sender(master: Sequence[MasterEntry], services: Sequence[LdaService]) -> list[str]:
    warnings = []
    for service in services:
        if "sender" not in (service.lda.sender or ""):
            continue
        entry = next((e for e in master if e.name == service.name and e.program == "pipe"), None)
        null = entry.attribute("null_sender") if entry else None
        null = DEFAULT_NULL_SENDER if null is None else null
        if not null:
            continue
        warnings.append(
            f"null sender: service {service.name} passed -f {service.lda.sender}, which pipe(8) "
            f"expands to {null} for a bounce (null_sender), so the LDA stored Return-Path: "
            f'<{null}> and Sieve\'s envelope "from" was {null}; LMTP gets MAIL FROM:<>: '
            'Return-Path: <> and an empty envelope "from" (Sieve rules testing for '
            f"{null} no longer match); no Postfix or Dovecot setting rewrites it"
        )
    return warnings


def _recipient_case(services: Sequence[LdaService]) -> list[str]:
    folded = [s.name for s in services if "u" in s.flags]
    if not folded:
        return []
    return [
        f"recipient case: service {', '.join(folded)} folded the recipient's local part to "
        "lower case (flags u) before -d; LMTP gets RCPT TO as sent (BOB@example.com): the "
        "user is found as before (auth_username_format lowers it) and Delivered-To is the "
        "same, but Sieve's envelope \"to\" keeps the sender's case, so a rule comparing it "
        'with :comparator "i;octet" no longer matches (the default comparator ignores case)'
    ]
