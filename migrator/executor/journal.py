"""The remote journal: on the host itself, what an apply changed and how far it got.

Layout under ``/var/lib/migrator`` (root, 0700)::

    mutex                   flock(1) file: taking, taking over and reading the lock are serial
    lock/owner              who applies now: plan id, control node, and the SSH session
                            (sshd PID + start time) whose life is the lock's lease
    current                 the plan id of the latest apply whose state.json exists
    journal/<plan-id>/      state.json (status, step reached, originals' owner/mode/sha256,
                            what rollback needs), orig/<n> each original file's bytes,
                            drift/<n> a file as rollback found it when it had been edited after
                            apply, and reserve: space set aside so rollback can still write
                            its state when the disk is full

So a rollback or a status works from any control node, two applies cannot run on one host,
and an apply whose control node died (its SSH session is gone) is seen as interrupted.

The journal is trusted only while it is root's alone: every script that reads or takes the
lock first checks that the base directory, its parents and everything beneath it are owned by
root, are not symlinks and are not writable by group or others, and refuses otherwise (a local
user who could write there could plant a state.json whose "originals" make root write any file
at rollback). Journal files are read without following links.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from migrator.errors import JournalError, MigratorError, PlanDriftError, TransportError
from migrator.executor.journal_scripts import (
    JOURNAL_READ_SCRIPT,
    LOCK_SCRIPT,
    OPEN_SCRIPT,
    PEEK_SCRIPT,
    UNLOCK_SCRIPT,
    WRITE_STATES_SCRIPT,
)
from migrator.transport.base import FileData, Transport
from migrator.transport.remote_scripts import CHANGED_RC, StreamError, parse_read_stream

BASE = "/var/lib/migrator"
# What rollback may still write on a full disk: its states and the drifted copies it keeps.
RESERVE_BYTES = 1 << 20
_UNSAFE = 4


class JournalStatus(StrEnum):
    """Where an apply stands, as recorded on the host."""

    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    ROLLING_BACK = "rolling-back"
    ROLLED_BACK = "rolled-back"


# States in which nothing is half done: a lock left behind by a dead session may be taken over.
SETTLED = frozenset({JournalStatus.APPLIED, JournalStatus.ROLLED_BACK})


@dataclass(frozen=True, slots=True)
class Original:
    """A file as it was before apply touched it (``existed`` False: apply created it).

    ``link`` is what the path said when it was a symlink (rollback puts the same link back)
    and ``target`` the real file apply wrote through it.
    """

    path: str
    existed: bool
    owner: str
    group: str
    mode: int
    sha256: str
    sha256_after: str
    link: str = ""
    target: str = ""


@dataclass(frozen=True, slots=True)
class JournalState:
    """The journal's state.json: enough for any control node to report and roll back."""

    plan_id: str
    host: str
    status: JournalStatus
    step: str
    node: str
    started: str
    updated: str
    originals: tuple[Original, ...]
    postmaps: tuple[str, ...] = ()
    test_recipient: str = ""
    lda_relays: tuple[str, ...] = ()
    log_path: str = ""
    error: str = ""
    steps_done: tuple[str, ...] = field(default=())
    follows: str = ""
    """A finalize's: the plan id of the apply it cleans up after (current again on rollback)."""
    lmtp_endpoint: str = ""
    """A finalize's: the LMTP next hop the host delivers over once rolled back (not the LDA)."""
    queue_directory: str = ""

    def with_step(self, step: str, status: JournalStatus | None = None) -> JournalState:
        return replace(self, step=step, status=status or self.status, updated=now())


@dataclass(frozen=True, slots=True)
class LockInfo:
    """Who holds a host's lock, and whether its SSH session is still alive."""

    held: bool
    plan_id: str = ""
    node: str = ""
    alive: bool = False


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def parse_lock(output: str) -> LockInfo:
    """Parse what LOCK_SCRIPT / PEEK_SCRIPT print about the lock (pure)."""
    lines = output.splitlines()
    if not lines or lines[0] in ("acquired", "free"):
        return LockInfo(held=False)
    values = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    alive = values.get("alive") == "yes"
    return LockInfo(True, values.get("plan", ""), values.get("node", ""), alive)


def state_to_json(state: JournalState) -> bytes:
    return (json.dumps(asdict(state), indent=2) + "\n").encode()


