"""One SSH connection a host for a fleet's plan and apply: ``apply -i`` plans every host, then
applies; the connection the plan opened is kept for the apply instead of a second handshake
(on the host: a new sshd session and its key exchange; here: paramiko's).

A kept connection that died meanwhile costs nothing more than a new one: the SSH transport
reconnects once on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from migrator.inventory.model import InventoryHost
from migrator.transport.base import Transport
from migrator.transport.forward import ForwardingTransport

Reach = Callable[[InventoryHost], Transport]
# Idle connections kept at most (each holds a socket and a thread here, a session there).
LIMIT = 512


class KeptConnections:
    """``keeping`` reaches hosts and keeps their connections when closed; ``taking`` hands a
    kept one over (its close really closes); ``close`` ends those never taken."""

    def __init__(self, reach: Reach, limit: int = LIMIT) -> None:
        self.reach = reach
        self.limit = limit
        self.kept: dict[str, Transport] = {}
        self.guard = threading.Lock()

    def keeping(self, host: InventoryHost) -> Transport:
        """The host's transport; closing it keeps it (up to the limit) for ``taking``.

        Raises UsageError as the reach does (a host its inventory made unusable)."""
        return _Kept(self._take(host), self, host.name)

    def taking(self, host: InventoryHost) -> Transport:
        """The host's kept transport, else a new one: closing it closes it."""
        return self._take(host)

    def close(self) -> None:
        """Close every connection still kept."""
        with self.guard:
            kept, self.kept = list(self.kept.values()), {}
        for transport in kept:
            transport.close()

    def _take(self, host: InventoryHost) -> Transport:
        with self.guard:
            kept = self.kept.pop(host.name, None)
        return kept if kept is not None else self.reach(host)

    def _keep(self, name: str, transport: Transport) -> None:
        with self.guard:
            if len(self.kept) < self.limit and name not in self.kept:
                self.kept[name] = transport
                return
        transport.close()


class _Kept(ForwardingTransport):
    """A transport whose close hands it back to its KeptConnections."""

    def __init__(self, inner: Transport, owner: KeptConnections, name: str) -> None:
        super().__init__(inner)
        self.owner, self.name = owner, name

    def close(self) -> None:
        self.owner._keep(self.name, self.inner)
