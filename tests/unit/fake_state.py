"""The fake host's state and records: what it holds, what it ran, and how it is made to fail.

Shared by every ``fake_host.FakeTransport`` (SSH session) that reaches one ``FakeHost``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

from migrator.transport.base import FileData
from tests.unit.test_delivery_parse import CONFIRM_DEFERRED, PROBE_UNKNOWN_USER, RCPT

BATCH_DEFERRED = (
    f"user {RCPT}\nsent m0 0 \nqueue F15E1164170 plain "
    '{"queue_id": "F15E1164170", "recipients": [{"address": "alice@example.test", '
    '"delay_reason": "lost connection with dlm-01.example.test[private/dovecot-lmtp] while '
    'receiving the initial server greeting"}]}\n'
)

# What a real host says when the operation fails: (rc, stdout, stderr).
FAILURES: dict[str, tuple[int, str, str]] = {
    "lock": (5, "", "cannot create /var/lib/migrator\n"),
    "prepare": (1, "", "head: error writing 'standard output': No space left on device"),
    "runtime": (127, "", "sh: 1: postconf: not found"),
    "validate_postfix": (
        1,
        "",
        "postfix/postfix-script: warning: /etc/postfix/main.cf, line 25: "
        "missing '=' after attribute name: \"virtual_transport\"\n"
        "postfix/postfix-script: fatal: configuration error",
    ),
    "validate_dovecot": (
        89,
        "",
        "doveconf: Fatal: Error in configuration file /etc/dovecot/conf.d/10-master.conf "
        "line 65: Unknown setting: mod",
    ),
    "postmap": (
        1,
        "",
        "postmap: fatal: open database /etc/postfix/transport.db: Permission denied",
    ),
    "reload_dovecot": (
        1,
        "",
        "Job for dovecot.service failed because the control process exited with error code.",
    ),
    "reload_postfix": (
        1,
        "",
        "postfix/postfix-script: fatal: the Postfix mail system is not running",
    ),
    "wait_socket": (1, "missing\n", ""),
    "wait_port": (1, "", ""),
    "probe_lmtp": (0, PROBE_UNKNOWN_USER, ""),
    "sendmail": (75, "", "sendmail: fatal: open /etc/postfix/main.cf: Permission denied"),
    "remove": (0, "user alice@example.test\nexpunge 75\ndoveadm Error: Internal error\n", ""),
    "rm": (1, "", "rm: cannot remove: Read-only file system"),
    # The batch's only message deferred: Dovecot hung up at once.
    "batch": (0, BATCH_DEFERRED, ""),
    "confirm": (0, CONFIRM_DEFERRED.replace("nobody@example.test", RCPT) + "timeout 20\n", ""),
}
WRITE_ERROR = "cannot write: [Errno 28] No space left on device"


@dataclass(frozen=True, slots=True)
class Command:
    """One command the host ran: which kind we recognised it as, and by whom."""

    session: str
    kind: str
    argv: tuple[str, ...]
    stdin: bytes | None


@dataclass(frozen=True, slots=True)
class Write:
    """One ``write_atomic``: the file as it was written."""

    session: str
    path: str
    content: bytes
    owner: str
    group: str
    mode: int


@dataclass(slots=True)
class Fault:
    """Make the next ``times`` operations that match fail (or drop the connection)."""

    kind: str
    path: str | None
    when: Callable[[tuple[str, ...]], bool] | None
    rc: int
    stdout: str
    stderr: str
    raises: BaseException | None
    disconnect: bool
    times: int

    def matches(self, kind: str, argv: tuple[str, ...], path: str | None) -> bool:
        if self.times <= 0 or kind != self.kind:
            return False
        if self.path is not None and path != self.path:
            return False
        return self.when is None or self.when(argv)


@dataclass
class FakeHost:
    """The host's side, shared by every session (transport) that reaches it."""

    name: str
    files: dict[str, FileData] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=lambda: {"/"})
    sessions_alive: set[str] = field(default_factory=set)
    commands: list[Command] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    reads: list[tuple[str, ...]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)  # ("write", path) or (kind, "")
    faults: list[Fault] = field(default_factory=list)
    managers: tuple[str, str] = ("systemd", "systemd")
    log_path: str = "/var/log/mail.log"
    lda_relay: str = "dovecot"
    maps: dict[str, bytes] = field(default_factory=dict)
    dovecot_loaded: str = ""
    postfix_loaded: str = ""
    messages: list[str] = field(default_factory=list)
    pids: Callable[[], int] = field(default_factory=lambda: count(4242).__next__)
    # Directories' (owner, mode, is a symlink) where not root's 0755.
    dir_meta: dict[str, tuple[str, int, bool]] = field(default_factory=dict)
    happenings: list[Happening] = field(default_factory=list)
    # Postfix's queue as QUEUE_SCRIPT prints it: "message QUEUE_NAME ID CONTENT_FILTER" lines.
    queue: list[str] = field(default_factory=list)
    # Postfix's lmtp agents (pids) still delivering when a drain gives up waiting for them.
    lmtp_busy: tuple[str, ...] = ()


@dataclass(slots=True)
class Happening:
    """Something done on the host right before the next operation of ``kind`` (on ``path``)."""

    kind: str
    path: str | None
    action: Callable[[], None]
    done: bool = False


def parent(path: str) -> str:
    """The directory path is in."""
    return path.rsplit("/", 1)[0] or "/"


def make_dirs(dirs: set[str], path: str) -> None:
    """Add path and its missing parents to the host's directories."""
    while path not in dirs:
        dirs.add(path)
        path = parent(path)
