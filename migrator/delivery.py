"""Proofs that mail is delivered: an LMTP probe, and a real test message followed to its mailbox.

Each operation is ONE remote command (a script from ``delivery_scripts``); what it prints is
read by the pure ``parse_*`` functions here, which are unit-tested on captured output.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from migrator import delivery_scripts as scripts
from migrator.errors import DeliveryError, UsageError
from migrator.transport.base import RunResult, Transport

RelayCheck = str | Callable[[str], bool]

INTERPRETERS: tuple[str, ...] = ("perl", "python3")
# Only the log's tail is searched: the test message was just sent.
LOG_WINDOW = 8 * 1024 * 1024
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SPARE = 10.0  # seconds the SSH command may take beyond the remote script's own deadline


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where Dovecot's LMTP listens: ``unix:/abs/path`` or ``inet:host:port``."""

    kind: str
    address: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.address}"


@dataclass(frozen=True, slots=True)
class LmtpReply:
    """One server reply; ``command`` is None for the greeting. Multi-line text joined by |."""

    command: str | None
    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}".rstrip()


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """A successful LMTP conversation: each reply, and the full transcript."""

    endpoint: str
    recipients: tuple[str, ...]
    interpreter: str
    replies: tuple[LmtpReply, ...]
    transcript: str
    seconds: float


@dataclass(frozen=True, slots=True)
class LogDelivery:
    """A Postfix ``to=<...>`` log line: one recipient's outcome for a queue id."""

    queue_id: str
    recipient: str
    relay: str
    delay: float
    dsn: str
    status: str
    detail: str


@dataclass(frozen=True, slots=True)
class ConfirmReport:
    """What the confirm script saw: the queue id, its log lines, the mailbox lookup."""

    queue_id: str | None
    log_lines: tuple[str, ...]
    timed_out: bool
    user: str | None
    fetch_rc: int | None
    fetch_lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A test message proven delivered: Postfix's outcome and where Dovecot filed it."""

    recipient: str
    message_id: str
    queue_id: str
    relay: str
    status: str
    dsn: str
    delay: float
    mailbox: str
    uid: int
    user: str
    log_path: str
    seconds: float


def parse_endpoint(endpoint: str) -> Endpoint:
    """``unix:/abs/path`` or ``inet:host:port`` (``inet:[::1]:24``). Raises UsageError."""
    kind, _, address = endpoint.partition(":")
    if kind == "unix" and address.startswith("/"):
        return Endpoint(kind, address)
    if kind == "inet" and re.fullmatch(r"(\[[^]]+\]|[^:\[\]]+):\d+", address):
        return Endpoint(kind, address)
    raise UsageError(f"LMTP endpoint {endpoint!r}: expected unix:/absolute/path or inet:HOST:PORT")


def probe_commands(recipients: Sequence[str]) -> list[str]:
    """The LMTP commands of a probe: nothing is ever sent after RCPT but RSET and QUIT."""
    return [
        "LHLO migrator.probe",
        "MAIL FROM:<>",
        *(f"RCPT TO:<{r}>" for r in recipients),
        "RSET",
        "QUIT",
    ]


def parse_transcript(text: str) -> tuple[str, tuple[LmtpReply, ...], str | None]:
    """Interpreter, replies and the client's own error (if any) from a probe transcript."""
    interpreter, error = "", None
    replies: list[LmtpReply] = []
    command: str | None = None
    pending: list[str] = []
    for line in text.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "using":
            interpreter = rest
        elif tag == "error":
            error = rest
        elif tag == ">":
            command = rest
        elif tag == "<":
            pending.append(rest[4:])
            if rest[3:4] != "-":
                code = int(rest[:3]) if rest[:3].isdigit() else 0
                replies.append(LmtpReply(command, code, " | ".join(pending).strip()))
                pending = []
    return interpreter, tuple(replies), error


def probe_failure(
    endpoint: str, commands: Sequence[str], replies: Sequence[LmtpReply], error: str | None
) -> str | None:
    """The one-line reason a probe failed, or None when every step got its expected reply."""
    steps = ["greeting", *commands]
    for step, reply in zip(steps, replies, strict=False):
        want = 220 if step == "greeting" else 221 if step == "QUIT" else 250
        if reply.code != want and step != "QUIT":
            return f"LMTP {endpoint}: {step} answered {reply}"
    # QUIT's 221 may be lost when the server hangs up first.
    if len(replies) < len(commands):
        step = steps[len(replies)]
        return f"LMTP {endpoint}: {error or 'no reply'}" + (f" (at {step})" if replies else "")
    return None


