"""The rollout schedule of a fleet run: canary first, then waves, within a failure budget.

Pure: which hosts go in which batch, how many failures a run may take, and whether the next
host or wave may start. ``fleet.py`` runs the schedule; tests drive these functions alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from migrator.errors import UsageError

_AMOUNT = re.compile(r"^(\d+)(%?)$")


@dataclass(frozen=True, slots=True)
class Amount:
    """A count of hosts given as ``N`` or ``P%`` (of the fleet), as Ansible's ``serial``."""

    value: int
    percent: bool = False

    @classmethod
    def parse(cls, text: str, option: str) -> Amount:
        """``"5"`` or ``"20%"``. Raises UsageError naming the option for anything else."""
        match = _AMOUNT.match(text.strip())
        if not match or (match[2] and int(match[1]) > 100):
            raise UsageError(f"{option} takes a number N or a percentage P% (0-100), not {text!r}")
        return cls(int(match[1]), bool(match[2]))

    def of(self, total: int) -> int:
        """The count for a fleet of ``total`` hosts (a percentage rounds down)."""
        return math.floor(total * self.value / 100) if self.percent else self.value

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


@dataclass(frozen=True, slots=True)
class Batch:
    """Hosts that start together (up to --forks at a time); the next batch waits for them."""

    name: str
    hosts: tuple[str, ...]


def schedule(
    hosts: Sequence[str], canary: int = 0, wave: Amount | None = None
) -> tuple[Batch, ...]:
    """The batches, in order: ``canary`` hosts first, then waves of ``wave`` hosts.

    A percentage wave is of the whole fleet, and never smaller than one host; no ``wave``
    means all the rest in one wave. Raises UsageError for a negative canary.
    """
    if canary < 0:
        raise UsageError("--canary must be 0 or more")
    batches: list[Batch] = []
    if canary:
        batches.append(Batch("canary", tuple(hosts[:canary])))
    rest = list(hosts[canary:])
    size = max(1, wave.of(len(hosts))) if wave is not None else max(1, len(rest))
    for number, start in enumerate(range(0, len(rest), size), 1):
        batches.append(Batch(f"wave {number}", tuple(rest[start : start + size])))
    return tuple(batches)


def fail_budget(max_fail: Amount, total: int) -> int:
    """How many hosts may fail before nothing new starts (``P%`` of the fleet, rounded down)."""
    return max_fail.of(total)


def should_start_next(
    failed: int, budget: int, *, canary_failed: int = 0, stopping: bool = False
) -> bool:
    """Whether another host (or the next wave) may start.

    Not after Ctrl-C (``stopping``), not after any canary failed (a canary is there to stop
    the rollout), and only while the failures so far are within the budget.
    """
    return not stopping and canary_failed == 0 and failed <= budget
