"""Shared by the benchmarks: how many SSH round trips one host's apply takes."""

from __future__ import annotations

from pathlib import Path

from migrator.delivery.proof_mode import ProofMode
from migrator.executor.apply import ApplyOptions, Outcome, apply_plan
from migrator.plan.build import build_plan
from migrator.rules.switch import Options
from migrator.transport.ssh import SSHTransport
from migrator.transport.ssh_config import resolve_host


def apply_round_trips(host: str, ssh_config: Path, recipient: str, proof: str | None = None) -> int:
    """Plan HOST, then apply its plan with rollback on failure and the test delivery, and
    count the commands (round trips) the apply alone sent. The host is left migrated.

    PROOF is apply's proof mode (None: ApplyOptions' default). Raises RuntimeError when the
    apply does not end applied."""
    transport = SSHTransport(resolve_host(host, config=ssh_config))
    try:
        plan = build_plan(transport, Options(test_recipient=recipient))
        before = transport.round_trips
        options = ApplyOptions(rollback_on_fail=True)
        if proof:
            options = ApplyOptions(rollback_on_fail=True, proof=ProofMode(proof))
        report = apply_plan(transport, plan, options)
        trips = transport.round_trips - before
    finally:
        transport.close()
    if report.outcome is not Outcome.APPLIED:
        raise RuntimeError(f"{host}: apply ended {report.outcome}: {report.error}")
    return trips
