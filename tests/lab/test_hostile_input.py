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


# Files planted on the host between two plans: what each does to `plan` and `apply`. Each
# script runs in the host as root; its undo puts the host back for the next case.
PLANTED = {
    "a NUL byte in main.cf": (
        "cp -p /etc/postfix/main.cf /root/main.cf && printf '# a\\000b\\n' >> /etc/postfix/main.cf",
        "cp -p /root/main.cf /etc/postfix/main.cf",
        "/etc/postfix/main.cf:{lines}: holds a NUL byte",
    ),
    "a 2 MB file in conf.d": (
        "yes '# a log pasted here by mistake, line after line' | head -c 2000000"
        " > /etc/dovecot/conf.d/99-pasted.conf",
        "rm /etc/dovecot/conf.d/99-pasted.conf",
        "/etc/dovecot/conf.d/99-pasted.conf: 2000000 bytes: more than the 1048576 bytes",
    ),
    "a FIFO for main.cf": (
        "mv /etc/postfix/main.cf /root/main.cf && mkfifo /etc/postfix/main.cf",
        "rm /etc/postfix/main.cf && mv /root/main.cf /etc/postfix/main.cf",
        "/etc/postfix/main.cf: a FIFO where a config file is read",
    ),
    "a FIFO in conf.d": (
        "mkfifo /etc/dovecot/conf.d/99-pipe.conf",
        "rm /etc/dovecot/conf.d/99-pipe.conf",
        "/etc/dovecot/conf.d/99-pipe.conf: a FIFO where a config file is read",
    ),
    "a file name forging a fact": (
        "touch \"/etc/dovecot/conf.d/x$(printf '\\n==migrator:lmtp_binary==')\"",
        "rm /etc/dovecot/conf.d/x?==migrator:lmtp_binary==",
        "fact script output has a forged marker line '==migrator:lmtp_binary=='",
    ),
}


@pytest.mark.parametrize("case", PLANTED.keys())
def test_hostile_files_on_the_host_are_refused_in_one_line_with_nothing_changed(
    make_lab: LabFactory, tmp_path: Path, case: str
) -> None:
    plant, undo, expected = PLANTED[case]
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path / "plans")
    lines = sh(lab, host, "wc -l < /etc/postfix/main.cf").strip()
    mail = _mail(lab, host)  # before: postqueue would wait on a FIFO main.cf too
    sh(lab, host, plant)
    before = file_states(lab, host, FILES)
    for command in (["plan", host.name], ["apply", host.name, "--yes"]):
        refused = cli(*command, "--test-recipient", "alice@example.test")
        assert refused.exit_code == 1, refused.output
        assert refused.output.count("\n") == 1, refused.output
        assert f"{host.name}: {expected.format(lines=int(lines) + 1)}" in refused.output
    assert not (tmp_path / "plans" / host.name).exists() or not list(
        (tmp_path / "plans" / host.name).glob("*.json")
    )
    assert file_states(lab, host, FILES) == before
    assert "No such file" in sh(lab, host, "ls /var/lib/migrator 2>&1 || true")
    sh(lab, host, undo)  # the same host, the plant gone: it plans again
    assert _mail(lab, host) == mail
    assert cli.plan(host).has_changes


def test_text_on_the_host_reaches_the_terminal_escaped(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path / "plans")
    sh(
        lab,
        host,
        "printf '# \\033[1A\\033[2Khidden \\342\\200\\256 \\377\\n' >> /etc/postfix/main.cf",
    )
    planned = cli("plan", host.name, "--test-recipient", "alice@example.test")
    assert planned.exit_code == 0, planned.output
    assert r" # \x1b[1A\x1b[2Khidden \u202e \xff" in planned.output
    assert "\x1b" not in planned.output and "\u202e" not in planned.output


@pytest.mark.parametrize(
    "path", ["/etc/dovecot/conf.d/20-lmtp.conf", "/etc/postfix/master.cf"], ids=["conf.d", "master"]
)
def test_a_config_replaced_by_a_fifo_after_the_plan_is_refused_at_once(
    make_lab: LabFactory, tmp_path: Path, path: str
) -> None:
    """Apply asks the host's own postconf and doveconf where the configs live: with a FIFO
    put there after planning they waited 60 s, then 'sh: did not finish', and stayed."""
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path / "plans")
    cli.plan(host)
    sh(lab, host, f"mv {path} /root/saved && mkfifo {path}")
    before = file_states(lab, host, FILES)
    applied = cli("apply", host.name, "--plan", str(cli.latest_plan(host)), "--rollback-on-fail")
    assert applied.exit_code == 1, applied.output
    assert applied.output == (
        f"migrator: error: {host.name}: {path}: a FIFO where a config file is read: postconf "
        "and doveconf would wait on it forever; nothing was read\n"
    )
    assert file_states(lab, host, FILES) == before
    assert "No such file" in sh(lab, host, "ls /var/lib/migrator 2>&1 || true")
    sh(lab, host, f"rm {path} && mv /root/saved {path}")
    assert cli("apply", host.name, "--plan", str(cli.latest_plan(host))).exit_code == 0
