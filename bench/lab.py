"""Benchmark the lab: seconds to bring up 1 and 10 hosts, to tear down, PSS memory per host,
and the release root's build time.

Run as root: .venv/bin/python bench/lab.py [--rounds N] [--release NAME] [--fresh-root]
Targets (issue 12): one host <= 1 s, 10 hosts <= 5 s. --fresh-root times a build of the
release's root into a temporary cache (network to the mirror); without it the build time is
the one recorded when the cached root was built.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

from migrator.lab import lifecycle, roots, sandbox
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


def one_round(hosts: int, release: str) -> dict[str, float]:
    start = time.monotonic()
    lab = lifecycle.bring_up("virtual-lda", hosts, "bench", release=release)
    up = time.monotonic() - start
    time.sleep(0.5)  # let Postfix and Dovecot settle before measuring memory
    pss, procs = lab_pss_mib_per_host(lab)
    start = time.monotonic()
    lifecycle.tear_down("bench")
    down = time.monotonic() - start
    return {"up": up, "down_per_host": down / hosts, "pss_mib": pss, "procs": procs}


def root_build_seconds(release: str, fresh: bool) -> float:
    """Seconds to build the release's root: timed now in a scratch cache, or as recorded."""
    if not fresh:
        return roots.ensure_root(release).build_seconds
    scratch = roots.roots_dir().parent / f"bench-roots-{os.getpid()}"
    os.environ[roots.ROOTS_ENV] = str(scratch)
    try:
        start = time.monotonic()
        roots.ensure_root(release)
        return time.monotonic() - start
    finally:
        del os.environ[roots.ROOTS_ENV]
        shutil.rmtree(Path(scratch), ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--release", default=roots.DEFAULT_RELEASE)
    parser.add_argument("--fresh-root", action="store_true")
    args = parser.parse_args()
    build = root_build_seconds(args.release, args.fresh_root)
    versions = roots.ensure_root(args.release).versions
    print(
        f"release {args.release}: Dovecot {versions.dovecot}, Postfix {versions.postfix},"
        f" OpenSSH {versions.openssh}; root build {build:.0f} s"
    )
    header = ("hosts", "up s (median)", "down s/host", "PSS MiB/host", "procs")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 14, 12, 13, 6), strict=True)))
    for hosts in (1, 10):
        rounds = [one_round(hosts, args.release) for _ in range(args.rounds)]
        median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        print(
            f"{hosts:>5} {median['up']:>14.2f} {median['down_per_host']:>12.3f}"
            f" {median['pss_mib']:>13.1f} {int(median['procs']):>6}"
        )


if __name__ == "__main__":
    main()
