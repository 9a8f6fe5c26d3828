"""Where apply spends CPU: per step, on the lab hosts (by group of processes) and on the
control node, one host alone or many at once.

Run as root: .venv/bin/python bench/apply_cpu.py [--rounds 5] [--proof basic|ab]
             [--hosts 1] [--forks 20] [--lab NAME] [--smtputf8]

Brings up HOSTS virtual-lda lab hosts, then each round plans them all, applies the plans all
at once (FORKS at a time, threads of this process, as `apply -i` runs them; with rollback on
failure and the delivery proof) and rolls them back (unsampled). At every step's start and
end it samples, for the host the step ran on,
  host CPU: by group (hostcpu.py: ssh, commands, postfix, dovecot, other) of every process
            in the host's mount namespace,
  round trips: the host's transport's count of remote commands,
so each step and each gap between steps (the journal writes apply does between them; the
lock, drift check, runtime and journal open before the first; the "done" state and unlock
after the last) gets its wall time, host CPU and round trips. The table shows, per interval,
the median over the rounds of the mean over the hosts. Control CPU (all threads, paramiko's
included, sampling excluded) is measured for the whole apply and shown per host.

With HOSTS > 1 the hosts share the machine's cores with each other and the control node, as
in a fleet run: what a step costs there, against what it costs one idle host, is the
inflation a busy fleet adds. Without --smtputf8 the A/B proof runs with Postfix's
smtputf8_enable = no (Dovecot 2.3's LMTP bounces SMTPUTF8 mail: one message fewer).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hostcpu import GROUPS, HostCpu

from migrator.delivery.proof_mode import ProofMode
from migrator.executor.apply import ApplyOptions, Outcome, apply_plan
from migrator.executor.step_log import StepEvent
from migrator.lab import lifecycle
from migrator.lab.state import Lab
from migrator.plan.build import build_plan
from migrator.plan.document import Plan
from migrator.rules.switch import Options
from migrator.transport.ssh import SSHTransport
from migrator.transport.ssh_config import resolve_host

RECIPIENT = "alice@example.test"
Sample = dict[str, float]  # "wall", "trips", "host" and each group of GROUPS


def minus(b: Sample, a: Sample) -> Sample:
    return {key: b[key] - a[key] for key in b}


def plus(a: Sample, b: Sample) -> Sample:
    return {key: a[key] + b[key] for key in a}


class Sampler:
    """One host's marks at each of its step events; sampling's CPU is counted apart."""

    lock = threading.Lock()
    spent = 0.0  # control CPU spent sampling, all hosts

    def __init__(self, cpu: HostCpu, name: str, transport: SSHTransport) -> None:
        self.cpu, self.name, self.transport = cpu, name, transport
        self.marks: list[tuple[str, Sample]] = []

    def mark(self, label: str) -> None:
        started = time.thread_time()
        groups = self.cpu.sample(self.name)
        sample = {"wall": time.monotonic(), "trips": float(self.transport.round_trips)}
        sample |= {"host": sum(groups.values()), **groups}
        self.marks.append((label, sample))
        with Sampler.lock:
            Sampler.spent += time.thread_time() - started

    def notify(self, event: StepEvent) -> None:
        self.mark(f"{'>' if event.seconds is None else '<'} {event.action}")

    def intervals(self) -> dict[str, Sample]:
        """Each interval between two marks (a step run twice, write_file, added up)."""
        out: dict[str, Sample] = {}
        for (first, a), (second, b) in zip(self.marks, self.marks[1:], strict=False):
            label = first[2:] if first.startswith("> ") else f"gap {first[2:]} -> {second[2:]}"
            out[label] = plus(out[label], minus(b, a)) if label in out else minus(b, a)
        out["**total**"] = minus(self.marks[-1][1], self.marks[0][1])
        return out


@dataclass(frozen=True, slots=True)
class Round:
    """One round: the mean over hosts of each interval, the apply's wall and control CPU."""

    intervals: dict[str, Sample]
    order: list[str]
    wall: float
    control: float


def planned(lab: Lab, forks: int) -> Iterator[tuple[SSHTransport, Plan]]:
    """A transport and a fresh plan per host (planned FORKS at a time)."""

    def one(name: str) -> tuple[SSHTransport, Plan]:
        transport = SSHTransport(resolve_host(name, config=lab.ssh_config))
        return transport, build_plan(transport, Options(test_recipient=RECIPIENT))

    with ThreadPoolExecutor(max_workers=forks) as pool:
        yield from pool.map(one, [h.name for h in lab.hosts])


