"""Proofs that mail is delivered: an LMTP probe, and a real test message followed to its mailbox.

Each operation is ONE remote command (a script from ``delivery_scripts``); what it prints is
read by the pure functions of ``delivery_parse``, which are unit-tested on captured output.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from email.message import EmailMessage
from email.utils import formatdate

from migrator.address import check_recipient
from migrator.delivery import scripts
from migrator.delivery.parse import (
    ConfirmReport,
    LmtpReply,
    LogDelivery,
    RelayCheck,
    delivery_failure,
    header_delivery_failure,
    lmtp_trace,
    one_line,
    parse_confirm_output,
    parse_fetch,
    parse_log_delivery,
    parse_transcript,
    probe_commands,
    probe_failure,
    removal_failure,
    script_failure,
)
from migrator.endpoint import Endpoint
from migrator.errors import DeliveryError, UsageError
from migrator.transport.base import RunResult, Transport

INTERPRETERS: tuple[str, ...] = ("perl", "python3", "nc")
# Only the log's tail is searched: the test message was just sent.
LOG_WINDOW = 8 * 1024 * 1024
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SPARE = 10.0  # seconds the SSH command may take beyond the remote script's own deadline


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """A successful LMTP conversation: each reply, and the full transcript."""

    endpoint: str
    recipients: tuple[str, ...]
    interpreter: str
    replies: tuple[LmtpReply, ...]
    transcript: str
    seconds: float  # the one remote command, SSH included


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A test message proven delivered: Postfix's outcome and where Dovecot filed it."""

    recipient: str
    message_id: str
    queue_id: str
    relay: str  # as Postfix logged it: "h[private/dovecot-lmtp]", "dovecot", "local"
    status: str  # always "sent": anything else is a DeliveryError
    dsn: str
    delay: float  # Postfix's delay=, seconds from arrival to delivery
    mailbox: str  # where Dovecot (or Sieve) filed it: "INBOX", "Lists"
    uid: int
    user: str  # the Dovecot user that owns the mailbox
    log_path: str
    seconds: float  # confirm_delivery's one remote command, waiting included


def probe_lmtp(
    transport: Transport,
    endpoint: Endpoint,
    recipient: str | Sequence[str],
    *,
    timeout: float = 10.0,
    interpreters: Sequence[str] = INTERPRETERS,
) -> ProbeResult:
    """Speak LMTP on the host to Dovecot (LHLO, MAIL, RCPT, RSET, QUIT); nothing is delivered.

    Raises DeliveryError with the failing reply or connect error in one line;
    TransportError when the host cannot be reached; UsageError, before anything is sent,
    for a recipient that is not a plain RFC 5321 address (a CR/LF would be an LMTP command).
    """
    recipients = (recipient,) if isinstance(recipient, str) else tuple(recipient)
    for each in recipients:
        check_recipient(each, host=transport.host)
    commands = probe_commands(recipients)
    kind, _, where = endpoint.probe_target.partition(":")
    argv = ["sh", "-c", scripts.PROBE_SH, "sh", " ".join(interpreters), kind]
    argv += [where, f"{timeout:g}", *commands]
    stdin = scripts.PROBE_STDIN.encode()
    started = time.monotonic()
    result = transport.run(argv, stdin=stdin, timeout=timeout + _SPARE)
    seconds = time.monotonic() - started
    interpreter, replies, error = parse_transcript(result.out)
    failure = probe_failure(endpoint.probe_target, commands, replies, error)
    if failure is None and not result.ok:
        failure = (
            f"LMTP probe of {endpoint.probe_target} exited {result.rc}: {one_line(result.err)}"
        )
    if failure is not None:
        raise DeliveryError(failure, host=transport.host)
    return ProbeResult(endpoint.probe_target, recipients, interpreter, replies, result.out, seconds)


