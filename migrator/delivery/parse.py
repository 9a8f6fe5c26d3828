"""Pure readers for what ``delivery``'s remote scripts print: LMTP transcripts, Postfix log
lines, doveadm output. No I/O here; unit-tested on captured text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from migrator.transport.base import RunResult

RelayCheck = str | Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class LmtpReply:
    """One server reply; ``command`` is None for the greeting. Multi-line text joined by |."""

    command: str | None
    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}".rstrip()


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
    waited: int | None  # seconds, when the script gave up waiting
    user: str | None
    fetch_rc: int | None
    fetch_lines: tuple[str, ...]
    header_lines: tuple[str, ...] = ()  # the delivered message's header, when no log
    queue_lines: tuple[str, ...] = ()  # postqueue -j entries of the message, when no log


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
    lines: dict[str, list[str]] = {"log": [], "doveadm": [], "hdr": [], "queue": []}
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
        int(single["timeout"]) if single.get("timeout", "").isdigit() else None,
        single.get("user"),
        int(fetch) if fetch is not None and fetch.lstrip("-").isdigit() else None,
        tuple(lines["doveadm"]),
        tuple(lines["hdr"]),
        tuple(lines["queue"]),
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
        return (
            f"timeout: no cleanup line with this Message-ID within {report.waited} s"
            " (Postfix did not pick it up, or logs elsewhere)"
        )
    if not outcomes:
        waited = f"within {report.waited} s"
        return f"timeout: queue id {report.queue_id} has no outcome for <{recipient}> {waited}"
    last = outcomes[-1]
    seen = f"queue id {last.queue_id}: status={last.status} dsn={last.dsn} ({last.detail})"
    if last.status != "sent":
        return seen
    if not relay_matches(last.relay, expect):
        wanted = f"containing {expect!r}" if isinstance(expect, str) else "the expected one"
        return f"{seen} over relay={last.relay}, not a relay {wanted}"
    if report.fetch_rc != 0:
        return f"{seen}, but doveadm fetch -u {report.user} failed: {_fetch_said(report)}"
    if not parse_fetch(report.fetch_lines):
        return f"{seen}, but no message with this Message-ID in {report.user}'s mailboxes"
    return None


def removal_failure(text: str) -> str | None:
    """Why the remove script's output shows the message was not removed, or None."""
    tagged = [line.partition(" ") for line in text.splitlines()]
    rc = next((rest for tag, _, rest in tagged if tag == "expunge"), None)
    said = one_line("\n".join(rest for tag, _, rest in tagged if tag == "doveadm"))
    left = [rest for tag, _, rest in tagged if tag == "left"]
    # 67 (EX_NOUSER): a user Dovecot does not know has no mailbox to hold the message.
    if rc not in ("0", "67"):
        return f"doveadm expunge exited {rc}: {said}"
    if left:
        return f"still in {', '.join(left)} after doveadm expunge"
    return None


def script_failure(result: RunResult) -> str | None:
    """The ``error`` line a remote script printed, or its exit status when it failed."""
    for line in result.out.splitlines():
        if line.startswith("error "):
            return line[len("error ") :]
    if not result.ok:
        return f"remote script exited {result.rc}: {one_line(result.err)}"
    return None


def _fetch_said(report: ConfirmReport) -> str:
    return one_line("\n".join(report.fetch_lines))


def one_line(text: str) -> str:
    return " / ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def first_received(header_lines: Sequence[str]) -> str:
    """The newest ``Received:`` trace of a header (continuation lines unfolded), or ""."""
    fields: list[str] = []
    for line in header_lines:
        if line[:1] in (" ", "\t") and fields:
            fields[-1] += " " + line.strip()
        elif ":" in line:
            fields.append(line.strip())
    return next((f for f in fields if f.lower().startswith("received:")), "")


def lmtp_trace(header_lines: Sequence[str]) -> bool:
    """Whether Dovecot's LMTP server received the message: it adds a ``Received: ... with
    LMTP`` trace (lmtp_add_received_header, on by default); the LDA adds none."""
    return " with lmtp " in f" {first_received(header_lines).lower()} "


def header_delivery_failure(report: ConfirmReport, recipient: str, over_lmtp: bool) -> str | None:
    """Why a report made without a mail log does not prove delivery, or None when it does:
    the message is in the mailbox and its newest trace is (or is not) Dovecot's LMTP."""
    if not parse_fetch(report.fetch_lines):
        queued = "; ".join(_delay_reason(line) for line in report.queue_lines)
        where = f"still queued: {queued}" if queued else "not queued either (bounced?)"
        waited = f" within {report.waited} s" if report.waited else ""
        return f"no mail log; not in {report.user}'s mailboxes{waited}, {where}"
    if lmtp_trace(report.header_lines) != over_lmtp:
        seen = first_received(report.header_lines) or "no Received: header"
        wanted = "Dovecot's LMTP trace" if over_lmtp else "no LMTP trace (the LDA adds none)"
        return f"no mail log; delivered to <{recipient}>, newest trace {seen!r}, not {wanted}"
    return None


def _delay_reason(entry: str) -> str:
    found = re.search(r'"delay_reason": *"((?:[^"\\]|\\.)*)"', entry)
    return found.group(1) if found else entry[:200]
