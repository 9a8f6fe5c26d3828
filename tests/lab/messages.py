"""Message kinds sent into a lab host over SMTP, and each one's outcome (test helpers).

An outcome is what a person would compare between the LDA and LMTP: each recipient's status
and DSN class, and each delivered copy's folder with its Delivered-To/X-Original-To headers.
Trace headers (Received), queue ids and Message-IDs differ by nature and are left out.
"""

from __future__ import annotations

import base64
import re
import smtplib
import subprocess
import time
import uuid
from dataclasses import dataclass, field, replace

from migrator.lab import lifecycle, mail, sandbox
from migrator.lab.state import Lab, LabHost

MAILDIRS = "/var/vmail /home"
_HEADERS = ("delivered-to", "x-original-to")


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of message: its envelope, and what makes it that kind."""

    name: str
    to: tuple[str, ...] = ("alice@example.test",)
    sender: str = "tester@migrator.lab"
    subject: str = "plain"
    body: str = "plain body\n"
    smtputf8: bool = False
    size: int = 0
    """Pad the body to this many bytes (0: no padding)."""
    list_id: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where a message went: (recipient, status, DSN class) each, and (folder, headers) each."""

    statuses: tuple[tuple[str, str, str], ...]
    copies: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    replies: int = 0
    """Messages Postfix took for the sender afterwards (a Sieve vacation reply)."""