def one_round(lab: Lab, cpu: HostCpu, proof: ProofMode, forks: int) -> Round:
    """Plan every host, apply all at once (sampled), roll back; the round's figures."""
    pairs = list(planned(lab, forks))
    time.sleep(1.0)  # the plans' own processes reaped; Postfix idle

    def apply_one(pair: tuple[SSHTransport, Plan]) -> Sampler:
        transport, plan = pair
        sampler = Sampler(cpu, transport.host, transport)
        sampler.mark("> start")
        options = ApplyOptions(rollback_on_fail=True, proof=proof)
        report = apply_plan(transport, plan, options, sampler.notify)
        sampler.mark("< end")
        if report.outcome is not Outcome.APPLIED:
            raise SystemExit(f"{transport.host}: apply ended {report.outcome}: {report.error}")
        return sampler

    Sampler.spent = 0.0
    started, control = time.monotonic(), time.process_time()
    try:
        with ThreadPoolExecutor(max_workers=forks) as pool:
            samplers = list(pool.map(apply_one, pairs))
        wall = time.monotonic() - started
        control = time.process_time() - control - Sampler.spent
    finally:
        for transport, _ in pairs:
            transport.close()
    time.sleep(0.5)  # the sessions' sshd reaped into the listener
    rollback(lab, forks)
    per_host = [s.intervals() for s in samplers]
    order = list(dict.fromkeys(label for s in per_host for label in s))
    zero = dict.fromkeys(per_host[0]["**total**"], 0.0)
    means = {}
    for label in order:
        total = zero
        for intervals in per_host:
            total = plus(total, intervals.get(label, zero))
        means[label] = {key: value / len(per_host) for key, value in total.items()}
    return Round(means, order, wall, control / len(per_host))


def rollback(lab: Lab, forks: int) -> None:
    """Roll every host back with the CLI's own command (unsampled)."""
    hosts = ",".join(h.name for h in lab.hosts) + ","
    argv = [".venv/bin/migrator", "rollback", "-i", hosts, "--ssh-config", str(lab.ssh_config)]
    done = subprocess.run([*argv, "--forks", str(forks)], capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"rollback failed: {done.stdout.decode()}{done.stderr.decode()}")


def print_table(rounds: list[Round]) -> None:
    order = list(dict.fromkeys(label for r in rounds for label in r.order))
    order.remove("**total**")
    head = ["interval", "wall s", "host CPU s", *GROUPS, "round trips"]
    print(f"| {' | '.join(head)} |\n|---|{'---:|' * (len(head) - 1)}")
    for label in [*order, "**total**"]:

        def med(key: str, label: str = label) -> float:
            return statistics.median(r.intervals.get(label, {}).get(key, 0.0) for r in rounds)

        row = [label, f"{med('wall'):.3f}", f"{med('host'):.3f}"]
        row += [f"{med(g):.3f}" for g in GROUPS] + [f"{med('trips'):.0f}"]
        print(f"| {' | '.join(row)} |")
    wall = statistics.median(r.wall for r in rounds)
    control = statistics.median(r.control for r in rounds)
    print(f"apply of all hosts: {wall:.2f} s wall; control CPU {control:.3f} s a host")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--proof", default="basic", choices=[m.value for m in ProofMode])
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--lab", default="bcpu", help="the lab's name (unique on the machine)")
    parser.add_argument("--release", default="bookworm")
    parser.add_argument("--smtputf8", action="store_true", help="leave smtputf8_enable as it is")
    args = parser.parse_args()
    lab = lifecycle.bring_up("virtual-lda", args.hosts, args.lab, release=args.release)
    try:
        if args.proof == ProofMode.AB and not args.smtputf8:
            script = "postconf -e smtputf8_enable=no; postfix reload"
            script += "; touch -d '1 minute ago' /etc/postfix/main.cf"  # Postfix naps else
            for host in lab.hosts:
                lifecycle.run_in_host(host, lab, ["sh", "-c", script])
        time.sleep(1.0)
        cpu = HostCpu(lab)
        proof = ProofMode(args.proof)
        rounds = [one_round(lab, cpu, proof, args.forks) for _ in range(args.rounds)]
    finally:
        lifecycle.tear_down(args.lab)
    print(
        f"apply --proof {args.proof}, {args.hosts} host(s), forks {args.forks}, median of"
        f" {args.rounds} rounds of the mean per host, release {args.release}"
    )
    print_table(rounds)


if __name__ == "__main__":
    main()
