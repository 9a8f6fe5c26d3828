"""Benchmark apply (with its A/B proof, or --proof basic) and rollback on one lab host, split
by step; the A/B proof's own time (proof_before + test_delivery) on a line of its own.

Run as root: .venv/bin/python bench/apply.py [--rounds N] [--profile virtual-lda] [--proof ab]
Brings up its own lab (`bencha`) and tears it down at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

from migrator.delivery.proof_mode import DEFAULT_PROOF, ProofMode
from migrator.executor.apply import ApplyOptions, Outcome, apply_plan
from migrator.executor.journal import Journal, peek
from migrator.executor.rollback import lda_relay_matcher, rollback_host
from migrator.executor.services import read_runtime
from migrator.executor.step_log import StepTiming
from migrator.lab import lifecycle
from migrator.plan.build import build_plan
from migrator.rules.switch import Options
from migrator.transport import connect
from migrator.transport.base import Transport

LAB = "bencha"


PROOF_STEPS = ("proof_before", "test_delivery")


def one_round(
    transport: Transport, proof: ProofMode
) -> tuple[float, list[StepTiming], float, list[StepTiming]]:
    plan = build_plan(transport, Options(test_recipient="alice@example.test"))
    started = time.monotonic()
    report = apply_plan(transport, plan, ApplyOptions(rollback_on_fail=True, proof=proof))
    apply_seconds = time.monotonic() - started
    assert report.outcome is Outcome.APPLIED, report
    started = time.monotonic()
    _, current = peek(transport)
    journal = Journal(transport, current)
    state = journal.read_state()
    assert state is not None
    journal.lock("bench")
    rolled = rollback_host(
        transport, journal, state, read_runtime(transport), lda_relay_matcher(state)
    )
    rollback_seconds = time.monotonic() - started
    assert rolled.ok, rolled
    return apply_seconds, list(report.steps), rollback_seconds, list(rolled.steps)


def _table(title: str, totals: list[float], rounds: list[list[StepTiming]]) -> None:
    per_step: dict[str, list[float]] = defaultdict(list)
    names: dict[str, str] = {}
    for steps in rounds:
        seen: dict[str, float] = defaultdict(float)
        for step in steps:
            if step.skipped:
                continue  # proof_before under --proof basic: it did not run
            key = f"{step.action} {step.description.split(' (')[0]}"
            seen[key] += step.seconds
            names[key] = step.description.split(" (")[0]
        for key, seconds in seen.items():
            per_step[key].append(seconds)
    print(f"\n{title}: {statistics.median(totals):.2f} s (median of {len(totals)})")
    for key, values in per_step.items():
        print(f"  {statistics.median(values):6.3f} s  {names[key]}")
    proof = [sum(s.seconds for s in steps if s.action in PROOF_STEPS) for steps in rounds]
    print(f"  {statistics.median(proof):6.3f} s  of it the proof (proof_before + test_delivery)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", default="virtual-lda")
    parser.add_argument(
        "--proof", default=DEFAULT_PROOF.value, choices=[m.value for m in ProofMode]
    )
    args = parser.parse_args()
    lab = lifecycle.bring_up(args.profile, 1, LAB)
    try:
        transport = connect(lab.hosts[0].name, ssh_config=lab.ssh_config)
        # SMTPUTF8 stays on: Dovecot 2.3's LMTP bounces it, as the plan announces (not a failure).
        results = [one_round(transport, ProofMode(args.proof)) for _ in range(args.rounds)]
        transport.close()
    finally:
        lifecycle.tear_down(LAB)
    _table(f"apply with --proof {args.proof}", [r[0] for r in results], [r[1] for r in results])
    _table("rollback with LDA proof", [r[2] for r in results], [r[3] for r in results])


if __name__ == "__main__":
    main()