def probe_lmtp(
    transport: Transport,
    endpoint: str,
    recipient: str | Sequence[str],
    *,
    timeout: float = 10.0,
    interpreters: Sequence[str] = INTERPRETERS,
) -> ProbeResult:
    """Speak LMTP on the host to Dovecot (LHLO, MAIL, RCPT, RSET, QUIT); nothing is delivered.

    Raises DeliveryError with the failing reply or connect error in one line; UsageError for
    a malformed endpoint; TransportError when the host cannot be reached.
    """
    where = parse_endpoint(endpoint)
    recipients = (recipient,) if isinstance(recipient, str) else tuple(recipient)
    commands = probe_commands(recipients)
    argv = ["sh", "-c", scripts.PROBE_SH, "sh", " ".join(interpreters), scripts.PROBE_PERL]
    argv += [scripts.PROBE_PYTHON, where.kind, where.address, f"{timeout:g}", *commands]
    started = time.monotonic()
    result = transport.run(argv, timeout=timeout + _SPARE)
    seconds = time.monotonic() - started
    interpreter, replies, error = parse_transcript(result.out)
    failure = probe_failure(str(where), commands, replies, error)
    if failure is None and not result.ok:
        failure = f"LMTP probe of {where} exited {result.rc}: {_one_line(result.err)}"
    if failure is not None:
        raise DeliveryError(failure, host=transport.host)
    return ProbeResult(str(where), recipients, interpreter, replies, result.out, seconds)


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
    Raises DeliveryError when sendmail refuses it, UsageError for a bad tag.
    """
    message = build_test_message(
        recipient, tag=tag, sender=sender, host=transport.host, list_id=list_id
    )
    argv = ["/usr/sbin/sendmail", "-i", "-f", sender, "--", recipient]
    result = transport.run(argv, stdin=message.as_bytes(), timeout=30.0)
    if not result.ok:
        raise DeliveryError(
            f"sendmail refused the test message (exit {result.rc}): {_one_line(result.err)}",
            host=transport.host,
        )
    return str(message["Message-ID"])


_TO_LINE = re.compile(
    r" (?P<qid>[0-9A-Za-z]+): to=<(?P<to>[^>]*)>,(?: orig_to=<[^>]*>,)? relay=(?P<relay>[^,]+),"
    r" (?:conn_use=\d+, )?delay=(?P<delay>[\d.]+),.*? dsn=(?P<dsn>[\d.]+),"
    r" status=(?P<status>\w+)(?: \((?P<detail>.*)\))?$"
)


def parse_log_delivery(line: str, recipient: str) -> LogDelivery | None:
    """A ``to=<recipient>`` Postfix log line as a record; None for any other line."""
    match = _TO_LINE.search(line)
    if not match or match["to"] != recipient:
        return None
    return LogDelivery(
        match["qid"],
        match["to"],
        match["relay"],
        float(match["delay"]),
        match["dsn"],
        match["status"],
        match["detail"] or "",
    )


def parse_confirm_output(text: str) -> ConfirmReport:
    """Sort the confirm script's tagged lines into a report."""
    lines: dict[str, list[str]] = {"log": [], "doveadm": []}
    single: dict[str, str] = {}
    for line in text.splitlines():
        tag, _, rest = line.partition(" ")
        if tag in lines:
            lines[tag].append(rest)
        elif tag in ("timeout", "user", "fetch", "error"):
            single[tag] = rest
    qid = None
    for line in lines["log"]:
        found = re.search(r" ([0-9A-Za-z]+): message-id=", line)
        qid = found.group(1) if found else qid
    fetch = single.get("fetch")
    return ConfirmReport(
        qid,
        tuple(lines["log"]),
        "timeout" in single,
        single.get("user"),
        int(fetch) if fetch is not None and fetch.lstrip("-").isdigit() else None,
        tuple(lines["doveadm"]),
    )


def parse_fetch(lines: Sequence[str]) -> list[tuple[str, int]]:
    """``doveadm -f tab fetch 'mailbox uid'`` output (header line first) as (mailbox, uid)."""
    found = []
    for line in lines[1:]:
        mailbox, _, uid = line.rpartition("\t")
        if mailbox and uid.isdigit():
            found.append((mailbox, int(uid)))
    return found


def relay_matches(relay: str, expect: RelayCheck) -> bool:
    """Whether Postfix's relay string is the expected one (a substring, or a predicate)."""
    return expect in relay if isinstance(expect, str) else expect(relay)


def delivery_failure(report: ConfirmReport, recipient: str, expect: RelayCheck) -> str | None:
    """Why the confirm script's report does not prove delivery, or None when it does."""
    outcomes = [d for d in (parse_log_delivery(x, recipient) for x in report.log_lines) if d]
    if report.queue_id is None:
        return "no cleanup line with this Message-ID (timeout: Postfix never picked it up)"
    if not outcomes:
        return f"queue id {report.queue_id}: no outcome for <{recipient}> (timeout)"
    last = outcomes[-1]
    seen = f"queue id {last.queue_id}: status={last.status} dsn={last.dsn} ({last.detail})"
    if last.status != "sent":
        return seen
    if not relay_matches(last.relay, expect):
        wanted = f"containing {expect!r}" if isinstance(expect, str) else "the expected one"
        return f"{seen} over relay={last.relay}, not a relay {wanted}"
    if report.fetch_rc != 0:
        return f"{seen}, but doveadm fetch -u {report.user} failed: {_one_line_seq(report)}"
    if not parse_fetch(report.fetch_lines):
        return f"{seen}, but no message with this Message-ID in {report.user}'s mailboxes"
    return None


