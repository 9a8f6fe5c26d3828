"""Benchmark `migrator plan` over SSH on lab hosts: wall seconds and SSH round trips.

Run as root: .venv/bin/python bench/plan.py [--rounds N]
Targets (issue 4): <= 4 round trips a host; one host <= 0.5 s wall with the SSH handshake;
10 hosts in parallel <= 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from migrator.lab import lifecycle
from migrator.plan import build_plan
from migrator.rules import Options
from migrator.transport import connect
from migrator.transport.base import FileData, RunResult, Transport

LAB = "bplan"


class Counting:
    """A transport wrapper that counts round trips (one per run or read_files call)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.round_trips = 0

    @property
    def host(self) -> str:
        return self.inner.host

    @property
    def live(self) -> bool:
        return self.inner.live

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> RunResult:
        self.round_trips += 1
        return self.inner.run(argv, stdin=stdin, timeout=timeout)

    def read_files(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        self.round_trips += 1
        return self.inner.read_files(paths)

    def write_atomic(self, path: str, content: bytes, *, owner: str, group: str, mode: int) -> None:
        raise AssertionError("planning never writes")

    def close(self) -> None:
        self.inner.close()


def plan_one(host: str, ssh_config: Path) -> tuple[float, int]:
    """Seconds (handshake included) and round trips to plan one host."""
    start = time.monotonic()
    transport = Counting(connect(host, ssh_config=ssh_config))
    try:
        plan = build_plan(transport, Options(test_recipient="alice@example.test"))
    finally:
        transport.close()
    assert plan.has_changes
    return time.monotonic() - start, transport.round_trips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lab = lifecycle.bring_up("virtual-lda", 10, LAB)
    try:
        names = [h.name for h in lab.hosts]
        single = [plan_one(names[0], lab.ssh_config) for _ in range(args.rounds)]
        print(
            f"1 host:   {statistics.median(s for s, _ in single):.2f} s wall (median of "
            f"{args.rounds}), {max(r for _, r in single)} round trips"
        )
        walls = []
        with ProcessPoolExecutor(max_workers=10) as pool:
            list(pool.map(plan_one, names, [lab.ssh_config] * 10))  # warm the workers
            for _ in range(args.rounds):
                start = time.monotonic()
                results = list(pool.map(plan_one, names, [lab.ssh_config] * 10))
                walls.append(time.monotonic() - start)
        print(
            f"10 hosts: {statistics.median(walls):.2f} s wall in parallel (median of "
            f"{args.rounds}), {max(r for _, r in results)} round trips a host"
        )
    finally:
        lifecycle.tear_down(LAB)


if __name__ == "__main__":
    main()
