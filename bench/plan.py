"""Benchmark `migrator plan` over SSH on lab hosts: wall seconds and SSH round trips.

Run as root: .venv/bin/python bench/plan.py [--rounds N] [--parallel-rounds N]
Brings up its own lab (``benchp``, 10 virtual-lda hosts) and tears it down, also on error.
Each host gets its own ``myhostname`` in main.cf first, as real hosts have, so main.cf
differs from host to host while the Dovecot files are the package's, as on a real fleet.
Targets (issue 4): <= 4 round trips a host; one host <= 0.5 s wall with the SSH handshake;
10 hosts in parallel (threads, one transport each) <= 2 s. The parallel runs share one
ParseCache as `plan -i` does; the same run without it shows the cost when no two hosts
share a file.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from labhosts import distinct_hostnames

from migrator.config.reader import ParseCache
from migrator.lab import lifecycle
from migrator.plan.build import build_plan
from migrator.rules.switch import Options
from migrator.transport.ssh import SSHTransport
from migrator.transport.ssh_config import resolve_host

LAB = "benchp"
HOSTS = 10
RECIPIENT = "alice@example.test"


@dataclass(frozen=True, slots=True)
class Run:
    """One host planned: wall seconds (handshake included), round trips, connections, and
    this process's CPU seconds meanwhile (all threads: Augeas, paramiko, planning)."""

    seconds: float
    round_trips: int
    connections: int
    cpu: float


def plan_one(host: str, ssh_config: Path, cache: ParseCache | None = None) -> Run:
    """Plan HOST over a fresh SSH connection, as `migrator plan HOST` does (no cache given:
    a cache of its own, so everything is parsed)."""
    start, cpu = time.perf_counter(), time.process_time()
    transport = SSHTransport(resolve_host(host, config=ssh_config))
    try:
        plan = build_plan(transport, Options(test_recipient=RECIPIENT), cache=cache)
    finally:
        transport.close()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if not plan.has_changes:
        raise RuntimeError(f"{host}: expected a plan with changes")
    return Run(seconds, transport.round_trips, transport.connections, cpu)


def plan_parallel(hosts: list[str], ssh_config: Path, shared: bool) -> tuple[float, list[Run]]:
    """Plan every host at once, one thread and one transport each, with one shared cache
    (as `plan -i`) or none; wall seconds and runs."""
    cache = ParseCache() if shared else None
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        runs = list(pool.map(lambda host: plan_one(host, ssh_config, cache), hosts))
    return time.perf_counter() - start, runs


def fleet_cli_seconds(ssh_config: Path) -> float:
    """Wall seconds of `migrator plan -i` over the lab's hosts (the command, start to end)."""
    argv = [str(Path(sys.executable).parent / "migrator"), "plan", "-i", str(ssh_config)]
    argv += ["--ssh-config", str(ssh_config), "--test-recipient", RECIPIENT, "--no-save"]
    start = time.perf_counter()
    done = subprocess.run([*argv, "--forks", str(HOSTS)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"plan -i exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - start


def cli_seconds(host: str, ssh_config: Path) -> float:
    """Wall seconds of the `migrator plan` command itself (interpreter start and imports too)."""
    argv = [str(Path(sys.executable).parent / "migrator"), "plan", host, "--ssh-config"]
    argv += [str(ssh_config), "--test-recipient", RECIPIENT, "--no-save", "--json"]
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def report(
    single: list[Run],
    parallel: dict[bool, tuple[list[float], list[Run]]],
    cli: list[float],
    fleet_cli: list[float],
) -> None:
    """Print the table: median and best of each measure, against the issue's targets."""
    walls, runs = parallel[True]
    cold_walls, cold_runs = parallel[False]
    trips = max(r.round_trips for r in single + runs + cold_runs)
    seconds = [r.seconds for r in single]
    rows = [
        ("1 host, s wall (handshake incl.)", seconds, 0.5),
        ("1 host, s CPU in this process", [r.cpu for r in single], None),
        ("10 hosts in parallel, s wall", walls, 2.0),
        ("  slowest host in those, s wall", [max(r.seconds for r in runs)], None),
        ("10 hosts, no shared cache, s wall", cold_walls, None),
        ("`migrator plan HOST` CLI, s wall", cli, None),
        ("`migrator plan -i` 10 hosts, s wall", fleet_cli, None),
    ]
    print(f"{'measure':<34} {'median':>7} {'best':>7} {'target':>7}  met")
    for label, values, target in rows:
        median = statistics.median(values)
        goal, met = ("", "") if target is None else (f"<= {target:g}", _yes(median <= target))
        print(f"{label:<34} {median:7.3f} {min(values):7.3f} {goal:>7}  {met}")
    print(
        f"{'SSH round trips a host (max)':<34} {trips:7d} {'':>7} {'<= 4':>7}  {_yes(trips <= 4)}"
    )
    connections = max(r.connections for r in single + runs + cold_runs)
    print(f"{'SSH connections a host (max)':<34} {connections:7d}")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(load average {load} on {os.cpu_count()} CPUs when done)")


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="single-host plans (median)")
    parser.add_argument("--parallel-rounds", type=int, default=3, help="10-host runs (median)")
    args = parser.parse_args()
    # `timeout` or kill sends SIGTERM: exit through the finally below, which takes the lab down.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    lab = lifecycle.bring_up("virtual-lda", HOSTS, LAB)
    try:
        names = [h.name for h in lab.hosts]
        distinct_hostnames(names, lab.ssh_config)
        plan_one(names[0], lab.ssh_config)  # warm-up: lazy imports, the hosts' page cache
        single = [plan_one(names[0], lab.ssh_config) for _ in range(args.rounds)]
        parallel: dict[bool, tuple[list[float], list[Run]]] = {True: ([], []), False: ([], [])}
        for _ in range(args.parallel_rounds):
            for shared in (True, False):
                wall, batch = plan_parallel(names, lab.ssh_config, shared)
                parallel[shared][0].append(wall)
                parallel[shared][1].extend(batch)
        cli = [cli_seconds(names[0], lab.ssh_config) for _ in range(3)]
        fleet_cli = [fleet_cli_seconds(lab.ssh_config) for _ in range(3)]
    finally:
        lifecycle.tear_down(LAB)
    report(single, parallel, cli, fleet_cli)
    print(
        f"(median of {args.rounds} single plans, {args.parallel_rounds} parallel runs "
        f"of {HOSTS} hosts, 3 CLI runs)"
    )


if __name__ == "__main__":
    main()
