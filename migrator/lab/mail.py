"""Sending a message into a lab host over SMTP and watching Postfix deliver it.

Used by `migrator lab send`, the README demo and the lab tests: SMTP from this machine's
root namespace to the host's address, then the host's Postfix log tells where it went.
"""

from __future__ import annotations

import re
import smtplib
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage

from migrator.errors import LabError
from migrator.lab import sandbox
from migrator.lab.state import Lab, LabHost

_QUEUED = re.compile(r"queued as ([0-9A-F]+)")
_DELIVERY = re.compile(
    r" (?P<qid>[0-9A-F]+): to=<(?P<to>[^>]*)>,(?: orig_to=<(?P<orig>[^>]*)>,)?"
    r" relay=(?P<relay>[^,]+),.* status=(?P<status>\w+)"
)


@dataclass(frozen=True, slots=True)
class Sent:
    """A message Postfix accepted: its queue id and Message-ID."""

    queue_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One recipient's outcome, from a Postfix log line."""

    queue_id: str
    recipient: str
    original: str | None
    relay: str
    status: str


def send(
    host: LabHost, to: list[str], *, subject: str = "migrator lab test", list_id: str | None = None
) -> Sent:
    """Send one message to host over SMTP from this machine. Raises LabError if refused."""
    message = EmailMessage()
    message_id = f"<{uuid.uuid4().hex}@migrator.lab>"
    message["From"] = "tester@migrator.lab"
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Message-ID"] = message_id
    if list_id:
        message["List-Id"] = list_id
    message.set_content("Sent by migrator's lab to prove delivery.\n")
    try:
        with smtplib.SMTP(host.address, 25, timeout=10) as smtp:
            smtp.ehlo("migrator.lab")
            smtp.mail(str(message["From"]))
            for rcpt in to:
                code, reply = smtp.rcpt(rcpt)
                if code != 250:
                    raise LabError(f"RCPT {rcpt} refused: {code} {reply.decode()}", host=host.name)
            code, reply = smtp.data(message.as_bytes())
    except (OSError, smtplib.SMTPException) as exc:
        raise LabError(f"SMTP to {host.address}:25 failed: {exc}", host=host.name) from exc
    queued = _QUEUED.search(reply.decode(errors="replace"))
    if code != 250 or not queued:
        raise LabError(f"message not queued: {code} {reply.decode()}", host=host.name)
    return Sent(queued.group(1), message_id)


def postfix_log(lab: Lab, host: LabHost) -> str:
    """The host's Postfix log, read from its overlay on this machine."""
    path = sandbox.host_file(lab, host, "/var/log/postfix.log")
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def deliveries(log: str, queue_id: str) -> list[Delivery]:
    """Every recipient outcome logged for a queue id."""
    found = []
    for match in _DELIVERY.finditer(log):
        if match["qid"] == queue_id:
            found.append(
                Delivery(match["qid"], match["to"], match["orig"], match["relay"], match["status"])
            )
    return found


def wait_delivered(lab: Lab, host: LabHost, sent: Sent, timeout: float = 20.0) -> list[Delivery]:
    """Wait until Postfix is done with the message (qmgr logged it removed) and return each
    recipient's outcome. Raises LabError on timeout."""
    deadline = time.monotonic() + timeout
    done = f" {sent.queue_id}: removed"
    while True:
        log = postfix_log(lab, host)
        if done in log:
            return deliveries(log, sent.queue_id)
        if time.monotonic() > deadline:
            waited = f"not delivered after {timeout}s"
            raise LabError(f"message {sent.queue_id} {waited}", host=host.name)
        time.sleep(0.05)
