"""Where one host's apply spends CPU: per step, on the lab host and on the control node.

Run as root: .venv/bin/python bench/apply_cpu.py [--rounds 5] [--proof basic|ab] [--lab NAME]

Brings up one virtual-lda lab host, then each round plans it, applies the plan (with
rollback on failure and the delivery proof) and rolls it back. At every step's start and end
it samples
  host CPU: utime+stime+cutime+cstime of every process in the host's mount namespace (sshd,
            its sessions and their shells, Postfix's and Dovecot's masters and daemons: an
            exited child's time is reaped into its parent's cutime/cstime, so the sum keeps it),
  control CPU: this process's CPU (all threads, paramiko's included), sampling excluded,
  round trips: the transport's count of remote commands,
so each step and each gap between steps (the journal writes apply does between them; the
lock, drift check, runtime and journal open before the first; the "done" state and unlock
after the last) gets its wall time, host CPU, control CPU and round trips. The table shows
the medians over the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass

from migrator.delivery.proof_mode import ProofMode
from migrator.executor.apply import ApplyOptions, Outcome, apply_plan
from migrator.executor.step_log import StepEvent
from migrator.lab import lifecycle, sandbox
from migrator.lab.state import Lab
from migrator.plan.build import build_plan
from migrator.rules.switch import Options
from migrator.transport.ssh import SSHTransport
from migrator.transport.ssh_config import resolve_host

TICK = os.sysconf("SC_CLK_TCK")
RECIPIENT = "alice@example.test"


def host_cpu(lab: Lab, name: str) -> float:
    """CPU seconds used by the host's live processes and the children they reaped."""
    total = 0
    for pid in sandbox.host_pids(lab, name):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile: its time is in its parent's cutime/cstime
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / TICK


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float
    host: float
    control: float
    trips: int

    def minus(self, other: Sample) -> Sample:
        return Sample(*(a - b for a, b in zip(self.values, other.values, strict=True)))

    def plus(self, other: Sample) -> Sample:
        return Sample(*(a + b for a, b in zip(self.values, other.values, strict=True)))

    @property
    def values(self) -> tuple[float, float, float, int]:
        return (self.wall, self.host, self.control, self.trips)


class Sampler:
    """Samples at each step event; the sampling's own CPU is left out of the control's."""

    def __init__(self, lab: Lab, transport: SSHTransport) -> None:
        self.lab, self.transport = lab, transport
        self.name = lab.hosts[0].name
        self.spent = 0.0  # control CPU spent sampling
        self.marks: list[tuple[str, Sample]] = []

    def mark(self, label: str) -> None:
        started = time.process_time()
        host = host_cpu(self.lab, self.name)
        self.spent += time.process_time() - started
        control = time.process_time() - self.spent
        sample = Sample(time.monotonic(), host, control, self.transport.round_trips)
        self.marks.append((label, sample))

    def notify(self, event: StepEvent) -> None:
        if event.seconds is None:
            self.mark(f"> {event.action}")
        else:
            self.mark(f"< {event.action}")

    def intervals(self) -> list[tuple[str, Sample]]:
        """(label, difference) for each interval between two marks."""
        out = []
        for (first, a), (second, b) in zip(self.marks, self.marks[1:], strict=False):
            label = first[2:] if first.startswith("> ") else f"gap {first[2:]} -> {second[2:]}"
            out.append((label, b.minus(a)))
        return out


def one_round(lab: Lab, proof: ProofMode) -> tuple[list[tuple[str, Sample]], Sample]:
    """Plan, apply (sampled), roll back; return the apply's intervals and its total."""
    transport = SSHTransport(resolve_host(lab.hosts[0].name, config=lab.ssh_config))
    try:
        plan = build_plan(transport, Options(test_recipient=RECIPIENT))
        time.sleep(1.0)  # the plan's own processes reaped; Postfix idle
        sampler = Sampler(lab, transport)
        sampler.mark("> start")
        options = ApplyOptions(rollback_on_fail=True, proof=proof)
        report = apply_plan(transport, plan, options, sampler.notify)
        sampler.mark("< end")
        if report.outcome is not Outcome.APPLIED:
            raise SystemExit(f"apply ended {report.outcome}: {report.error}")
        first, last = sampler.marks[0][1], sampler.marks[-1][1]
        total = last.minus(first)
        intervals = sampler.intervals()
    finally:
        transport.close()
    time.sleep(0.5)  # the session's sshd is reaped into the listener
    rollback(lab)
    return intervals, total


def rollback(lab: Lab) -> None:
    """Roll the host back with the CLI's own command (unsampled)."""
    argv = [".venv/bin/migrator", "rollback", lab.hosts[0].name, "--ssh-config"]
    argv += [str(lab.ssh_config)]
    done = subprocess.run(argv, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"rollback failed: {done.stdout.decode()}{done.stderr.decode()}")


def print_table(rounds: list[tuple[list[tuple[str, Sample]], Sample]]) -> None:
    per: dict[str, list[Sample]] = defaultdict(list)
    order: list[str] = []
    for intervals, _ in rounds:
        seen: dict[str, Sample] = {}
        for label, s in intervals:
            if label in seen:  # a step that runs more than once (write_file): added up
                s = seen[label].plus(s)
            seen[label] = s
            if label not in order:
                order.append(label)
        for label, s in seen.items():
            per[label].append(s)

    def med(samples: list[Sample], attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in samples)

    print("| interval | wall s | host CPU s | control CPU s | round trips |")
    print("|---|---:|---:|---:|---:|")
    for label in order:
        s = per[label]
        row = [label, f"{med(s, 'wall'):.3f}", f"{med(s, 'host'):.2f}"]
        row += [f"{med(s, 'control'):.3f}", f"{med(s, 'trips'):.0f}"]
        print(f"| {' | '.join(row)} |")
    totals = [t for _, t in rounds]
    row = ["**total**", f"{med(totals, 'wall'):.3f}", f"{med(totals, 'host'):.2f}"]
    row += [f"{med(totals, 'control'):.3f}", f"{med(totals, 'trips'):.0f}"]
    print(f"| {' | '.join(row)} |")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--proof", default="basic", choices=[m.value for m in ProofMode])
    parser.add_argument("--lab", default="bcpu", help="the lab's name (unique on the machine)")
    parser.add_argument("--release", default="bookworm")
    args = parser.parse_args()
    lab = lifecycle.bring_up("virtual-lda", 1, args.lab, release=args.release)
    try:
        if args.proof == ProofMode.AB:
            # Dovecot 2.3's LMTP offers no SMTPUTF8: with it on, the proof rightly fails.
            script = "postconf -e smtputf8_enable=no; postfix reload"
            lifecycle.run_in_host(lab.hosts[0], lab, ["sh", "-c", script])
        time.sleep(1.0)
        rounds = [one_round(lab, ProofMode(args.proof)) for _ in range(args.rounds)]
    finally:
        lifecycle.tear_down(args.lab)
    print(f"apply --proof {args.proof}, median of {args.rounds} rounds, release {args.release}")
    print_table(rounds)


if __name__ == "__main__":
    main()