def build_test_message(
    recipient: str, *, tag: str, sender: str, host: str, list_id: str | None = None
) -> EmailMessage:
    """The test message: unique Message-ID, ``X-Migrator-Test: <tag>``. Raises UsageError."""
    if not _TAG.fullmatch(tag):
        raise UsageError(f"test tag {tag!r}: use 1-64 of A-Z a-z 0-9 . _ -")
    message = EmailMessage()
    message["From"] = sender or f"migrator@{host}"
    message["To"] = recipient
    message["Subject"] = f"migrator delivery test {tag}"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<migrator.{tag}.{uuid.uuid4().hex}@{host}>"
    message["X-Migrator-Test"] = tag
    if list_id:
        message["List-Id"] = list_id
    message.set_content(f"A test message from migrator ({tag}); it is removed once found.\n")
    return message


def send_test_message(
    transport: Transport,
    recipient: str,
    *,
    tag: str,
    sender: str = "",
    list_id: str | None = None,
) -> str:
    """Hand a test message to the host's own Postfix (sendmail); return its Message-ID.

    The envelope sender is empty by default, so a failed test never sends a bounce.
    Raises DeliveryError when sendmail refuses it, UsageError for a bad tag or recipient.
    """
    check_recipient(recipient, host=transport.host)
    message = build_test_message(
        recipient, tag=tag, sender=sender, host=transport.host, list_id=list_id
    )
    argv = ["/usr/sbin/sendmail", "-i", "-f", sender, "--", recipient]
    result = transport.run(argv, stdin=message.as_bytes(), timeout=30.0)
    if not result.ok:
        raise DeliveryError(
            f"sendmail refused the test message (exit {result.rc}): {one_line(result.err)}",
            host=transport.host,
        )
    return str(message["Message-ID"])


def build_record(
    report: ConfirmReport, recipient: str, message_id: str, log_path: str, seconds: float
) -> DeliveryRecord:
    """The DeliveryRecord of a report that ``delivery_failure`` (or, without a log,
    ``header_delivery_failure``) found complete."""
    outcomes = [d for d in (parse_log_delivery(x, recipient) for x in report.log_lines) if d]
    mailbox, uid = parse_fetch(report.fetch_lines)[0]
    if not outcomes:  # no mail log: what the message's own trace says
        relay = "lmtp (Received: trace)" if lmtp_trace(report.header_lines) else "no LMTP trace"
        outcomes = [LogDelivery("", recipient, relay, 0.0, "2.0.0", "sent", "in the mailbox")]
    last = outcomes[-1]
    return DeliveryRecord(
        recipient,
        message_id,
        last.queue_id,
        last.relay,
        last.status,
        last.dsn,
        last.delay,
        mailbox,
        uid,
        report.user or recipient,
        log_path,
        seconds,
    )


def confirm_delivery(
    transport: Transport,
    recipient: str,
    message_id: str,
    *,
    log_path: str,
    expect_relay: RelayCheck,
    over_lmtp: bool,
    timeout: float = 20.0,
    user: str | None = None,
) -> DeliveryRecord:
    """Follow a sent message through the Postfix log to its mailbox, in one remote command.

    LOG_PATH is Postfix's log file, "journald", or "" when the host keeps no mail log: the
    message in the mailbox and its trace headers (``over_lmtp``: Dovecot's LMTP trace or
    none) are then the proof. RECIPIENT must be a mailbox, not an alias (Postfix logs an
    alias's target as to=). USER is the Dovecot user owning the mailbox (default: the
    recipient, or its local part when Dovecot knows only that). Raises DeliveryError naming
    the host, the log and the last status seen (deferred, bounced, wrong relay, not in the
    mailbox, timeout).
    """
    argv = ["sh", "-c", scripts.CONFIRM_SH, "sh", log_path, message_id, recipient]
    argv += [str(max(1, round(timeout))), user or "", str(LOG_WINDOW)]
    started = time.monotonic()
    result = transport.run(argv, timeout=timeout + _SPARE)
    seconds = time.monotonic() - started
    report = parse_confirm_output(result.out)
    failure = script_failure(result) or (
        delivery_failure(report, recipient, expect_relay)
        if log_path
        else header_delivery_failure(report, recipient, over_lmtp)
    )
    if failure is not None:
        raise DeliveryError(
            f"test message {message_id} to <{recipient}> not proven delivered: {failure}",
            host=transport.host,
            path=log_path or None,
        )
    return build_record(report, recipient, message_id, log_path, seconds)