def send(host: LabHost, kind: Kind, tag: str) -> mail.Sent:
    """Send KIND (its Message-ID, and a ``{tag}`` in its sender, carry TAG). Raises
    AssertionError if Postfix refuses it."""
    kind = replace(kind, sender=kind.sender.replace("{tag}", tag))
    message_id = f"<{kind.name}.{tag}.{uuid.uuid4().hex[:12]}@migrator.lab>"
    head = (
        f"From: {kind.sender}\r\nTo: {', '.join(kind.to)}\r\nSubject: {kind.subject}\r\n"
        f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
        + (f"List-Id: {kind.list_id}\r\n" if kind.list_id else "")
        + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    raw = (head + kind.body).encode()
    if kind.size > len(raw):
        line = b"x" * 998 + b"\r\n"
        raw += (line * (kind.size // len(line) + 1))[: kind.size - len(raw)]
    options = ["BODY=8BITMIME", *(["SMTPUTF8"] if kind.smtputf8 else [])]
    with smtplib.SMTP(host.address, 25, timeout=60) as smtp:
        smtp.ehlo("migrator.lab")
        code, reply = smtp.mail(kind.sender, options)
        assert code == 250, (kind.name, code, reply)
        for rcpt in kind.to:
            code, reply = smtp.rcpt(rcpt)
            assert code == 250, (kind.name, rcpt, code, reply)
        code, reply = smtp.data(raw)
    queued = re.search(r"queued as ([0-9A-F]+)", reply.decode(errors="replace"))
    assert code == 250 and queued, (kind.name, code, reply)
    return mail.Sent(queued.group(1), message_id)


def outcome(lab: Lab, host: LabHost, sent: mail.Sent, replies_to: str = "") -> Outcome:
    """The message's outcome once Postfix is done with it, with the messages Postfix then took
    for REPLIES_TO (a vacation reply to the sender, a redirected copy). Raises LabError on a
    timeout."""
    done = mail.wait_delivered(lab, host, sent, timeout=60)
    statuses = sorted((d.recipient.split("@")[0], d.status, _dsn_class(lab, host, d)) for d in done)
    replies = _replies(lab, host, replies_to, sent.queue_id) if replies_to else 0
    return Outcome(tuple(statuses), _copies(lab, host, sent.message_id), replies)


def _replies(lab: Lab, host: LabHost, address: str, own: str, wait: float = 10.0) -> int:
    """Other queue ids delivered or tried to ADDRESS since OWN entered the active queue."""
    deadline = time.monotonic() + wait
    while True:
        log = mail.postfix_log(lab, host)
        since = log[log.find(f" {own}: from=") :]
        found = {
            line.split(": to=")[0].split()[-1]
            for line in since.splitlines()
            if f": to=<{address}>" in line and f" {own}: " not in line
        }
        if found or time.monotonic() > deadline:
            return len(found)
        time.sleep(0.1)


def _dsn_class(lab: Lab, host: LabHost, delivery: mail.Delivery) -> str:
    line = next(
        (
            line
            for line in mail.postfix_log(lab, host).splitlines()
            if f" {delivery.queue_id}: to=<{delivery.recipient}>" in line
        ),
        "",
    )
    found = re.search(r"dsn=(\d\.\d+\.\d+)", line)
    return found.group(1) if found else ""


def _copies(lab: Lab, host: LabHost, message_id: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each delivered copy's folder (user/Maildir/.Folder) and its recipient headers."""
    script = (
        f"grep -rlF -e \"$1\" {MAILDIRS} 2>/dev/null | grep -E '/(new|cur)/' | while read -r f; do "
        'echo "== $f"; sed -n \'1,/^$/p\' "$f"; done'
    )
    done = lifecycle.run_in_host(host, lab, ["sh", "-c", script, "sh", message_id], capture=True)
    copies = []
    for block in done.stdout.decode(errors="replace").split("== ")[1:]:
        path, _, head = block.partition("\n")
        folder = re.sub(r"^/(var/vmail/[^/]+|home)/|/(new|cur)/[^/]*$", "", path.strip())
        headers = tuple(
            line.strip() for line in head.splitlines() if line.split(":")[0].lower() in _HEADERS
        )
        copies.append((folder, headers))
    return tuple(sorted(copies))


def send_raw(
    host: LabHost, sender: str, to: tuple[str, ...], raw: bytes, *, smtputf8: bool = False
) -> mail.Sent | int:
    """Send RAW over SMTP exactly as given (only dot-stuffed: smtplib's data() would rewrite
    bare CR and LF); the queue id, or the reply code when Postfix refuses the DATA."""
    message_id = re.search(rb"^Message-ID: (<[^>\r\n]+>)", raw, re.M | re.I)
    assert message_id, raw[:200]
    options = ["BODY=8BITMIME", *(["SMTPUTF8"] if smtputf8 else [])]
    with smtplib.SMTP(host.address, 25, timeout=60) as smtp:
        smtp.ehlo("migrator.lab")
        code, reply = smtp.mail(sender, options)
        assert code == 250, (sender, code, reply)
        for rcpt in to:
            code, reply = smtp.rcpt(rcpt)
            assert code == 250, (rcpt, code, reply)
        code, reply = smtp.docmd("DATA")
        assert code == 354, (code, reply)
        stuffed = re.sub(rb"(?m)^\.", b"..", raw)
        smtp.send(stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        code, reply = smtp.getreply()
    queued = re.search(r"queued as ([0-9A-F]+)", reply.decode(errors="replace"))
    if code != 250 or not queued:
        return code
    return mail.Sent(queued.group(1), message_id.group(1).decode())


def sendmail_raw(
    lab: Lab, host: LabHost, sender: str, to: tuple[str, ...], raw: bytes
) -> mail.Sent:
    """Feed RAW to the host's own sendmail(1) (-f SENDER, -- recipients); its queue id."""
    message_id = re.search(rb"^Message-ID: (<[^>\r\n]+>)", raw, re.M | re.I)
    assert message_id, raw[:200]
    argv = ["/usr/sbin/sendmail", "-i", "-f", sender, "--", *to]
    done = subprocess.run(
        sandbox.enter_argv(lab, host, argv), input=raw, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    wanted = f": message-id={message_id.group(1).decode()}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in mail.postfix_log(lab, host).splitlines():
            if line.endswith(wanted) and "postfix/cleanup" in line:
                return mail.Sent(line.split(wanted)[0].split()[-1], message_id.group(1).decode())
        time.sleep(0.1)
    raise AssertionError(f"sendmail's message {message_id.group(1)!r} never reached cleanup")


def stored(lab: Lab, host: LabHost, message_id: str) -> tuple[tuple[str, bytes], ...]:
    """Each delivered copy of MESSAGE_ID: its folder (user/Maildir/.Folder) and its bytes as
    Dovecot wrote them (base64 across the namespace boundary: NUL and bare CR survive)."""
    script = (
        f"grep -rlF -e \"$1\" {MAILDIRS} 2>/dev/null | grep -E '/(new|cur)/' | while read -r f; do "
        'printf "%s " "$f"; base64 -w0 "$f"; echo; done'
    )
    done = lifecycle.run_in_host(host, lab, ["sh", "-c", script, "sh", message_id], capture=True)
    found = []
    for line in done.stdout.decode().splitlines():
        path, _, data = line.rpartition(" ")
        folder = re.sub(r"^/(var/vmail/[^/]+|home)/|/(new|cur)/[^/]*$", "", path)
        found.append((folder, base64.b64decode(data)))
    return tuple(sorted(found))
