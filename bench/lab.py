"""Benchmark the lab: seconds to bring up 1 and 10 hosts, to tear down, PSS memory per host.

Run as root: .venv/bin/python bench/lab.py [--rounds N]
Targets (issue 3): one host <= 2 s, 10 hosts <= 10 s, teardown <= 0.3 s a host,
<= 15 MB PSS a host.
"""

from __future__ import annotations

import argparse
import statistics
import time

from migrator.lab import lifecycle, sandbox
from migrator.lab.state import Lab


def pss_kib(pid: int) -> int:
    """Proportional set size of one process, in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def lab_pss_mib_per_host(lab: Lab) -> tuple[float, int]:
    """Mean PSS per host in MiB, and mean process count per host."""
    pids = [sandbox.host_pids(lab, host.name) for host in lab.hosts]
    total = sum(pss_kib(pid) for group in pids for pid in group)
    return total / 1024 / len(lab.hosts), sum(map(len, pids)) // len(lab.hosts)


def one_round(hosts: int) -> dict[str, float]:
    start = time.monotonic()
    lab = lifecycle.bring_up("virtual-lda", hosts, "bench")
    up = time.monotonic() - start
    time.sleep(0.5)  # let Postfix and Dovecot settle before measuring memory
    pss, procs = lab_pss_mib_per_host(lab)
    start = time.monotonic()
    lifecycle.tear_down("bench")
    down = time.monotonic() - start
    return {"up": up, "down_per_host": down / hosts, "pss_mib": pss, "procs": procs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    header = ("hosts", "up s (median)", "down s/host", "PSS MiB/host", "procs")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 14, 12, 13, 6), strict=True)))
    for hosts in (1, 10):
        rounds = [one_round(hosts) for _ in range(args.rounds)]
        median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        print(
            f"{hosts:>5} {median['up']:>14.2f} {median['down_per_host']:>12.3f}"
            f" {median['pss_mib']:>13.1f} {int(median['procs']):>6}"
        )


if __name__ == "__main__":
    main()