def remove_test_message(
    transport: Transport,
    recipient: str,
    message_id: str,
    *,
    log_path: str | None = None,
    user: str | None = None,
) -> None:
    """Expunge the test message from every mailbox of the recipient, in one remote command.

    With LOG_PATH (a file, "journald", or "" to search the queue itself), a copy still in
    Postfix's queue (deferred) is deleted too, so it is never delivered later; None when the
    message was proven delivered. Raises DeliveryError when doveadm fails or it is still there.
    """
    argv = ["sh", "-c", scripts.REMOVE_SH, "sh", message_id, recipient, user or ""]
    argv += ["-" if log_path is None else log_path, str(LOG_WINDOW)]
    result = transport.run(argv, timeout=30.0 + _SPARE)
    failure = script_failure(result) or removal_failure(result.out)
    if failure is not None:
        raise DeliveryError(
            f"test message {message_id} not removed from <{recipient}>: {failure}",
            host=transport.host,
        )


def prove_delivery(
    transport: Transport,
    recipient: str,
    *,
    log_path: str,
    expect_relay: RelayCheck,
    over_lmtp: bool,
    tag: str,
    timeout: float = 20.0,
    user: str | None = None,
    list_id: str | None = None,
) -> DeliveryRecord:
    """Send a test message, confirm its delivery and relay, then remove it: one round trip
    (PROVE_SH runs the three scripts on the host).

    On failure the test message is still removed (from the mailbox and Postfix's queue)
    before the DeliveryError from the confirmation is raised. Raises DeliveryError when
    sendmail refuses it or it is not removed, UsageError for a bad tag or recipient.
    """
    check_recipient(recipient, host=transport.host)
    host = transport.host
    message = build_test_message(recipient, tag=tag, sender="", host=host, list_id=list_id)
    message_id = str(message["Message-ID"])
    argv = ["sh", "-c", scripts.PROVE_SH, "sh", scripts.CONFIRM_SH, scripts.REMOVE_SH, log_path]
    argv += [message_id, recipient, str(max(1, round(timeout))), user or "", str(LOG_WINDOW)]
    started = time.monotonic()
    result = transport.run(argv, stdin=message.as_bytes(), timeout=timeout + 30.0 + _SPARE)
    seconds = time.monotonic() - started
    sent, confirmed, removed = _proof_parts(result)
    if sent:
        raise DeliveryError(f"sendmail refused the test message {sent}", host=transport.host)
    report = parse_confirm_output(confirmed.out)
    failure = script_failure(confirmed) or (
        delivery_failure(report, recipient, expect_relay)
        if log_path
        else header_delivery_failure(report, recipient, over_lmtp)
    )
    left = script_failure(removed) or removal_failure(removed.out)
    if failure is not None:
        said = f"test message {message_id} to <{recipient}> not proven delivered: {failure}"
        if left is not None:
            said += f"; and test message {message_id} not removed from <{recipient}>: {left}"
        raise DeliveryError(said, host=transport.host, path=log_path or None)
    if left is not None:
        raise DeliveryError(
            f"test message {message_id} not removed from <{recipient}>: {left}",
            host=transport.host,
        )
    return build_record(report, recipient, message_id, log_path, seconds)


def _proof_parts(result: RunResult) -> tuple[str, RunResult, RunResult]:
    """PROVE_SH's output split: why sendmail refused the message ("" when it took it), and
    the confirm and remove scripts' outputs as results of their own (the remove script's
    status is the command's: it runs last)."""
    first, _, rest = result.out.partition("\n")
    tag, rc, said = [*first.split(" ", 2), "", ""][:3]
    if tag != "sendmail" or rc != "0":
        why = said.strip() or one_line(result.err)
        return f"(exit {rc if tag == 'sendmail' else result.rc}): {why}", result, result
    confirm, _, remove = rest.partition("migrator-remove\n")
    lines = confirm.splitlines()
    done = bool(lines) and lines[-1].startswith("confirm-rc ")
    code = int(lines[-1].split()[1]) if done else result.rc
    shown = "".join(f"{line}\n" for line in (lines[:-1] if done else lines))
    confirmed = replace(result, rc=code, stdout=shown.encode())
    return "", confirmed, replace(result, stdout=remove.encode())
