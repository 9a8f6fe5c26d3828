"""The fake host's failures and happenings: an operation made to fail once, with the rc and
stderr the real host gives (``fail``), or something done on the host right before an
operation (``meanwhile``: an admin's edit).

A mixin of ``fake_host.FakeTransport``; the records (``Fault``, ``Happening``) and the real
hosts' failures (``FAILURES``) are in ``fake_state``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from migrator.errors import TransportError
from tests.unit.fake_state import FAILURES, Fault, Happening

if TYPE_CHECKING:
    from tests.unit.fake_state import FakeHost


class Faults:
    """``fail`` and ``meanwhile`` to script the host; ``_fault`` and ``_happen`` to act them."""

    state: FakeHost
    host: str
    drop: Callable[[], None]

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

    def meanwhile(self, kind: str, action: Callable[[], None], *, path: str | None = None) -> None:
        """Do action on the host right before the next operation of kind (on path)."""
        self.state.happenings.append(Happening(kind, path, action))

    def _happen(self, kind: str, path: str | None) -> None:
        for happening in self.state.happenings:
            if not happening.done and happening.kind == kind and happening.path in (None, path):
                happening.done = True
                happening.action()

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
