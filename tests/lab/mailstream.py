"""A steady SMTP stream into a lab host, and the count of what arrived where."""

from __future__ import annotations

import re
import smtplib
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage

from migrator.lab import lifecycle
from migrator.lab.state import Lab, LabHost

# Who each envelope reaches: team@ is a virtual alias for alice and bob.
ENVELOPES = (
    (("alice@example.test",), ("alice",)),
    (("bob@example.test",), ("bob",)),
    (("team@example.test",), ("alice", "bob")),
    (("alice@example.test", "bob@example.test"), ("alice", "bob")),
)


@dataclass
class Stream:
    """Sends about `rate` messages a second over one SMTP session until stopped."""

    host: LabHost
    rate: float = 20.0
    accepted: dict[str, tuple[str, ...]] = field(default_factory=dict)
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
            message_id = f"<load.{uuid.uuid4().hex}@migrator.lab>"
            self.sent += 1
            try:
                smtp = smtp or smtplib.SMTP(self.host.address, 25, timeout=30)
                smtp.send_message(_message(message_id, to), to_addrs=list(to))
                self.accepted[message_id] = owners
            except (OSError, smtplib.SMTPException):
                self.refused += 1  # not accepted: the sender keeps it, nothing is lost
                smtp = None
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        if smtp:
            smtp.quit()


def _message(message_id: str, to: tuple[str, ...]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "load@migrator.lab"
    message["To"] = ", ".join(to)
    message["Subject"] = "load"
    message["Message-ID"] = message_id
    message.set_content("load test\n")
    return message


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
