"""The fake host's side of the remote journal: ``journal_scripts``' scripts acted out.

A mixin of ``fake_host.FakeTransport``: each method takes the script's argv (as ``sh -c
SCRIPT sh ARGS...``) and answers (rc, stdout, stderr) as the script does on a real host,
on the in-memory files and directories. Every script that reads or takes the lock checks
first that the base directory is root's alone (exit 4, one line on stderr), so a host made
unsafe (``FakeHost.dir_meta``, a file under the base not root's) is refused as for real.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from migrator.transport.base import FileData
from migrator.transport.remote_scripts import CHANGED_RC
from tests.unit.fake_state import make_dirs

if TYPE_CHECKING:
    from tests.unit.fake_state import FakeHost

Answer = tuple[int, str | bytes, str]
_UNSAFE = 4


class JournalScripts:
    """LOCK, PEEK, JOURNAL_READ, PREPARE and UNLOCK on the in-memory host ($1 is the base)."""

    state: FakeHost
    session: str
    _script_write: Callable[..., Answer]

    def _unsafe(self, base: str) -> str:
        """Why check_base refuses the base ('' when it is root's alone)."""
        host, path = self.state, base
        while path:
            if path in host.dirs:
                why = _unsafe_dir(path, *host.dir_meta.get(path, ("root", 0o755, False)))
                if why:
                    return why
            path = path.rsplit("/", 1)[0]
        if base not in host.dirs:
            return ""
        beneath = sorted(
            [(p, *host.dir_meta.get(p, ("root", 0o755, False))) for p in host.dirs]
            + [(p, d.owner, d.mode, bool(d.link)) for p, d in host.files.items()]
        )
        for path, owner, mode, link in beneath:
            if path.startswith(f"{base}/") and (link or owner != "root" or mode & 0o022):
                return f"{path} is not root's alone (owner {owner}, mode {mode:o})"
        return ""

    def _owner(self, base: str) -> str:
        owner = self.state.files.get(f"{base}/lock/owner", FileData("", None))
        return (owner.content or b"").decode()

    def _holder_alive(self, base: str) -> bool:
        holder = re.search(r"^holder=(.*)$", self._owner(base), re.M)
        return holder is not None and holder[1] in self.state.sessions_alive

    def _report_held(self, base: str, released: str) -> str:
        if f"{base}/lock" not in self.state.dirs:
            return f"{released}\n"
        return f"held\n{self._owner(base)}alive={'yes' if self._holder_alive(base) else 'no'}\n"

    def _lock(self, argv: tuple[str, ...], stdin: bytes | None) -> Answer:
        base, plan, node, takeover, which = (*argv[4:9], "", "", "")[:5]
        why = self._unsafe(base)
        if why:
            return _UNSAFE, "", f"{why}\n"
        dirs = self.state.dirs
        if base not in dirs:
            self.state.dir_meta[base] = ("root", 0o700, False)
        for path in (base, f"{base}/journal"):
            make_dirs(dirs, path)
        held_plan = re.search(r"^plan=(.*)$", self._owner(base), re.M)
        lock = f"{base}/lock"
        taken_over = (
            lock in dirs
            and takeover == "takeover"
            and not self._holder_alive(base)
            and (which == "*" or (held_plan is not None and held_plan[1] == which))
        )
        if lock not in dirs or taken_over:
            dirs.add(lock)
            owner = f"plan={plan}\nnode={node}\nholder={self.session}\n".encode()
            path = f"{lock}/owner"
            self.state.files[path] = FileData(path, owner, "root", "root", 0o600)
            return 0, "acquired\n", ""
        return 0, self._report_held(base, "held"), ""

    def _peek(self, argv: tuple[str, ...], stdin: bytes | None) -> Answer:
        base = argv[4]
        why = self._unsafe(base)
        if why:
            return _UNSAFE, "", f"{why}\n"
        current = self.state.files.get(f"{base}/current", FileData("", None)).content or b""
        return 0, f"{self._report_held(base, 'free')}current={current.decode().strip()}\n", ""

    def _journal_read(self, argv: tuple[str, ...], stdin: bytes | None) -> Answer:
        base, paths = argv[4], argv[5:]
        why = self._unsafe(base)
        if why:
            return _UNSAFE, "", f"{why}\n"
        for path in paths:
            if self.state.files.get(path, FileData(path, None)).link:
                return _UNSAFE, "", f"{path} is a symlink\n"
        return 0, read_stream(self.state, paths), ""

    def _prepare(self, argv: tuple[str, ...], stdin: bytes | None) -> Answer:
        """OPEN_SCRIPT: the journal's directories and reserve, each original copied by the
        host from its own file (refused when its sha256 is not the one given), the state,
        the current plan; each file written as ``write_atomic`` writes it."""
        directory, size, state, current, plan = argv[4:9]
        for sub in ("orig", "drift"):
            make_dirs(self.state.dirs, f"{directory}/{sub}")
        path = f"{directory}/reserve"
        self.state.files[path] = FileData(path, bytes(int(size)), "root", "root", 0o600)
        copies = argv[9:]
        writes: list[tuple[str, bytes]] = []
        for index, original, sha in zip(copies[::3], copies[1::3], copies[2::3], strict=True):
            data = self.state.files.get(original, FileData(original, None))
            if data.content is None or data.sha256 != sha:
                return CHANGED_RC, "", f"changed: {original}\n"
            writes.append((f"{directory}/orig/{index}", data.content))
        writes += [(f"{directory}/state.json", state.encode()), (current, f"{plan}\n".encode())]
        for target, content in writes:
            answer = self._script_write(5, target, content)
            if answer[0]:
                return answer
        return 0, "", ""

    def _unlock(self, argv: tuple[str, ...], stdin: bytes | None) -> Answer:
        base, plan = argv[4], argv[5]
        if f"plan={plan}" not in self._owner(base).splitlines():
            return 1, "", ""
        lock = f"{base}/lock"
        self.state.dirs.discard(lock)
        for path in [p for p in self.state.files if p.startswith(f"{lock}/")]:
            del self.state.files[path]
        return 0, "", ""


def _unsafe_dir(path: str, owner: str, mode: int, link: bool) -> str:
    if link:
        return f"{path} is a symlink"
    if owner != "root":
        return f"{path} is owned by {owner}, not root"
    if mode & 0o022:
        return f"{path} is writable by group or others (mode {mode:o})"
    return ""


def read_stream(host: FakeHost, paths: Sequence[str]) -> bytes:
    """What READ_SCRIPT prints for paths on this host (F, M or N records, stats, bytes)."""
    kinds, found = [], []
    for path in paths:
        data = host.files.get(path)
        if data is not None and data.content is not None:
            kinds.append(b"F\n")
            found.append(data)
        else:
            kinds.append(b"N\n" if path in host.dirs else b"M\n")
    stats = b"".join(
        f"{d.mode:o} {d.owner} {d.group} {len(d.content or b'')} {i + 1} 1764633600\n".encode()
        for i, d in enumerate(found)
    )
    contents = b"".join(d.content or b"" for d in found)
    return b"migrator-files-v1\n" + b"".join(kinds) + stats + contents + stats
