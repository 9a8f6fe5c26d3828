"""A recording fake host for the executor's unit tests: no root, no sshd, no daemons.

``FakeTransport`` implements ``migrator.transport.base.Transport`` over an in-memory host
(``fake_state.FakeHost``): files (path -> FileData) and directories, the journal's lock with
its SSH-session lease (``fake_journal``), and Postfix and Dovecot as far as apply and rollback
can see them (``fake_daemons``), so a step left out or taken in the wrong order shows in what
the host answers. Commands are recognised by the script constants they carry
(``fake_commands.classify``) and acted out as those scripts act: the journal's scripts check
that the base directory is root's alone first, journal reads print READ_SCRIPT's stream, and
``write_atomic`` with an expected sha256 is a compare-and-swap, as on a real host
(``fake_writes``).

Everything is recorded (``commands``, ``writes``, ``reads``) and any one operation can be
made to fail once, with the rc and stderr the real host gives (``fail``), or something can
happen on the host right before an operation (``meanwhile``: an admin's edit), as
``fake_faults`` acts them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Self

from migrator.delivery import scripts
from migrator.errors import TransportError
from migrator.executor import journal, journal_scripts
from migrator.executor.journal import JournalState, state_from_json
from migrator.transport import remote_scripts
from migrator.transport.base import FileData, RunResult
from migrator.transport.local import LocalTransport
from migrator.transport.remote_scripts import CHANGED_RC
from tests.unit.fake_commands import classify
from tests.unit.fake_daemons import QUEUE_DIRECTORY, Daemons
from tests.unit.fake_faults import Faults
from tests.unit.fake_journal import Answer, JournalScripts
from tests.unit.fake_state import Command, FakeHost, make_dirs, parent
from tests.unit.fake_writes import Writes

__all__ = ["FakeTransport", "classify"]


class FakeTransport(JournalScripts, Daemons, Writes, Faults):
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
            make_dirs(host.dirs, parent(path))
        make_dirs(host.dirs, f"{QUEUE_DIRECTORY}/private")
        make_dirs(host.dirs, "/var/lib")
        make_dirs(host.dirs, parent(log_path))
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
        if args[:2] == ("sh", "-c") and argv[2] is journal_scripts.LOCK_SCRIPT and len(args) > 9:
            return self._lock_then(args, stdin, timeout)
        if args[:2] == ("sh", "-c") and argv[2] is journal_scripts.WRITE_STATES_SCRIPT:
            return self._write_states(args)
        if args[:2] == ("sh", "-c") and argv[2] is journal_scripts.CARRY_SCRIPT:
            return self._carried(args, stdin, timeout)
        if args[:2] == ("sh", "-c") and argv[2] is remote_scripts.WRITE_SCRIPT:
            return self._write_script(args, stdin or b"")
        if args[:2] == ("sh", "-c") and argv[2] is scripts.PROVE_SH:
            return self._prove(args, stdin)
        kind = classify(argv)
        self.state.commands.append(Command(self.session, kind, args, stdin))
        self.state.events.append((kind, ""))
        self._happen(kind, None)
        fault = self._fault(kind, args, None)
        if fault is not None:
            return self._result(args, fault.rc, fault.stdout, fault.stderr)
        rc, out, err = self._answer(kind, args, stdin)
        return self._result(args, rc, out, err)

    def _lock_then(
        self, args: tuple[str, ...], stdin: bytes | None, timeout: float | None
    ) -> RunResult:
        """LOCK_SCRIPT with a script to run once the lock is taken: the lock, then (when
        acquired) the script, each as the command it is, in one round trip."""
        locked = self.run(args[:9], stdin=stdin, timeout=timeout)
        if locked.rc != 0 or not locked.out.startswith("acquired"):
            return replace(locked, argv=args)
        ran = self.run(("sh", "-c", args[9]), timeout=timeout)
        return self._result(args, 0, f"{locked.out}==then==\n{ran.out}", locked.err)

    def read_files(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        self._check_connected()
        self.state.reads.append(tuple(paths))
        return {p: self.state.files.get(p, FileData(p, None)) for p in paths}

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

    def make_dir(
        self, path: str, *, owner: str = "root", mode: int = 0o755, link: bool = False
    ) -> None:
        """A directory (and its parents) with this owner and mode, or a symlink to one."""
        make_dirs(self.state.dirs, path)
        self.state.dir_meta[path] = (owner, mode, link)

    def kinds(self, session: str | None = None) -> list[str]:
        """The kinds of the commands run so far (of one session, if given)."""
        return [c.kind for c in self.state.commands if session in (None, c.session)]

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
        argv = ["sh", "-c", journal_scripts.LOCK_SCRIPT, "sh", journal.BASE, plan_id, node, "", ""]
        result = other.run(argv)
        assert result.out == "acquired\n"
        if not alive:
            other.drop()
        return other

    def drop(self) -> None:
        """The SSH session ends (the control node died or lost its network)."""
        self.connected = False
        self.state.sessions_alive.discard(self.session)

    # -- the host's answers ----------------------------------------------------------------

    def _check_connected(self) -> None:
        if not self.connected:
            raise TransportError("connection lost: SSH session not active", host=self.host)

    def _result(self, argv: tuple[str, ...], rc: int, out: str | bytes, err: str) -> RunResult:
        stdout = out if isinstance(out, bytes) else out.encode()
        return RunResult(self.host, argv, rc, stdout, err.encode())

    def _answer(self, kind: str, argv: tuple[str, ...], stdin: bytes | None) -> Answer:
        handlers: dict[str, Callable[[tuple[str, ...], bytes | None], Answer]] = {
            "lock": self._lock,
            "peek": self._peek,
            "unlock": self._unlock,
            "journal_read": self._journal_read,
            "remove_file": self._remove_file,
            "restore_link": self._restore_link,
            "config_dirs": self._config_dirs,
            "prepare": self._prepare,
            "runtime": self._runtime,
            "validate_postfix": _ok,
            "wait_lmtp": self._drain,
            "validate_dovecot": _ok,
            "postmap": self._postmap,
            "reload_dovecot": lambda a, s: self._reload("dovecot"),
            "reload_postfix": lambda a, s: self._reload("postfix"),
            "wait_socket": self._wait_socket,
            "wait_port": self._wait_port,
            "probe_lmtp": self._probe,
            "sendmail": self._sendmail,
            "confirm": self._confirm,
            "batch": self._batch,
            "remove": lambda a, s: (0, f"user {a[5]}\nexpunge 0\n", ""),
            "rm": self._rm,
            "queue": lambda a, s: (0, "".join(f"{line}\n" for line in self.state.queue), ""),
        }
        handler = handlers.get(kind)
        if handler is None:
            return 127, "", f"sh: 1: {argv[0]}: not found"
        return handler(argv, stdin)

    def _prove(self, args: tuple[str, ...], stdin: bytes | None) -> RunResult:
        """PROVE_SH: sendmail, the confirm script, the remove script, as the host runs them."""
        log, mid, rcpt, timeout, user, window = args[6:12]
        sent = self.run(["/usr/sbin/sendmail", "-i", "-f", "", "--", rcpt], stdin=stdin)
        text = f"sendmail {sent.rc} {sent.err.strip()}\n"
        if not sent.ok:
            return self._result(args, 0, text, "")
        confirm = ["sh", "-c", scripts.CONFIRM_SH, "sh", log, mid, rcpt, timeout, user, window]
        confirmed = self.run(confirm)
        removed = self.run(["sh", "-c", scripts.REMOVE_SH, "sh", mid, rcpt, user, log, window])
        text += f"{confirmed.out}confirm-rc {confirmed.rc}\nmigrator-remove\n{removed.out}"
        return self._result(args, removed.rc, text, removed.err)

    def _drain(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        """LMTP_DRAIN_SCRIPT: the Postfix reload it carries after its wait is run as a
        reload_postfix command would be (its happenings, its faults: then exit 3 with its
        words), and the agents in ``lmtp_busy`` outlast the wait."""
        reload = argv[5:]
        if reload:
            self.state.events.append(("reload_postfix", ""))
            self._happen("reload_postfix", None)
            fault = self._fault("reload_postfix", reload, None)
            if fault is not None and fault.rc:
                return 3, "", f"{fault.stdout}{fault.stderr}".rstrip("\n") + "\n"
            self._reload("postfix")
        busy = "".join(f" {pid}" for pid in self.state.lmtp_busy)
        return 0, f"busy{busy}\n" if busy else "drained\n", ""

    def _config_dirs(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        return 0, "/etc/postfix\n# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf\n", ""

    def _remove_file(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        path, expected = argv[4], argv[5]
        now = self.file(path).sha256
        if expected and self.file(path).exists and now != expected:
            return CHANGED_RC, "", f"sha256 is now {now}\n"
        self.state.files.pop(path, None)
        return 0, "", ""

    def _restore_link(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        """The path becomes the link again, reading as the (absolute) file it names."""
        path, link = argv[4], argv[5]
        target = self.file(link)
        self.state.files[path] = replace(target, path=path, link=link, target=link)
        return 0, "", ""

    def _rm(self, argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
        self.state.files.pop(argv[3], None)
        return 0, "", ""


def _ok(argv: tuple[str, ...], stdin: bytes | None) -> tuple[int, str, str]:
    return 0, "", ""


@functools.cache
def _read_tree(root: Path) -> Mapping[str, FileData]:
    """Every file of a tree as the host's (read once per tree: FileData is immutable)."""
    paths = sorted(f"/{p.relative_to(root).as_posix()}" for p in root.rglob("*") if p.is_file())
    return LocalTransport(root).read_files(paths)