def state_from_json(data: bytes, host: str) -> JournalState:
    """Rebuild a state from state.json. Raises JournalError when it is not one."""
    try:
        raw = json.loads(data)
        raw["status"] = JournalStatus(raw["status"])
        raw["originals"] = tuple(Original(**o) for o in raw["originals"])
        for key in ("postmaps", "lda_relays", "steps_done"):
            raw[key] = tuple(raw.get(key, ()))
        return JournalState(**raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalError(f"unreadable journal state: {exc}", host=host) from exc


def locked_error(host: str, info: LockInfo) -> JournalError:
    """The error for a lock another apply holds, naming the command that gets out of it."""
    if info.alive:
        state, then = "running", f"see `migrator status {host}`"
    else:
        state, then = "interrupted (its SSH session is gone)", f"run `migrator rollback {host}`"
    plan = info.plan_id or "(unknown)"
    node = info.node or "(unknown)"
    return JournalError(
        f"locked by plan {plan} from {node}, {state}; {then}", host=host, path=f"{BASE}/lock"
    )


def quietly(action: Callable[[], None]) -> str:
    """Run a journal write or unlock whose failure must not stop what comes after it (a
    rollback, an exit code): '' when it worked, else why it did not."""
    try:
        action()
    except MigratorError as exc:
        return str(exc)
    return ""


def _check(host: str, rc: int, err: str, doing: str) -> None:
    """Raise JournalError for a journal script's failure; exit 4 is an unsafe journal."""
    if rc == _UNSAFE:
        raise JournalError(
            f"refusing the journal, nothing was changed: {err.strip()}; {BASE} and all "
            "beneath it must be root's alone (no symlink, not writable by group or others)",
            host=host,
            path=BASE,
        )
    if rc != 0:
        raise JournalError(f"{doing}: {err.strip() or f'exit {rc}'}", host=host, path=BASE)


class Journal:
    """One plan's journal on one host, reached through its transport."""

    def __init__(self, transport: Transport, plan_id: str) -> None:
        self.transport = transport
        self.plan_id = plan_id
        self.directory = f"{BASE}/journal/{plan_id}"

    @property
    def host(self) -> str:
        return self.transport.host

    def lock(self, node: str, *, takeover: str | None = None, then: str = "") -> str:
        """Take the host's lock; a lock whose session is gone is taken over when its plan is
        settled (or never started), or when it is ``takeover``'s plan ("*": any). THEN, a
        script, runs on the host once the lock is taken, in the same round trip: its output
        is returned ("" without one).

        Raises JournalError when another apply holds it, or the journal is unsafe.
        """
        info, said = self._lock(node, takeover, then)
        if info.held and not info.alive and takeover is None and self._settled(info.plan_id):
            info, said = self._lock(node, info.plan_id, then)
        if info.held:
            raise locked_error(self.host, info)
        return said

    def _lock(self, node: str, takeover: str | None, then: str = "") -> tuple[LockInfo, str]:
        argv = ["sh", "-c", LOCK_SCRIPT, "sh", BASE, self.plan_id, node]
        mode = ["takeover", takeover] if takeover is not None else ["", ""]
        result = self.transport.run([*argv, *mode, *([then] if then else [])], timeout=60)
        _check(self.host, result.rc, result.err, f"cannot lock {BASE}")
        lock, _, said = result.out.partition("==then==\n")
        return parse_lock(lock), said

    def _settled(self, plan_id: str) -> bool:
        """True when plan_id's apply left nothing half done (no state at all: it never wrote)."""
        state = Journal(self.transport, plan_id).read_state() if plan_id else None
        return state is None or state.status in SETTLED

    def unlock(self) -> None:
        """Release the lock (only ours: the plan id must match)."""
        self.transport.run(["sh", "-c", UNLOCK_SCRIPT, "sh", BASE, self.plan_id], timeout=30)

    def open(self, originals: Mapping[str, FileData], state: JournalState) -> None:
        """Open this apply's journal in one round trip: the directory (0700) and the space
        rollback will need, every original copied into orig/<n> (0600) by the host from its
        own file, then state.json, then ``current`` names this plan. Before anything is written.

        Raises PlanDriftError when an original no longer has the sha256 read (it changed
        since the drift check); JournalError when the journal cannot be opened.
        """
        copies = [
            item
            for index, path in enumerate(sorted(originals))
            if originals[path].exists
            for item in (str(index), path, originals[path].sha256)
        ]
        argv = ["sh", "-c", OPEN_SCRIPT, "sh", self.directory, str(RESERVE_BYTES)]
        argv += [state_to_json(state).decode(), f"{BASE}/current", self.plan_id, *copies]
        result = self.transport.run(argv, timeout=60)
        if result.rc == CHANGED_RC:
            raise PlanDriftError(
                f"changed since the plan was made: {result.err.strip().removeprefix('changed: ')}"
                "; nothing was changed, plan again",
                host=self.host,
            )
        _check(self.host, result.rc, result.err, "cannot open the journal")

    def original_path(self, state: JournalState, path: str) -> str:
        return f"{self.directory}/orig/{self._index(state, path)}"

    def keep_drifted(self, state: JournalState, path: str, content: bytes) -> str:
        """Keep a file as rollback found it (edited after apply); return the copy's path."""
        name = f"drift/{self._index(state, path)}"
        self._write(name, content, reserve=True)
        return f"{self.directory}/{name}"

    def point_current(self) -> None:
        """Make this plan the host's current apply (once its state.json exists)."""
        self._write_at(f"{BASE}/current", f"{self.plan_id}\n".encode())

    def write_state(self, state: JournalState, *, reserve: bool = False) -> None:
        """Write state.json; with reserve, a full disk gives up the reserve and tries again.

        Raises TransportError when it cannot be written.
        """
        self._write("state.json", state_to_json(state), reserve=reserve)

    def write_states(self, states: Sequence[JournalState]) -> None:
        """Write state.json once per state, in order, in one round trip (states recorded at
        one moment: a step's end and the next step's start).

        Raises TransportError when one cannot be written (those after it are not).
        """
        if len(states) == 1:
            self.write_state(states[0])
            return
        path = f"{self.directory}/state.json"
        contents = [state_to_json(state).decode() for state in states]
        argv = ["sh", "-c", WRITE_STATES_SCRIPT, "sh", path, *contents]
        result = self.transport.run(argv, timeout=30)
        if not result.ok:
            lines = result.err.strip().splitlines()
            detail = lines[-1] if lines else f"exit {result.rc}"
            raise TransportError(f"cannot write: {detail}", host=self.host, path=path)

    def read_state(self) -> JournalState | None:
        """This plan's state (None when it has none). Raises JournalError."""
        path = f"{self.directory}/state.json"
        content = self.read([path])[path].content
        return None if content is None else state_from_json(content, self.host)

    def read(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        """Journal files, read after the safety checks and never through a symlink.

        Raises JournalError when the journal is unsafe or cannot be read.
        """
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        argv = ["sh", "-c", JOURNAL_READ_SCRIPT, "sh", BASE, *wanted]
        result = self.transport.run(argv, timeout=60)
        _check(self.host, result.rc, result.err, "cannot read the journal")
        try:
            return parse_read_stream(wanted, result.stdout)
        except StreamError as exc:
            raise JournalError(f"cannot read the journal: {exc}", host=self.host) from exc

    def release_reserve(self) -> None:
        """Give back the space set aside for rollback (it is done, or needs it now)."""
        self.transport.run(["rm", "-f", "--", f"{self.directory}/reserve"], timeout=30)

    def _index(self, state: JournalState, path: str) -> int:
        return sorted(o.path for o in state.originals).index(path)

    def _write(self, name: str, content: bytes, *, reserve: bool = False) -> None:
        try:
            self._write_at(f"{self.directory}/{name}", content)
        except MigratorError:
            if not reserve:
                raise
            self.release_reserve()
            self._write_at(f"{self.directory}/{name}", content)

    def _write_at(self, path: str, content: bytes) -> None:
        self.transport.write_atomic(path, content, owner="root", group="root", mode=0o600)


def peek(transport: Transport) -> tuple[LockInfo, str]:
    """The host's lock and its current plan id ('' when none), in one round trip.

    Raises JournalError when the journal is unsafe (not root's alone).
    """
    result = transport.run(["sh", "-c", PEEK_SCRIPT, "sh", BASE], timeout=60)
    _check(transport.host, result.rc, result.err, "cannot read the journal's lock")
    current = ""
    for line in result.out.splitlines():
        if line.startswith("current="):
            current = line.split("=", 1)[1]
    return parse_lock(result.out), current
