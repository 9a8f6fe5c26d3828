"""plan -> apply --rollback-on-fail -> LMTP delivers -> rollback -> byte-identical, LDA delivers."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.executor.services import Manager, read_runtime
from migrator.lab import lifecycle, mail
from migrator.lab.state import Lab, LabHost
from migrator.transport import connect

from .conftest import LabFactory
from .hostfiles import LabCli, file_states

pytestmark = pytest.mark.lab


def _in_new(lab: Lab, host: LabHost, message_id: str, pattern: str) -> list[str]:
    grep = f"grep -l '{message_id}' {pattern} 2>/dev/null || true"
    done = lifecycle.run_in_host(host, lab, ["sh", "-c", grep], capture=True)
    return sorted(done.stdout.decode().split())


VIRTUAL = (
    "virtual-lda",
    "alice@example.test",
    "dovecot",
    "/var/vmail/example.test/*/Maildir/.Lists/new/*",
)
SYSTEM = ("system-lda", "bob@example.test", "local", "/home/*/Maildir/.Lists/new/*")


@pytest.mark.parametrize(
    ("release", "profile", "recipient", "lda_relay", "list_folders"),
    [
        ("bookworm", *VIRTUAL),
        ("bookworm", *SYSTEM),
        ("trixie", *VIRTUAL),  # Dovecot 2.4.1, Postfix 3.10
        ("trixie", *SYSTEM),
        ("bullseye", *VIRTUAL),  # Dovecot 2.3.13, Postfix 3.5
    ],
)
def test_switch_to_lmtp_and_back(
    make_lab: LabFactory,
    tmp_path: Path,
    release: str,
    profile: str,
    recipient: str,
    lda_relay: str,
    list_folders: str,
) -> None:
    lab = make_lab(profile, release=release)
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path)
    plan = cli.plan(host, recipient)
    paths = [f.path for f in plan.files]
    before = file_states(lab, host, paths)
    assert [before[f.path][0] for f in plan.files] == [f.sha256_before for f in plan.files]

    applied = cli("apply", host.name, "--plan", str(cli.latest_plan(host)), "--rollback-on-fail")
    assert applied.exit_code == 0, applied.output
    assert "applied plan" in applied.output
    after = file_states(lab, host, paths)
    assert {p: s[0] for p, s in after.items() if s} == {f.path: f.sha256_after for f in plan.files}
    assert {p: s[1:] for p, s in after.items() if s} == {p: s[1:] for p, s in before.items() if s}

    # Real mail now goes over LMTP, to an alias, and Sieve still files list mail.
    sent = mail.send(host, ["team@example.test"], list_id="<news.example.test>")
    found = mail.wait_delivered(lab, host, sent)
    # (local(8) aliases expand to bare names, which Postfix qualifies with $myorigin)
    assert sorted(d.recipient.split("@")[0] for d in found) == ["alice", "bob"]
    assert all(d.status == "sent" and "private/dovecot-lmtp" in d.relay for d in found), found
    assert len(_in_new(lab, host, sent.message_id, list_folders)) == 2

    again = cli("plan", host.name, "--test-recipient", recipient, "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "no changes" in again.output
    assert "migrated" in cli("status", host.name).output

    rolled = cli("rollback", host.name)
    assert rolled.exit_code == 0, rolled.output
    assert file_states(lab, host, paths) == before
    sent = mail.send(host, [recipient])
    [delivery] = mail.wait_delivered(lab, host, sent)
    assert (delivery.relay, delivery.status) == (lda_relay, "sent")
    assert "rolled back" in cli("status", host.name).output
    assert "already rolled back" in cli("rollback", host.name).output


def test_switch_over_loopback_tcp(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path)
    planned = cli(
        "plan", host.name, "--test-recipient", "alice@example.test", "--lmtp", "inet:127.0.0.1:24"
    )
    assert planned.exit_code == 0, planned.output
    plan_file = cli.latest_plan(host)
    before = file_states(lab, host, ["/etc/postfix/main.cf", "/etc/dovecot/conf.d/10-master.conf"])
    applied = cli("apply", host.name, "--plan", str(plan_file), "--rollback-on-fail")
    assert applied.exit_code == 0, applied.output
    sent = mail.send(host, ["bob@example.test"])
    [delivery] = mail.wait_delivered(lab, host, sent)
    assert (delivery.relay, delivery.status) == ("127.0.0.1[127.0.0.1]:24", "sent")
    assert cli("rollback", host.name).exit_code == 0
    assert file_states(lab, host, list(before)) == before


def test_host_without_init_scripts_reloads_directly(make_lab: LabFactory, tmp_path: Path) -> None:
    # The lab hosts have Debian's SysV scripts (reloads go through `service`); without them
    # migrator falls back to `doveadm reload` / `postfix reload`.
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    for daemon in ("dovecot", "postfix"):
        lifecycle.run_in_host(host, lab, ["mount", "--bind", "/dev/null", f"/etc/init.d/{daemon}"])
    transport = connect(host.name, ssh_config=lab.ssh_config)
    try:
        runtime = read_runtime(transport)
    finally:
        transport.close()
    assert (runtime.dovecot, runtime.postfix) == (Manager.DIRECT, Manager.DIRECT)
    cli = LabCli(lab, tmp_path)
    cli.plan(host)
    applied = cli("apply", host.name, "--plan", str(cli.latest_plan(host)), "--rollback-on-fail")
    assert applied.exit_code == 0, applied.output
    assert cli("rollback", host.name).exit_code == 0


def test_a_host_without_any_mail_log(make_lab: LabFactory, tmp_path: Path) -> None:
    """No maillog_file, no syslog file, no journal: apply and rollback prove delivery from
    the delivered message's own trace headers (and the queue), and say so."""
    lab = make_lab("virtual-lda-nolog", prefix="nl")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path)
    plan = cli.plan(host, "alice@example.test")
    paths = [f.path for f in plan.files]
    before = file_states(lab, host, paths)
    applied = cli("apply", host.name, "--plan", str(cli.latest_plan(host)), "--rollback-on-fail")
    assert applied.exit_code == 0, applied.output
    assert "applied plan" in applied.output
    no_log = lifecycle.run_in_host(
        host, lab, ["sh", "-c", "postconf -h maillog_file; ls /var/log"], capture=True
    )
    assert "postfix.log" not in no_log.stdout.decode().split("\n")[0]
    assert "mail.log" not in no_log.stdout.decode()
    rolled = cli("rollback", host.name)
    assert rolled.exit_code == 0, rolled.output
    assert file_states(lab, host, paths) == before
