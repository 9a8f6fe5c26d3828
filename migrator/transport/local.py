"""A directory laid out like a host's root, used as the host (``migrator plan --root DIR``).

Nothing here is live: host paths map under ``root``; ``run`` runs on this machine and is meant
only for tools that take a directory argument (``postconf -c DIR``), never to ask about the host.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from migrator.errors import PlanDriftError, TransportError
from migrator.transport.base import ClosingTransport, FileData, RunResult, sha256


class LocalTransport(ClosingTransport):
    """A host whose files live under ``root``; commands run on this machine."""

    def __init__(self, root: Path, host: str | None = None) -> None:
        self.root = root.resolve()
        self._host = host or self.root.name

    @property
    def host(self) -> str:
        return self._host

    @property
    def live(self) -> bool:
        return False

    def local_path(self, path: str) -> Path:
        """Map an absolute host path to its place under root; refuse relative paths."""
        if not path.startswith("/"):
            raise TransportError(f"not an absolute path: {path}", host=self.host, path=path)
        return self.root / path.lstrip("/")

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        try:
            proc = subprocess.run(
                list(argv), input=stdin, capture_output=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TransportError(f"cannot run {argv[0]}: {exc}", host=self.host) from exc
        return RunResult(self.host, tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    def read_files(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        return {path: self._read(path) for path in paths}

    def list_files(self, directory: str) -> list[str]:
        """Host paths of the regular files beneath ``directory`` (recursive, sorted)."""
        local = self.local_path(directory)
        if not local.is_dir():
            return []
        prefix = directory.rstrip("/")
        return sorted(f"{prefix}/{name}" for name in self._walk(local, "", 0))

    def _walk(self, local: Path, relative: str, depth: int) -> Iterator[str]:
        """Names of regular files under local, following symlinks within root (as Dovecot's
        !include follows a symlinked conf.d); a loop stops at 40 levels."""
        real = self._real(local)
        if depth > 40 or not real.is_dir():
            return
        for entry in sorted(real.iterdir()):
            name = f"{relative}{entry.name}"
            resolved = self._real(entry)
            if resolved.is_dir():
                yield from self._walk(entry, f"{name}/", depth + 1)
            elif resolved.is_file():
                yield name

    def write_atomic(
        self,
        path: str,
        content: bytes,
        *,
        owner: str,
        group: str,
        mode: int,
        expected_sha256: str | None = None,
    ) -> None:
        target = self._real(self.local_path(path))
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.chmod(tmp, mode)
            now = sha256(target.read_bytes() if target.exists() else b"")
            if expected_sha256 is not None and now != expected_sha256:
                os.unlink(tmp)
                detail = f"changed since it was checked (sha256 is now {now}); not written"
                raise PlanDriftError(detail, host=self.host, path=path)
            os.replace(tmp, target)
        except OSError as exc:
            raise TransportError(f"cannot write: {exc}", host=self.host, path=path) from exc

    def _real(self, local: Path) -> Path:
        """Resolve symlinks one component at a time as the host would, absolute ones (and
        ``..``) staying under root. Raises TransportError for a symlink loop."""
        queue = list(local.relative_to(self.root).parts)
        current, hops = self.root, 0
        while queue:
            part = queue.pop(0)
            candidate = current / part
            if part in ("", "."):
                continue
            if part == "..":
                current = current.parent if current != self.root else current
            elif candidate.is_symlink():
                hops += 1
                if hops > 40:
                    raise TransportError("too many levels of symlinks", host=self.host)
                said = os.readlink(candidate)
                current = self.root if said.startswith("/") else current
                queue = [p for p in said.split("/") if p] + queue
            else:
                current = candidate
        return current

    def close(self) -> None:
        return None

    def _read(self, path: str) -> FileData:
        link = os.readlink(self.local_path(path)) if self.local_path(path).is_symlink() else ""
        local = self._real(self.local_path(path))
        try:
            content, info = _read_regular(local)
        except (FileNotFoundError, NotADirectoryError):
            return FileData(path, None)
        except OSError as exc:
            raise TransportError(f"cannot read: {exc}", host=self.host, path=path) from exc
        if content is None:
            return FileData(path, None)  # as over SSH: only regular files are read
        target = "/" + local.relative_to(self.root).as_posix() if link else ""
        owner, group = _user(info.st_uid), _group(info.st_gid)
        return FileData(path, content, owner, group, info.st_mode & 0o7777, link, target)


def _read_regular(local: Path) -> tuple[bytes | None, os.stat_result]:
    """A regular file's bytes and stat; None for anything else (a directory, a FIFO, a
    socket, a device), as READ_SCRIPT's ``[ -f ]`` over SSH. The type is checked again on
    the open descriptor (opened without blocking), so a FIFO swapped in after the check
    cannot hang planning."""
    if not stat.S_ISREG(os.stat(local).st_mode):
        return None, os.stat(local)
    fd = os.open(local, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, info
        os.set_blocking(fd, True)
        return handle.read(), info


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
