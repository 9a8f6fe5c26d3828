"""The fake host's file writes: ``write_atomic`` and the scripts that write as it does.

A mixin of ``fake_host.FakeTransport``. ``write_atomic`` with an expected sha256 is a
compare-and-swap, as SSHTransport's WRITE_SCRIPT; the journal's WRITE_STATES_SCRIPT and
CARRY_SCRIPT, and WRITE_SCRIPT run as a command (a write carrying journal states), write each
file through it and answer as those scripts answer on a real host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from migrator.errors import PlanDriftError, TransportError
from migrator.transport.base import FileData, RunResult
from migrator.transport.remote_scripts import CHANGED_RC
from tests.unit.fake_state import WRITE_ERROR, Fault, Write, parent

if TYPE_CHECKING:
    from tests.unit.fake_journal import Answer
    from tests.unit.fake_state import FakeHost


class Writes:
    """Files written on the in-memory host, one ``write_atomic`` at a time."""

    state: FakeHost
    session: str
    connected: bool
    host: str
    file: Callable[[str], FileData]
    run: Callable[..., RunResult]
    _check_connected: Callable[[], None]
    _happen: Callable[[str, str | None], None]
    _fault: Callable[[str, tuple[str, ...], str | None], Fault | None]
    _result: Callable[[tuple[str, ...], int, str | bytes, str], RunResult]

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
        """As SSHTransport's WRITE_SCRIPT: the sha256 is compared right before the rename."""
        self._check_connected()
        self._happen("write_file", path)
        if self._fault("write_file", ("write_atomic", path), path) is not None:
            raise TransportError(WRITE_ERROR, host=self.host, path=path)
        if parent(path) not in self.state.dirs:
            raise TransportError(
                "cannot write: [Errno 2] No such file or directory", host=self.host, path=path
            )
        now = self.file(path).sha256
        if expected_sha256 is not None and now != expected_sha256:
            detail = f"changed on the host since it was checked (sha256 is now {now}); not written"
            raise PlanDriftError(detail, host=self.host, path=path)
        self.state.writes.append(Write(self.session, path, content, owner, group, mode))
        self.state.events.append(("write", path))
        self.state.files[path] = FileData(path, content, owner, group, mode)

    def _script_write(
        self,
        failed_rc: int,
        path: str,
        content: bytes,
        stat: tuple[str, str, int] = ("root", "root", 0o600),
        expected_sha256: str | None = None,
    ) -> Answer:
        """``write_atomic`` as a remote script does it: its answer, (failed_rc, "", why) when
        the write fails; a lost connection raises, as no script could answer."""
        owner, group, mode = stat
        try:
            self.write_atomic(
                path, content, owner=owner, group=group, mode=mode, expected_sha256=expected_sha256
            )
        except PlanDriftError:
            return CHANGED_RC, "", f"sha256 is now {self.file(path).sha256}\n"
        except TransportError as exc:
            if not self.connected:
                raise
            return failed_rc, "", f"{exc.message.removeprefix('cannot write: ')}\n"
        return 0, "", ""

    def _write_states(self, args: tuple[str, ...]) -> RunResult:
        """WRITE_STATES_SCRIPT: each content written in turn, as ``write_atomic`` writes (a
        journal write of its own, not a command of a step); the first failure stops it."""
        path = args[4]
        for content in args[5:]:
            rc, out, err = self._script_write(5, path, content.encode())
            if rc:
                return self._result(args, rc, out, err)
        return self._result(args, 0, "", "")

    def _carried(
        self, args: tuple[str, ...], stdin: bytes | None, timeout: float | None
    ) -> RunResult:
        """CARRY_SCRIPT: the states written as WRITE_STATES_SCRIPT writes them, then the
        command runs; a state not written: the command never runs, exit 125 and the nonce."""
        count = int(args[6])
        written = self._write_states((*args[:5], *args[7 : 7 + count]))
        if not written.ok:
            return self._result(args, 125, "", f"{written.err}journal-unwritten {args[5]}\n")
        return self.run(args[7 + count :], stdin=stdin, timeout=timeout)

    def _write_script(self, args: tuple[str, ...], content: bytes) -> RunResult:
        """WRITE_SCRIPT run as a command (a write carrying journal states): as write_atomic."""
        path, owner, group, mode, expected = args[4:9]
        stat = (owner, group, int(mode, 8))
        return self._result(args, *self._script_write(1, path, content, stat, expected or None))
