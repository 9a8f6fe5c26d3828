"""apply -i plans and applies a host over one connection: the plan's is kept for the apply."""

from __future__ import annotations

from migrator.fleet.kept import KeptConnections
from migrator.inventory.model import InventoryHost
from migrator.transport.base import Transport

from .executor_host import host as fake_host
from .fake_host import FakeTransport


class Counting:
    """A reach that makes a fake host's transport and counts the connections it made."""

    def __init__(self) -> None:
        self.made: list[FakeTransport] = []

    def __call__(self, host: InventoryHost) -> Transport:
        fake, _ = fake_host()
        self.made.append(fake)
        return fake


def test_the_plans_connection_is_the_applys() -> None:
    reach = Counting()
    kept = KeptConnections(reach)
    a, b = InventoryHost("a"), InventoryHost("b")
    with kept.keeping(a) as planned:
        assert planned.run(["true"]).rc == 127  # used as any transport (the fake knows no true)
    assert reach.made[0].connected  # kept open
    with kept.taking(a) as applying:
        assert applying is reach.made[0]
    assert not reach.made[0].connected  # the apply's close closes it
    with kept.taking(b):
        pass
    assert len(reach.made) == 2  # b was never planned here: a connection of its own


def test_connections_beyond_the_limit_and_those_never_taken_are_closed() -> None:
    reach = Counting()
    kept = KeptConnections(reach, limit=1)
    for name in ("a", "b"):
        with kept.keeping(InventoryHost(name)):
            pass
    assert [t.connected for t in reach.made] == [True, False]
    kept.close()
    assert not reach.made[0].connected
    with kept.taking(InventoryHost("a")):
        assert len(reach.made) == 3  # nothing kept after close: a new connection