def build_record(
    report: ConfirmReport, recipient: str, message_id: str, log_path: str, seconds: float
) -> DeliveryRecord:
    """The DeliveryRecord of a report that ``delivery_failure`` found complete."""
    outcomes = [d for d in (parse_log_delivery(x, recipient) for x in report.log_lines) if d]
    last = outcomes[-1]
    mailbox, uid = parse_fetch(report.fetch_lines)[0]
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
    timeout: float = 20.0,
    user: str | None = None,
) -> DeliveryRecord:
    """Follow a sent message through the Postfix log to its mailbox, in one remote command.

    USER is the Dovecot user owning the mailbox (default: the recipient, or its local part
    when Dovecot knows only that). Raises DeliveryError naming the host, the log file and
    the last status seen (deferred, bounced, wrong relay, not in the mailbox, timeout).
    """
    argv = ["sh", "-c", scripts.CONFIRM_SH, "sh", log_path, message_id, recipient]
    argv += [str(max(1, round(timeout))), user or "", str(LOG_WINDOW)]
    started = time.monotonic()
    result = transport.run(argv, timeout=timeout + _SPARE)
    seconds = time.monotonic() - started
    report = parse_confirm_output(result.out)
    failure = _script_failure(result) or delivery_failure(report, recipient, expect_relay)
    if failure is not None:
        raise DeliveryError(
            f"test message {message_id} to <{recipient}> not proven delivered: {failure}",
            host=transport.host,
            path=log_path,
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

    With LOG_PATH, a copy still in Postfix's queue (deferred) is deleted too, so it is never
    delivered later. Raises DeliveryError when doveadm fails or the message is still there.
    """
    argv = ["sh", "-c", scripts.REMOVE_SH, "sh", message_id, recipient, user or ""]
    argv += [log_path or "", str(LOG_WINDOW)]
    result = transport.run(argv, timeout=30.0 + _SPARE)
    failure = _script_failure(result) or removal_failure(result.out)
    if failure is not None:
        raise DeliveryError(
            f"test message {message_id} not removed from <{recipient}>: {failure}",
            host=transport.host,
        )


def removal_failure(text: str) -> str | None:
    """Why the remove script's output shows the message was not removed, or None."""
    tagged = [line.partition(" ") for line in text.splitlines()]
    rc = next((rest for tag, _, rest in tagged if tag == "expunge"), None)
    said = _one_line("\n".join(rest for tag, _, rest in tagged if tag == "doveadm"))
    left = [rest for tag, _, rest in tagged if tag == "left"]
    if rc != "0":
        return f"doveadm expunge exited {rc}: {said}"
    if left:
        return f"still in {', '.join(left)} after doveadm expunge"
    return None


def prove_delivery(
    transport: Transport,
    recipient: str,
    *,
    log_path: str,
    expect_relay: RelayCheck,
    tag: str,
    timeout: float = 20.0,
    user: str | None = None,
    list_id: str | None = None,
) -> DeliveryRecord:
    """Send a test message, confirm its delivery and relay, then remove it (3 round trips).

    On failure the test message is still removed (from the mailbox and Postfix's queue)
    before the DeliveryError from confirm_delivery is raised.
    """
    message_id = send_test_message(transport, recipient, tag=tag, list_id=list_id)
    try:
        record = confirm_delivery(
            transport,
            recipient,
            message_id,
            log_path=log_path,
            expect_relay=expect_relay,
            timeout=timeout,
            user=user,
        )
    except DeliveryError as exc:
        try:
            remove_test_message(transport, recipient, message_id, log_path=log_path, user=user)
        except DeliveryError as cleanup:
            raise DeliveryError(f"{exc.message}; and {cleanup.message}", host=exc.host) from exc
        raise
    remove_test_message(transport, recipient, message_id, user=user)
    return record


def _script_failure(result: RunResult) -> str | None:
    for line in result.out.splitlines():
        if line.startswith("error "):
            return line[len("error ") :]
    if not result.ok:
        return f"remote script exited {result.rc}: {_one_line(result.err)}"
    return None


def _one_line_seq(report: ConfirmReport) -> str:
    return _one_line("\n".join(report.fetch_lines))


def _one_line(text: str) -> str:
    return " / ".join(part.strip() for part in text.strip().splitlines() if part.strip())
