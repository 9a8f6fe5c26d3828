"""Read-only work over many hosts at once (check, status): no canary, waves or budget.

Each host runs in a worker thread (``--forks`` of them) with its own transport; one host's
failure becomes that host's result and never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from migrator.errors import MigratorError
from migrator.inventory.model import InventoryHost

T = TypeVar("T")


def each_host(
    hosts: Sequence[InventoryHost],
    work: Callable[[InventoryHost], T],
    on_error: Callable[[InventoryHost, str], T],
    forks: int,
) -> list[T]:
    """work(host) for every host, ``forks`` at a time; results in the hosts' order.

    A host whose work raises gets ``on_error(host, message)`` instead.
    """

    def guarded(host: InventoryHost) -> T:
        try:
            return work(host)
        except MigratorError as exc:
            message = str(exc)
        except Exception as exc:  # one host's bug must not hide the others' results
            message = f"unexpected error: {type(exc).__name__}: {exc}"
        named = message if message.startswith(f"{host.name}: ") else f"{host.name}: {message}"
        return on_error(host, named)

    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(hosts) or 1))) as pool:
        return list(pool.map(guarded, hosts))
