"""The fake host's daemons: Postfix and Dovecot as far as apply and rollback can see them.

A mixin of ``fake_host.FakeTransport``. Each daemon keeps the configuration it last
(re)loaded; the LMTP socket or port exists when Dovecot's loaded configuration has the
listener, and a test message goes over the relay Postfix's loaded configuration names, so a
step left out or taken in the wrong order shows in what the host answers.
"""

from __future__ import annotations

import email
import functools
import io
import re
import tarfile
from typing import TYPE_CHECKING

from migrator.transport.base import FileData
from tests.unit.test_delivery_parse import CONFIRM_OK, MID, PROBE_OK, RCPT

if TYPE_CHECKING:
    from tests.unit.fake_state import FakeHost

QUEUE_DIRECTORY = "/var/spool/postfix"
MYHOSTNAME = "dlm-01.example.test"
_CAPTURED_RELAY = "dlm-01.example.test[private/dovecot-lmtp]"


class Daemons:
    """The daemons' commands on the in-memory host, answered as the real ones answer."""

    state: FakeHost

    def file(self, path: str) -> FileData:
        """The file at path as the host holds it (content None when missing)."""
        return self.state.files.get(path, FileData(path, None))

    @property
    def dovecot_listeners(self) -> list[tuple[str, str, str]]:
        """What Dovecot listens on, per its loaded config: (kind, where, "user group mode")."""
        return _listeners(self.state.dovecot_loaded)

    def _runtime(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        dovecot, postfix = self.state.managers
        return 0, f"{dovecot}\n{postfix}\n\n{self.state.log_path}\n\n", ""

    def _map_sources(self) -> list[str]:
        return [
            p
            for p in self.state.files
            if p.startswith("/etc/postfix/") and p.rsplit("/", 1)[1] not in ("main.cf", "master.cf")
        ]

    def _postmap(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        path = argv[1].split(":", 1)[-1]
        content = self.file(path).content
        if content is None:
            return 1, "", f"postmap: fatal: open {path}: No such file or directory"
        self.state.maps[path] = content
        return 0, "", ""

    def _load(self, daemon: str) -> None:
        if daemon == "dovecot":
            texts = [d.content for p, d in sorted(self.state.files.items()) if "/dovecot/" in p]
            self.state.dovecot_loaded = _active(b"\n".join(t or b"" for t in texts))
        else:
            texts = [self.file(f"/etc/postfix/{n}").content for n in ("main.cf", "master.cf")]
            texts += list(self.state.maps.values())
            self.state.postfix_loaded = _active(b"\n".join(t or b"" for t in texts))

    def _reload(self, daemon: str) -> tuple[int, str, str]:
        self._load(daemon)
        return 0, "", ""

    def _socket(self, path: str) -> str | None:
        return next((m for k, w, m in self.dovecot_listeners if k == "unix" and w == path), None)

    def _port_open(self, address: str, port: str) -> bool:
        return any(
            k == "inet" and w in (f"{address}:{port}", f"*:{port}")
            for k, w, _ in self.dovecot_listeners
        )

    def _wait_socket(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        seen = self._socket(argv[4])
        if seen == argv[5]:
            return 0, "", ""
        return 1, f"{seen or 'missing'}\n", ""

    def _wait_port(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        return (0, "", "") if self._port_open(argv[4], argv[5]) else (1, "", "")

    def _listening(self, kind: str, where: str) -> bool:
        if kind == "unix":
            return self._socket(where) is not None
        address, _, port = where.rpartition(":")
        return self._port_open(address.strip("[]"), port)

    def _probe(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        kind, where, commands = argv[5], argv[6], argv[8:]
        if not self._listening(kind, where):
            why = "No such file or directory" if kind == "unix" else "Connection refused"
            return 2, f"using perl\nerror connect to {where}: {why}\n", ""
        recipients = [c[len("RCPT TO:<") : -1] for c in commands if c.startswith("RCPT TO:")]
        assert len(recipients) == 1, commands
        return 0, PROBE_OK.replace(RCPT, recipients[0]), ""

    def _sendmail(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        message = email.message_from_bytes(stdin or b"")
        self.state.messages.append(str(message["Message-ID"]))
        return 0, "", ""

    def _route(self) -> tuple[str, bool]:
        """The relay Postfix's loaded config delivers over, and whether it accepts mail."""
        found = re.search(r"lmtp:(unix|inet):(\S+)", self.state.postfix_loaded)
        if found is None:
            return self.state.lda_relay, True
        if found[1] == "unix":
            where = found[2]
            path = where if where.startswith("/") else f"{QUEUE_DIRECTORY}/{where}"
            return f"{MYHOSTNAME}[{where}]", self._listening("unix", path)
        address, _, port = found[2].rpartition(":")
        return f"{address}[{address}]:{port}", self._listening("inet", found[2])

    def _confirm(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        log, mid, rcpt = argv[4:7]
        if self.file(log).content is None:
            return 0, f"error cannot read {log}\n", ""
        if mid not in self.state.messages:
            return 0, f"timeout {argv[7]}\n", ""
        relay, accepted = self._route()
        captured = CONFIRM_OK.replace(MID, mid).replace(RCPT, rcpt)
        captured = captured.replace(_CAPTURED_RELAY, relay)
        if accepted:
            return 0, captured, ""
        log_lines = captured.split("\n")[:3]
        deferred = (
            f"log Nov 25 02:55:57 dlm-01 postfix/lmtp[3364]: F15E1164177: to=<{rcpt}>,"
            f" relay=none, delay=0.04, delays=0.02/0/0/0.02, dsn=4.4.1, status=deferred"
            " (connect to dlm-01.example.test[private/dovecot-lmtp]: No such file or directory)"
        )
        return 0, "\n".join([*log_lines, deferred, "timeout 20", ""]), ""

    def _batch(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        """The proof batch as BATCH_SH reports it: each message delivered over the relay
        Postfix's loaded config names (deferred when nothing listens there), then removed."""
        log, rcpt = argv[5], argv[10]
        if log and self.file(log).content is None:
            return 0, f"error cannot read {log}\n", ""
        relay, accepted = self._route()
        with tarfile.open(fileobj=io.BytesIO(stdin or b"")) as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
        lines = [f"user {rcpt}", f"box {rcpt}\tINBOX"]
        for index, entry in enumerate(files["manifest"].decode().splitlines()):
            content = files[entry.split()[0]]
            message = email.message_from_bytes(content)
            self.state.messages.append(str(message["Message-ID"]))
            lines += _batch_lines(index, message, content, rcpt, relay if accepted else "")
        lines.append(f"expunge {rcpt} 0")
        return 0, "\n".join(lines) + "\n", ""


def _batch_lines(
    index: int, message: email.message.Message, content: bytes, rcpt: str, relay: str
) -> list[str]:
    qid = f"F15E116417{index}"
    lines = [f"sent m{index} 0 "]
    if not relay:
        reason = "connect to private/dovecot-lmtp: No such file or directory"
        entry = f'{{"queue_id": "{qid}", "recipients": [{{"delay_reason": "{reason}"}}]}}'
        return [*lines, f"queue {qid} {message[_PROOF].split()[1]} {entry}"]
    lines.append(
        f"log Nov 25 02:55:57 dlm-01 postfix/cleanup[3362]: {qid}: message-id="
        f"{message['Message-ID']}"
    )
    lines.append(
        f"log Nov 25 02:55:57 dlm-01 postfix/lmtp[3364]: {qid}: to=<{rcpt}>, relay={relay},"
        " delay=0.04, delays=0.02/0/0/0.02, dsn=2.0.0, status=sent (250 2.0.0 Saved)"
    )
    header = content.split(b"\n\n", 1)[0].decode()
    record = ["\f"] if index else []
    record += ["mailbox: INBOX", "flags: \\Recent", "hdr:", *header.split("\n")]
    return [*lines, *(f"fetch {rcpt}\t{line}" for line in record)]


_PROOF = "X-Migrator-Proof"


@functools.cache
def _active(text: bytes) -> str:
    """A config's text without comments and blank lines (what the daemon acts on)."""
    lines = (line.split("#", 1)[0].rstrip() for line in text.decode().splitlines())
    return "\n".join(line for line in lines if line.strip())


_LISTENER = re.compile(r"^\s*(unix|inet)_listener\s+(\S+)\s*\{(?P<body>[^}]*)\}", re.M)


def _listeners(text: str) -> list[tuple[str, str, str]]:
    """Dovecot's unix_listener/inet_listener blocks: (kind, where, "user group mode")."""
    found = []
    for match in _LISTENER.finditer(text):
        settings = dict(
            (k.strip(), v.strip())
            for k, _, v in (line.partition("=") for line in match["body"].splitlines())
            if v
        )
        if match[1] == "unix":
            mode = f"{int(settings.get('mode', '0600'), 8):o}"
            owner = f"{settings.get('user', 'root')} {settings.get('group', 'root')} {mode}"
            found.append(("unix", match[2], owner))
        else:
            where = f"{settings.get('address', '*')}:{settings.get('port', '0')}"
            found.append(("inet", where, ""))
    return found
