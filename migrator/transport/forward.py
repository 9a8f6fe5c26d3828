"""A transport that hands every call to another: the base of wrappers that change a few.

A wrapper (the journal's carrying transport, a fleet's kept connection) subclasses
``ForwardingTransport`` and overrides only what it changes, so a method added to the
``Transport`` protocol is forwarded here once and reaches every wrapper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from migrator.transport.base import ClosingTransport, FileData, RunResult, Transport


class ForwardingTransport(ClosingTransport):
    """Forwards every ``Transport`` method to ``inner``; ``with`` closes this wrapper."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    @property
    def host(self) -> str:
        return self.inner.host

    @property
    def live(self) -> bool:
        return self.inner.live

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> RunResult:
        return self.inner.run(argv, stdin=stdin, timeout=timeout)

    def read_files(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        return self.inner.read_files(paths)

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
        self.inner.write_atomic(
            path, content, owner=owner, group=group, mode=mode, expected_sha256=expected_sha256
        )

    def close(self) -> None:
        self.inner.close()
