"""The remote journal: on the host itself, what an apply changed and how far it got.

Layout under ``/var/lib/migrator`` (root, 0700)::

    lock/owner              who applies now: plan id, control node, and the SSH session
                            (sshd PID + start time) whose life is the lock's lease
    current                 the plan id of the latest apply
    journal/<plan-id>/      state.json (status, step reached, originals' owner/mode/sha256,
                            what rollback needs) and orig/<n>, each original file's bytes

So a rollback or a status works from any control node, two applies cannot run on one host,
and an apply whose control node died (its SSH session is gone) is seen as interrupted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from migrator.errors import JournalError
from migrator.transport.base import FileData, Transport

BASE = "/var/lib/migrator"

# Shared by the scripts below ($1 is always the base directory): field N of /proc/PID/stat
# after the command name; holder_alive says whether the lock's SSH session still runs.
_PRELUDE = r"""
set -u
base=$1
field() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f"$2"; }
holder_alive() {
  set -- $(sed -n 's/^holder=//p' "$base/lock/owner" 2>/dev/null)
  [ -n "${1:-}" ] && [ "$(field "$1" 20)" = "${2:-x}" ]
}
report_held() {
  echo held; cat "$base/lock/owner" 2>/dev/null
  if holder_alive; then echo alive=yes; else echo alive=no; fi
}
"""

# $2 plan id, $3 control node, $4 "takeover" to replace a lock whose holder is gone.
# The lease is the SSH session this command runs under: the sshd process above us, which
# OpenSSH 9.8 and later name sshd-session (their "sshd" is the long-lived listener).
LOCK_SCRIPT = (
    _PRELUDE
    + r"""
umask 077
mkdir -p "$base/journal" && chmod 0700 "$base" || exit 3
p=$$
session() {
  case $(cat "/proc/$1/comm" 2>/dev/null) in sshd|sshd-session) return 0;; esac; return 1
}
while [ "$p" -gt 1 ] && ! session "$p"; do p=$(field "$p" 2); done
me="$p $(field "$p" 20)"
write_owner() { printf 'plan=%s\nnode=%s\nholder=%s\n' "$2" "$3" "$me" > "$base/lock/owner.new" &&
  mv "$base/lock/owner.new" "$base/lock/owner"; }
if mkdir "$base/lock" 2>/dev/null; then
  write_owner "$@"; echo acquired
elif [ "${4:-}" = takeover ] && ! holder_alive; then
  write_owner "$@"; echo acquired
else
  report_held
fi
"""
)

# Prints the lock (as LOCK_SCRIPT does when held, else "free"), then the current plan id.
PEEK_SCRIPT = (
    _PRELUDE
    + r"""
if [ -d "$base/lock" ]; then report_held; else echo free; fi
echo "current=$(cat "$base/current" 2>/dev/null)"
"""
)


# $1 base, $2 plan id: release the lock only when it is this plan's. Values are arguments,
# never pasted into the script, so a hostile plan id cannot run anything.
UNLOCK_SCRIPT = 'grep -qxF -- "plan=$2" "$1/lock/owner" && rm -rf -- "$1/lock"'

# $1 base, $2 the plan's journal directory, $3 plan id: make the directory, point current at it.
PREPARE_SCRIPT = 'umask 077; mkdir -p -- "$2/orig" && printf "%s\\n" "$3" > "$1/current"'


class JournalStatus(StrEnum):
    """Where an apply stands, as recorded on the host."""

    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    ROLLING_BACK = "rolling-back"
    ROLLED_BACK = "rolled-back"


@dataclass(frozen=True, slots=True)
class Original:
    """A file as it was before apply touched it (``existed`` False: apply created it)."""

    path: str
    existed: bool
    owner: str
    group: str
    mode: int
    sha256: str
    sha256_after: str


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


class Journal:
    """One plan's journal on one host, reached through its transport."""

    def __init__(self, transport: Transport, plan_id: str) -> None:
        self.transport = transport
        self.plan_id = plan_id
        self.directory = f"{BASE}/journal/{plan_id}"

    @property
    def host(self) -> str:
        return self.transport.host

    def lock(self, node: str, *, takeover: bool = False) -> None:
        """Take the host's lock. Raises JournalError when another apply holds it."""
        argv = ["sh", "-c", LOCK_SCRIPT, "sh", BASE, self.plan_id, node]
        result = self.transport.run([*argv, "takeover" if takeover else ""], timeout=30)
        if result.rc != 0:
            raise JournalError(f"cannot create {BASE}: {result.err.strip()}", host=self.host)
        info = parse_lock(result.out)
        if info.held:
            state = "running" if info.alive else "interrupted (its SSH session is gone)"
            raise JournalError(
                f"locked by plan {info.plan_id} from {info.node}, {state}; "
                f"see `migrator status {self.host}`",
                host=self.host,
                path=f"{BASE}/lock",
            )

    def unlock(self) -> None:
        """Release the lock (only ours: the plan id must match)."""
        self.transport.run(["sh", "-c", UNLOCK_SCRIPT, "sh", BASE, self.plan_id], timeout=30)

    def save_originals(self, originals: dict[str, FileData]) -> None:
        """Copy every original into orig/<n> (0600) before anything is written."""
        for index, path in enumerate(sorted(originals)):
            content = originals[path].content
            if content is not None:
                path = f"{self.directory}/orig/{index}"
                self.transport.write_atomic(path, content, owner="root", group="root", mode=0o600)

    def original_path(self, state: JournalState, path: str) -> str:
        index = sorted(o.path for o in state.originals).index(path)
        return f"{self.directory}/orig/{index}"

    def prepare(self) -> None:
        """Create the journal directory (0700) and point `current` at this plan."""
        argv = ["sh", "-c", PREPARE_SCRIPT, "sh", BASE, self.directory, self.plan_id]
        result = self.transport.run(argv, timeout=30)
        if result.rc != 0:
            raise JournalError(f"cannot open journal: {result.err.strip()}", host=self.host)

    def write_state(self, state: JournalState) -> None:
        self.transport.write_atomic(
            f"{self.directory}/state.json",
            state_to_json(state),
            owner="root",
            group="root",
            mode=0o600,
        )

    def read_state(self) -> JournalState | None:
        files = self.transport.read_files([f"{self.directory}/state.json"])
        content = files[f"{self.directory}/state.json"].content
        return None if content is None else state_from_json(content, self.host)


def peek(transport: Transport) -> tuple[LockInfo, str]:
    """The host's lock and its current plan id ('' when none), in one round trip."""
    result = transport.run(["sh", "-c", PEEK_SCRIPT, "sh", BASE], timeout=30)
    current = ""
    for line in result.out.splitlines():
        if line.startswith("current="):
            current = line.split("=", 1)[1]
    return parse_lock(result.out), current
