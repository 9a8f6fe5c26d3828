"""A transport whose next command carries the journal's unwritten states: one round trip for
a step's journal entry and the step's own first command.

The states are written on the host, in order, before the command starts (CARRY_SCRIPT); if
one cannot be written the command never runs and ``run`` raises. File reads and writes, which
have scripts of their own: a read writes the states in a round trip of its own first; a write
on a live host runs the transport's own write script carrying them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace

from migrator.errors import TransportError
from migrator.executor.journal import Journal, JournalState, state_to_json
from migrator.executor.journal_scripts import CARRY_SCRIPT
from migrator.transport.base import FileData, RunResult, Transport
from migrator.transport.forward import ForwardingTransport
from migrator.transport.remote_scripts import write_file

_UNWRITTEN_RC = 125
_WRITE_TIMEOUT = 120.0  # as SSHTransport's for files


class CarryingTransport(ForwardingTransport):
    """Wraps a transport; ``carry`` queues states for the next command to write first."""

    def __init__(self, inner: Transport, journal: Journal) -> None:
        super().__init__(inner)
        self.journal = journal
        self.pending: list[JournalState] = []

    def carry(self, states: Sequence[JournalState]) -> None:
        """Queue states for the host's journal: written before the next command runs."""
        self.pending.extend(states)

    def drop(self) -> list[JournalState]:
        """Forget the queued states (a failure's state supersedes them); return them."""
        dropped, self.pending = self.pending, []
        return dropped

    def flush(self) -> None:
        """Write the queued states now, in one round trip. Raises TransportError."""
        states = self.drop()
        if states:
            self.journal.write_states(states)

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> RunResult:
        """Run argv after writing the queued states, in one round trip.

        Raises TransportError (naming state.json) when a state cannot be written: argv did
        not run. Otherwise as the inner transport's ``run``.
        """
        states = self.drop()
        if not states:
            return super().run(argv, stdin=stdin, timeout=timeout)
        path = f"{self.journal.directory}/state.json"
        nonce = uuid.uuid4().hex
        contents = [state_to_json(state).decode() for state in states]
        carried = ["sh", "-c", CARRY_SCRIPT, "sh", path, nonce, str(len(states)), *contents]
        result = self.inner.run([*carried, *argv], stdin=stdin, timeout=timeout)
        lines = result.err.strip().splitlines()
        if result.rc == _UNWRITTEN_RC and lines[-1:] == [f"journal-unwritten {nonce}"]:
            detail = lines[-2] if len(lines) > 1 else f"exit {result.rc}"
            raise TransportError(f"cannot write: {detail}", host=self.host, path=path)
        return replace(result, argv=tuple(argv))

    def read_files(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        """As the inner transport's, the queued states written first. Raises TransportError."""
        self.flush()
        return super().read_files(paths)

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
        """As the inner transport's, the queued states written first (on a live host by the
        write's own command). Raises TransportError, PlanDriftError."""
        if not self.pending or not self.inner.live:
            self.flush()
            super().write_atomic(
                path, content, owner=owner, group=group, mode=mode, expected_sha256=expected_sha256
            )
            return

        def carried(argv: list[str], stdin: bytes | None) -> tuple[int, bytes, bytes]:
            result = self.run(argv, stdin=stdin, timeout=_WRITE_TIMEOUT)
            return result.rc, result.stdout, result.stderr

        stat = (owner, group, mode)
        write_file(carried, self.host, path, content, stat, expected_sha256 or "")
