"""Hostile input against live hosts: a test recipient carrying SMTP commands, a host name
carrying shell code, a journal recording a bad recipient. Each is refused on one line, before
anything changes, and no message lands in any mailbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.errors import UsageError
from migrator.executor.apply import ApplyOptions, apply_plan
from migrator.lab.state import Lab, LabHost
from migrator.transport import connect

from .conftest import LabFactory
from .faults import sh
from .hostfiles import LabCli, file_states

pytestmark = pytest.mark.lab

BAD = "alice@example.test\r\nRCPT TO:<bob@example.test>"
FILES = [
    "/etc/postfix/main.cf",
    "/etc/postfix/master.cf",
    "/etc/dovecot/conf.d/10-master.conf",
    "/etc/dovecot/conf.d/20-lmtp.conf",
]


def _mail(lab: Lab, host: LabHost) -> list[str]:
    """Every message file in every mailbox of the host, and the queue's ids."""
    found = sh(lab, host, "find /var/vmail -type f -path '*/Maildir/*' ! -name 'dovecot*'")
    queue = sh(lab, host, "postqueue -j")
    return sorted(found.split()) + queue.split()


def _bob(lab: Lab, host: LabHost) -> str:
    return sh(lab, host, "find /var/vmail/example.test/bob -type f -path '*/Maildir/*' | wc -l")


def test_a_crlf_test_recipient_is_refused_with_nothing_changed(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path / "plans")
    before, mail = file_states(lab, host, FILES), _mail(lab, host)

    for command in (["plan", host.name], ["apply", host.name, "--yes"]):
        refused = cli(*command, "--test-recipient", BAD)
        assert refused.exit_code == 64, refused.output
        last = refused.output.strip().splitlines()[-1]
        assert "--test-recipient" in last and "control character" in last

    plan = cli.plan(host)  # a good plan; the bad recipient then comes from elsewhere
    transport = connect(host.name, ssh_config=lab.ssh_config)
    try:
        with pytest.raises(UsageError, match="control character"):
            apply_plan(transport, plan, ApplyOptions(test_recipient=BAD))
    finally:
        transport.close()

    inventory = tmp_path / "inventory.yml"
    escaped = BAD.replace("\r", "\\r").replace("\n", "\\n")  # YAML "..." decodes it
    inventory.write_text(
        f'all:\n  hosts:\n    {host.name}:\n      migrator_test_recipient: "{escaped}"\n'
    )
    fleet = cli("apply", "-i", str(inventory), "--saved-plans", "--yes")
    assert fleet.exit_code == 1, fleet.output
    # The line where the variable is set (the host is named on line 3).
    assert f"{inventory}:4: migrator_test_recipient: test recipient" in fleet.output

    assert file_states(lab, host, FILES) == before
    assert _mail(lab, host) == mail
    status = cli("status", host.name).output
    assert "planned (plan " in status  # no lock left, no journal opened


def test_rollback_of_a_journal_with_a_bad_recipient_refuses_then_takes_a_good_one(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path / "plans")
    before = file_states(lab, host, FILES)
    plan = cli.plan(host)
    applied = cli("apply", host.name, "--plan", str(cli.latest_plan(host)))
    assert applied.exit_code == 0, applied.output
    after = file_states(lab, host, FILES)
    bob = _bob(lab, host)
    # A journal written before recipients were checked (or edited on the host).
    state = f"/var/lib/migrator/journal/{plan.plan_id}/state.json"
    recorded = json.loads(sh(lab, host, f"cat {state}"))
    recorded["test_recipient"] = BAD
    sh(lab, host, f"cat > {state} <<'EOF'\n{json.dumps(recorded)}\nEOF")

    refused = cli("rollback", host.name)
    assert refused.exit_code == 1, refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert "journal's test recipient" in refused.output
    assert "nothing was changed: give --test-recipient ADDR" in refused.output
    assert "Traceback" not in refused.output
    assert file_states(lab, host, FILES) == after
    assert "migrated" in cli("status", host.name).output  # not "interrupted", no lock

    rolled = cli("rollback", host.name, "--test-recipient", "alice@example.test")
    assert rolled.exit_code == 0, rolled.output
    assert file_states(lab, host, FILES) == before
    assert _bob(lab, host) == bob  # the smuggled RCPT never delivered anything


def test_a_host_name_with_code_fails_that_host_only(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    planted = tmp_path / "planted"
    config = tmp_path / "ssh_config"
    config.write_text(f"Include {lab.ssh_config}\nHost a*\n  ProxyCommand /bin/echo %h\n")
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(f'[mail]\nmx1 ansible_host="a$(touch {planted})b"\n{host.name}\n')
    plans = tmp_path / "plans"
    argv = ["plan", "-i", str(inventory), "--ssh-config", str(config), "--plans-dir", str(plans)]
    result = CliRunner().invoke(main, argv)
    assert not planted.exists()
    assert result.exit_code == 1, result.output
    assert f"{inventory}:2: ansible_host: host name 'a$(touch {planted})b'" in result.output
    assert "Traceback" not in result.output
    assert list((plans / host.name).glob("*.json")), result.output  # the other was planned
    assert not (plans / "mx1").exists()
