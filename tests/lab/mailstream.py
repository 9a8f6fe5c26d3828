"""A steady SMTP stream into a lab host, and the count of what arrived where.

A stream mixes plain messages with SMTPUTF8 ones (a UTF-8 envelope sender, or UTF-8 headers
only; both sent with ``MAIL FROM:<...> SMTPUTF8``); another sends large ones (near Postfix's
message_size_limit)."""

from __future__ import annotations

import re
import smtplib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from migrator.lab import lifecycle
from migrator.lab.state import Lab, LabHost

# Who each envelope reaches: team@ is a virtual alias for alice and bob.
ENVELOPES = (
    (("alice@example.test",), ("alice",)),
    (("bob@example.test",), ("bob",)),
    (("team@example.test",), ("alice", "bob")),
    (("alice@example.test", "bob@example.test"), ("alice", "bob")),
)
PLAIN, UTF8_SENDER, UTF8_HEADER, LARGE = "plain", "utf8-sender", "utf8-header", "large"
SMTPUTF8_KINDS = (UTF8_SENDER, UTF8_HEADER)
# Under Postfix's default message_size_limit (10240000) with the queue file's record overhead.
LARGE_SIZE = 9_500_000


def mixed(n: int) -> str:
    """The kind of a stream's Nth message: every 5th SMTPUTF8 (envelope and header in turn),
    the rest plain."""
    if n % 5 == 1:
        return UTF8_SENDER if n % 10 == 1 else UTF8_HEADER
    return PLAIN


def large(n: int) -> str:
    """Every message large (a stream of its own: one large message must not stall the rest)."""
    return LARGE


@dataclass
class Stream:
    """Sends about `rate` messages a second over one SMTP session until stopped."""

    host: LabHost
    rate: float = 20.0
    kind_of: Callable[[int], str] = mixed
    accepted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    """Message-ID -> kind, and when Postfix accepted it (time.monotonic), for each accepted."""
    accepted_at: dict[str, float] = field(default_factory=dict)
    refused: int = 0
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        smtp: smtplib.SMTP | None = None
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            to, owners = ENVELOPES[self.sent % len(ENVELOPES)]
            kind = self.kind_of(self.sent)
            message_id = f"<load.{uuid.uuid4().hex}@migrator.lab>"
            self.sent += 1
            try:
                smtp = smtp or smtplib.SMTP(self.host.address, 25, timeout=30)
                refused = _send(smtp, kind, message_id, to)
            except (OSError, smtplib.SMTPException):
                refused, smtp = True, None
            if refused:
                self.refused += 1  # not accepted: the sender keeps it, nothing is lost
            else:
                self.accepted[message_id] = owners
                self.kinds[message_id] = kind
                self.accepted_at[message_id] = time.monotonic()
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        if smtp:
            smtp.quit()


def _send(smtp: smtplib.SMTP, kind: str, message_id: str, to: tuple[str, ...]) -> bool:
    """Send one message of KIND; True when some recipient was refused (then it counts as not
    accepted). SMTPUTF8 mail asks for no DSN (NOTIFY=NEVER): a bounce notice to the sender's
    domain would wait in the queue for ever (no DNS in the lab), and the log tells the bounce."""
    utf8 = kind in SMTPUTF8_KINDS
    sender = "l\u00f6ad@migrator.lab" if kind == UTF8_SENDER else "load@migrator.lab"
    subject = "load: Gr\u00fc\u00dfe, \u65e5\u672c\u8a9e" if utf8 else "load"
    head = (
        f"From: {sender}\r\nTo: {', '.join(to)}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    raw = (head + "load test\n").encode()
    if kind == LARGE:
        line = b"x" * 998 + b"\r\n"
        raw += (line * (LARGE_SIZE // len(line) + 1))[: LARGE_SIZE - len(raw)]
    options = ["BODY=8BITMIME", *(["SMTPUTF8"] if utf8 else [])]
    notify = ["NOTIFY=NEVER"] if utf8 else []
    refused = smtp.sendmail(sender, list(to), raw, mail_options=options, rcpt_options=notify)
    return bool(refused)


_ID_LINE = re.compile(
    r"^/var/vmail/example\.test/(\w+)/Maildir/.*:Message-ID: (<load\.[^>]+>)", re.I
)


def delivered(lab: Lab, host: LabHost) -> Counter[tuple[str, str]]:
    """(user, Message-ID) -> how many copies of a load message are in that user's Maildir."""
    script = (
        "find /var/vmail/example.test -path '*/Maildir/*' -type f \\( -path '*/new/*' -o "
        "-path '*/cur/*' \\) -exec grep -H -i -m1 '^Message-ID:' {} +"
    )
    out = lifecycle.run_in_host(host, lab, ["sh", "-c", script], capture=True).stdout.decode()
    found: Counter[tuple[str, str]] = Counter()
    for line in out.splitlines():
        match = _ID_LINE.match(line)
        if match:
            found[(match[1], match[2])] += 1
    return found


def queue_empty(lab: Lab, host: LabHost) -> bool:
    done = lifecycle.run_in_host(host, lab, ["postqueue", "-j"], capture=True)
    return done.returncode == 0 and not done.stdout.strip()


_MESSAGE_ID = re.compile(r" (?P<qid>[0-9A-Za-z]+): message-id=(?P<mid><load\.[^>]+>)")
_ATTEMPT = re.compile(
    r" (?P<qid>[0-9A-Za-z]+): to=<(?P<user>[^@>]*)@[^>]*>,(?: orig_to=<[^>]*>,)?"
    r" relay=(?P<relay>[^,]+),(?: conn_use=(?P<use>\d+),)? delay=[0-9.]+, delays=[^,]*,"
    r" dsn=(?P<dsn>[0-9.]+), status=(?P<status>\w+)"
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One recipient's delivery attempt of a stream message, as Postfix logged it."""

    message_id: str
    user: str
    relay: str
    conn_use: int
    """1: Postfix opened the connection for it; N > 1: its Nth use of a cached one."""
    dsn: str
    status: str

    @property
    def over_lmtp(self) -> bool:
        return "dovecot-lmtp" in self.relay


def attempts(log: str) -> list[Attempt]:
    """Every delivery attempt of a stream message (Message-ID <load.*>) in a Postfix log."""
    ids = {m["qid"]: m["mid"] for m in _MESSAGE_ID.finditer(log)}
    return [
        Attempt(ids[m["qid"]], m["user"], m["relay"], int(m["use"] or 1), m["dsn"], m["status"])
        for m in _ATTEMPT.finditer(log)
        if m["qid"] in ids
    ]
