"""A recording fake host for the executor's unit tests: no root, no sshd, no daemons.

``FakeTransport`` implements ``migrator.transport.base.Transport`` over an in-memory host:
files (path -> FileData) and directories, the journal's lock with its SSH-session lease,
and Postfix and Dovecot as far as apply and rollback can see them. Each daemon keeps the
configuration it last (re)loaded; the LMTP socket or port exists when Dovecot's loaded
configuration has the listener, and a test message goes over the relay Postfix's loaded
configuration names, so a step left out or taken in the wrong order shows in what the host
answers. Commands are recognised by the script constants they carry (``argv[2] is
journal.LOCK_SCRIPT``); the few commands built as f-strings are matched by pattern.

Everything is recorded (``commands``, ``writes``, ``reads``) and any one operation can be
made to fail once, with the rc and stderr the real host gives (``fail``).
"""

from __future__ import annotations

import email
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import count
from pathlib import Path
from types import TracebackType
from typing import Self

from migrator.delivery import scripts
from migrator.errors import TransportError
from migrator.executor import actions, journal, scope, services
from migrator.executor.journal import JournalState, state_from_json
from migrator.transport.base import FileData, RunResult
from migrator.transport.local import LocalTransport
from tests.unit.test_delivery_parse import (
    CONFIRM_DEFERRED,
    CONFIRM_OK,
    MID,
    PROBE_OK,
    PROBE_UNKNOWN_USER,
    RCPT,
)

QUEUE_DIRECTORY = "/var/spool/postfix"
MYHOSTNAME = "dlm-01.example.test"
_CAPTURED_RELAY = "dlm-01.example.test[private/dovecot-lmtp]"


# What a real host says when the operation fails: (rc, stdout, stderr).
FAILURES: dict[str, tuple[int, str, str]] = {
    "lock": (3, "", "mkdir: cannot create directory '/var/lib/migrator': Read-only file system"),
    "prepare": (1, "", "sh: 1: cannot create /var/lib/migrator/current: No space left on device"),
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
    "confirm": (0, CONFIRM_DEFERRED.replace("nobody@example.test", RCPT) + "timeout 20\n", ""),
}
_WRITE_ERROR = "cannot write: [Errno 28] No space left on device"


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


