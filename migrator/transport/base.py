"""The one interface every transport offers, and the records it returns.

A transport reaches one host: over SSH (``ssh.py``) or as a directory laid out like a host's
root (``local.py``). Library exceptions stop here and become ``TransportError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one command on a host."""

    host: str
    argv: tuple[str, ...]
    rc: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class FileData:
    """One file as read from a host: content (None when missing), owner, group, mode.

    When ``path`` is a symlink, ``link`` is what it says and ``target`` the real file read
    (and written) through it, as Postfix and Dovecot follow it.
    """

    path: str
    content: bytes | None
    owner: str = "root"
    group: str = "root"
    mode: int = 0o644
    link: str = ""
    target: str = ""

    @property
    def exists(self) -> bool:
        return self.content is not None

    @property
    def sha256(self) -> str:
        """The content's sha256 (of no bytes when the file is missing)."""
        return sha256(self.content or b"")


def sha256(data: bytes) -> str:
    """The hex sha256 of data: the one digest plans, journals and apply compare."""
    return hashlib.sha256(data).hexdigest()


class ClosingTransport:
    """``with transport:`` closes it at the end, whatever happens in the block."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


class Transport(Protocol):
    """What migrator needs of a host. Paths are absolute paths as the host sees them."""

    @property
    def host(self) -> str:
        """The host's name as the user gave it."""
        ...

    @property
    def live(self) -> bool:
        """True when commands run on the host itself (SSH); False for a directory root."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """Run one command (as root; ``sudo -n`` for a non-root login). Never raises on rc != 0.

        Raises TransportError when the host cannot be reached or the command cannot start.
        """
        ...

    def read_files(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        """Read many files in one round trip; a missing file comes back with content None."""
        ...

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
        """Write a temp file beside path's real file, set owner and mode, rename it over.

        A symlinked path stays a symlink: the content goes to the file it points to. With
        ``expected_sha256`` the rename happens only if the file still has that sha256 (a
        missing file counts as empty), checked in the same step (compare-and-swap).

        Raises PlanDriftError when the file changed; TransportError when the write fails.
        """
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...

    def close(self) -> None:
        """Release the connection, if any."""
        ...
