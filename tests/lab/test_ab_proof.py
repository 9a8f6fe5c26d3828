"""apply's A/B proof on live lab hosts: the production-safe kinds through the LDA before the
switch and through LMTP after it, compared; a host where one kind differs is rolled back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator.lab import lifecycle
from migrator.lab.state import Lab, LabHost

from .conftest import LabFactory
from .hostfiles import LabCli

pytestmark = pytest.mark.lab

RECIPIENT = "alice@example.test"
KINDS = ["plain", "8bit", "smtputf8", "detail", "list"]


def _sh(lab: Lab, host: LabHost, script: str) -> str:
    done = lifecycle.run_in_host(host, lab, ["sh", "-c", script], capture=True)
    return done.stdout.decode()


def _leftovers(lab: Lab, host: LabHost) -> str:
    """Proof messages still in a mailbox or the queue, and mailboxes beyond INBOX and Lists."""
    found = "doveadm search -u {u} header x-migrator-proof '' 2>/dev/null"
    boxes = "doveadm mailbox list -u {u} | grep -vx 'INBOX' | grep -vx 'Lists'"
    script = "; ".join(f"{found.format(u=u)}; {boxes.format(u=u)}" for u in [RECIPIENT])
    return _sh(lab, host, f"{script}; postqueue -p | grep -v 'Mail queue is empty'")


def test_ab_proof_passes_on_a_plain_host(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab("virtual-lda", prefix="ab")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path)
    cli.plan(host, RECIPIENT)
    # The proof's own folder must not outlive it: Lists exists before, as on a real host.
    _sh(lab, host, f"doveadm mailbox create -u {RECIPIENT} Lists")
    report_path = tmp_path / "report.json"
    applied = cli(
        "apply", host.name, "--plan", str(cli.latest_plan(host)), "--rollback-on-fail",
        "--report-json", str(report_path),
    )  # fmt: skip
    assert applied.exit_code == 0, applied.output
    assert "A/B proof" in applied.output
    [entry] = json.loads(report_path.read_text())["hosts"]
    proof = {p["kind"]: p for p in entry["proof"]}
    assert list(proof) == KINDS
    assert all(p["same"] for k, p in proof.items() if k != "detail"), proof
    # The LDA (-d ${recipient}) looks up alice+migrator-proof and bounces it; LMTP strips
    # Dovecot's recipient_delimiter and delivers: shown, not a failure.
    assert proof["detail"]["before"]["status"] == "bounced 5.1.1"
    assert proof["detail"]["verdict"] == "improved"
    assert proof["list"]["after"]["copies"] == [f"{RECIPIENT} Lists (\\Recent)"]
    assert proof["smtputf8"]["after"]["status"] == "delivered 2.0.0"
    assert all("dovecot-lmtp" in p["after"]["via"][0] for p in proof.values())
    assert all(p["before"]["via"] in ([], ["dovecot"]) for p in proof.values())
    assert _leftovers(lab, host) == ""