class FakeTransport:
    """A ``Transport`` to a ``FakeHost`` over one SSH session (the journal lock's lease)."""

    def __init__(self, host: FakeHost) -> None:
        self.state = host
        self.session = f"{host.pids()} 17{len(host.sessions_alive):05d}"
        host.sessions_alive.add(self.session)
        self.connected = True

    # -- building -------------------------------------------------------------------------

    @classmethod
    def from_tree(cls, root: Path, name: str, *, log_path: str = "/var/log/mail.log") -> Self:
        """A host whose files are those of a fixture tree, its daemons running them as they are."""
        host = FakeHost(name, log_path=log_path)
        for path, data in _read_tree(root).items():
            host.files[path] = data
            _mkdirs(host.dirs, _parent(path))
        _mkdirs(host.dirs, f"{QUEUE_DIRECTORY}/private")
        _mkdirs(host.dirs, "/var/lib")
        _mkdirs(host.dirs, _parent(log_path))
        host.files[log_path] = FileData(log_path, b"", "root", "adm", 0o640)
        fake = cls(host)
        for path in fake._map_sources():
            host.maps[path] = host.files[path].content or b""
        fake._load("dovecot")
        fake._load("postfix")
        return fake

    def connect_again(self) -> FakeTransport:
        """Another SSH session to the same host (another control node, or a later run)."""
        return FakeTransport(self.state)

    # -- the Transport protocol -----------------------------------------------------------

    @property
    def host(self) -> str:
        return self.state.name

    @property
    def live(self) -> bool:
        return True

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        self._check_connected()
        args = tuple(argv)
        kind = classify(argv)
        self.state.commands.append(Command(self.session, kind, args, stdin))
        self.state.events.append((kind, ""))
        fault = self._fault(kind, args, None)
        if fault is not None:
            return self._result(args, fault.rc, fault.stdout, fault.stderr)
        rc, out, err = self._answer(kind, args, stdin)
        return self._result(args, rc, out, err)

    def read_files(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        self._check_connected()
        self.state.reads.append(tuple(paths))
        return {p: self.state.files.get(p, FileData(p, None)) for p in paths}

    def write_atomic(self, path: str, content: bytes, *, owner: str, group: str, mode: int) -> None:
        self._check_connected()
        if self._fault("write_file", ("write_atomic", path), path) is not None:
            raise TransportError(_WRITE_ERROR, host=self.host, path=path)
        if _parent(path) not in self.state.dirs:
            raise TransportError(
                "cannot write: [Errno 2] No such file or directory", host=self.host, path=path
            )
        self.state.writes.append(Write(self.session, path, content, owner, group, mode))
        self.state.events.append(("write", path))
        self.state.files[path] = FileData(path, content, owner, group, mode)

    def close(self) -> None:
        self.connected = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # -- scripting and inspecting ---------------------------------------------------------

    def fail(
        self,
        kind: str,
        *,
        path: str | None = None,
        when: Callable[[tuple[str, ...]], bool] | None = None,
        rc: int | None = None,
        stdout: str | None = None,
        stderr: str | None = None,
        raises: BaseException | None = None,
        disconnect: bool = False,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` operations of ``kind`` fail as the real host would.

        ``kind`` is what ``classify`` names a command, or "write_file" (with ``path``) for
        ``write_atomic``; ``when`` narrows it by argv. ``raises`` raises that instead of
        answering; ``disconnect`` ends this SSH session there: the connection is lost
        (TransportError), or with ``raises`` the control node itself is gone.
        """
        real_rc, real_out, real_err = FAILURES.get(kind, (1, "", f"{kind}: failed"))
        self.state.faults.append(
            Fault(
                kind,
                path,
                when,
                real_rc if rc is None else rc,
                real_out if stdout is None else stdout,
                real_err if stderr is None else stderr,
                raises,
                disconnect,
                times,
            )
        )

    def kinds(self, session: str | None = None) -> list[str]:
        """The kinds of the commands run so far (of one session, if given)."""
        return [c.kind for c in self.state.commands if session in (None, c.session)]

    def file(self, path: str) -> FileData:
        return self.state.files.get(path, FileData(path, None))

    def edit(self, path: str, content: bytes) -> None:
        """Change a file behind migrator's back (an admin, a package upgrade)."""
        self.state.files[path] = replace(self.file(path), content=content)

    def journal_states(self, plan_id: str) -> list[JournalState]:
        """Every state.json written for plan_id, in order."""
        target = f"{journal.BASE}/journal/{plan_id}/state.json"
        return [
            state_from_json(w.content, self.host) for w in self.state.writes if w.path == target
        ]

    @property
    def locked(self) -> bool:
        return f"{journal.BASE}/lock" in self.state.dirs

    def hold_lock(self, plan_id: str, node: str, *, alive: bool) -> FakeTransport:
        """Another control node's session takes the lock (and dies at once unless alive)."""
        other = self.connect_again()
        result = other.run(["sh", "-c", journal.LOCK_SCRIPT, "sh", journal.BASE, plan_id, node, ""])
        assert result.out == "acquired\n"
        if not alive:
            other.drop()
        return other

    def drop(self) -> None:
        """The SSH session ends (the control node died or lost its network)."""
        self.connected = False
        self.state.sessions_alive.discard(self.session)

    @property
    def dovecot_listeners(self) -> list[tuple[str, str, str]]:
        """What Dovecot listens on, per its loaded config: (kind, where, "user group mode")."""
        return _listeners(self.state.dovecot_loaded)

    # -- the host's answers ----------------------------------------------------------------

    def _check_connected(self) -> None:
        if not self.connected:
            raise TransportError("connection lost: SSH session not active", host=self.host)

    def _fault(self, kind: str, argv: tuple[str, ...], path: str | None) -> Fault | None:
        for fault in self.state.faults:
            if fault.matches(kind, argv, path):
                fault.times -= 1
                if fault.disconnect:
                    self.drop()
                if fault.raises is not None:
                    raise fault.raises
                if fault.disconnect:
                    raise TransportError("connection lost: Socket is closed", host=self.host)
                return fault
        return None

    def _result(self, argv: tuple[str, ...], rc: int, out: str, err: str) -> RunResult:
        return RunResult(self.host, argv, rc, out.encode(), err.encode())

    def _answer(
        self, kind: str, argv: tuple[str, ...], stdin: bytes | None
    ) -> tuple[int, str, str]:
        handlers: dict[str, Callable[[tuple[str, ...], bytes | None], tuple[int, str, str]]] = {
            "lock": self._lock,
            "peek": self._peek,
            "unlock": self._unlock,
            "config_dirs": self._config_dirs,
            "prepare": self._prepare,
            "runtime": self._runtime,
            "validate_postfix": _ok,
            "validate_dovecot": _ok,
            "postmap": self._postmap,
            "reload_dovecot": lambda a, s: self._reload("dovecot"),
            "reload_postfix": lambda a, s: self._reload("postfix"),
            "wait_socket": self._wait_socket,
            "wait_port": self._wait_port,
            "probe_lmtp": self._probe,
            "sendmail": self._sendmail,
            "confirm": self._confirm,
            "remove": lambda a, s: (0, f"user {a[5]}\nexpunge 0\n", ""),
            "rm": self._rm,
        }
        handler = handlers.get(kind)
        if handler is None:
            return 127, "", f"sh: 1: {argv[0]}: not found"
        return handler(argv, stdin)

    # The journal's scripts, on the in-memory directories ($1 is always the base).

    def _owner_file(self, base: str) -> str:
        return f"{base}/lock/owner"

    def _holder_alive(self, base: str) -> bool:
        owner = self.file(self._owner_file(base)).content or b""
        holder = re.search(rb"^holder=(.*)$", owner, re.M)
        return holder is not None and holder[1].decode() in self.state.sessions_alive

    def _report_held(self, base: str) -> str:
        owner = (self.file(self._owner_file(base)).content or b"").decode()
        return f"held\n{owner}alive={'yes' if self._holder_alive(base) else 'no'}\n"

    def _lock(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        base, plan, node, takeover = argv[4:8]
        _mkdirs(self.state.dirs, f"{base}/journal")
        lock = f"{base}/lock"
        if lock not in self.state.dirs or (takeover == "takeover" and not self._holder_alive(base)):
            self.state.dirs.add(lock)
            owner = f"plan={plan}\nnode={node}\nholder={self.session}\n".encode()
            path = self._owner_file(base)
            self.state.files[path] = FileData(path, owner, "root", "root", 0o600)
            return 0, "acquired\n", ""
        return 0, self._report_held(base), ""

    def _peek(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        base = argv[4]
        lock = self._report_held(base) if f"{base}/lock" in self.state.dirs else "free\n"
        current = (self.file(f"{base}/current").content or b"").decode().strip()
        return 0, f"{lock}current={current}\n", ""

    def _unlock(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        base, plan = argv[4], argv[5]
        owner = (self.file(self._owner_file(base)).content or b"").decode()
        if f"plan={plan}" not in owner.splitlines():
            return 1, "", ""
        self.state.dirs.discard(f"{base}/lock")
        self.state.files.pop(self._owner_file(base), None)
        return 0, "", ""

    def _prepare(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        base, directory, plan = argv[4], argv[5], argv[6]
        current = f"{base}/current"
        if _parent(current) not in self.state.dirs:
            return 2, "", f"sh: 1: cannot create {current}: Directory nonexistent"
        _mkdirs(self.state.dirs, f"{directory}/orig")
        self.state.files[current] = FileData(current, f"{plan}\n".encode(), "root", "root", 0o600)
        return 0, "", ""

    def _config_dirs(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        return 0, "/etc/postfix\n# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf\n", ""

    # The daemons.

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

    def _rm(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        self.state.files.pop(argv[3], None)
        return 0, "", ""


def classify(argv: Sequence[str]) -> str:
    """Name the command migrator ran, by the script constant it carries where it has one."""
    args = list(argv)
    if args[:2] == ["sh", "-c"] and len(args) > 2:
        script = argv[2]
        known = {
            id(journal.LOCK_SCRIPT): "lock",
            id(journal.PEEK_SCRIPT): "peek",
            id(services.RUNTIME_SCRIPT): "runtime",
            id(actions.WAIT_SOCKET_SCRIPT): "wait_socket",
            id(scripts.PROBE_SH): "probe_lmtp",
            id(scripts.CONFIRM_SH): "confirm",
            id(scripts.REMOVE_SH): "remove",
            id(journal.UNLOCK_SCRIPT): "unlock",
            id(journal.PREPARE_SCRIPT): "prepare",
            id(scope.CONFIG_DIRS_SCRIPT): "config_dirs",
        }
        if id(script) in known:
            return known[id(script)]
        return "unknown"
    if args[:2] == ["bash", "-c"] and len(args) > 2 and argv[2] is actions.WAIT_PORT_SCRIPT:
        return "wait_port"
    for daemon in ("dovecot", "postfix"):
        if any(tuple(args) == services.reload_argv(m, daemon) for m in services.Manager):
            return f"reload_{daemon}"
    fixed: dict[tuple[str, ...], str] = {
        ("postfix", "check"): "validate_postfix",
        ("doveconf", "-n"): "validate_dovecot",
    }
    if tuple(args) in fixed:
        return fixed[tuple(args)]
    if args[:1] == ["postmap"] and len(args) == 2:
        return "postmap"
    if args[:1] == ["/usr/sbin/sendmail"]:
        return "sendmail"
    if args[:3] == ["rm", "-f", "--"]:
        return "rm"
    return "unknown"


def _ok(argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
    return 0, "", ""


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _mkdirs(dirs: set[str], path: str) -> None:
    while path not in dirs:
        dirs.add(path)
        path = _parent(path)


@functools.cache
def _read_tree(root: Path) -> Mapping[str, FileData]:
    """Every file of a tree as the host's (read once per tree: FileData is immutable)."""
    paths = sorted(f"/{p.relative_to(root).as_posix()}" for p in root.rglob("*") if p.is_file())
    return LocalTransport(root).read_files(paths)


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
