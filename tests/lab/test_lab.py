"""The lab end to end: real hosts reached over real SSH, real mail delivered, nothing left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from migrator.errors import LabError
from migrator.lab import lifecycle, mail, sandbox
from migrator.lab.state import labs_root, load_lab

from .conftest import LabFactory, ssh_client, ssh_run
from .leftovers import lab_leftovers

pytestmark = pytest.mark.lab
_MIGRATOR = (sys.executable, "-m", "migrator.cli.main_entry")


def test_two_virtual_lda_hosts_deliver_over_the_lda_and_leave_nothing(make_lab: LabFactory) -> None:
    lab = make_lab("virtual-lda", hosts=2)
    pids: set[int] = set()
    for host in lab.hosts:
        pids |= sandbox.host_pids(lab, host.name)
        client = ssh_client(lab, host)
        rc, out = ssh_run(client, "postconf -h virtual_transport; hostname")
        assert rc == 0
        assert out.split() == ["dovecot", f"{host.name}.example.test"]

        sent = mail.send(host, ["alice@example.test"])
        [delivery] = mail.wait_delivered(lab, host, sent)
        assert (delivery.recipient, delivery.relay, delivery.status) == (
            "alice@example.test",
            "dovecot",
            "sent",
        )
        rc, out = ssh_run(
            client, f"grep -rl '{sent.message_id}' /var/vmail/example.test/alice/Maildir/new"
        )
        assert rc == 0 and out.strip(), "message not in alice's Maildir"
        client.close()
        # OpenSSH's own client, with the lab's config: strict host-key checking, key only.
        done = subprocess.run(
            ["ssh", "-F", str(lab.ssh_config), host.name, "postconf", "-n"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "virtual_transport = dovecot" in done.stdout.splitlines()
    # Each host is its own machine: its files and processes are its own.
    assert len(pids) >= 2 * 3
    assert lifecycle.tear_down(lab.name)
    assert lab_leftovers(lab.name, pids) == []
    assert not lifecycle.tear_down(lab.name), "a second down finds nothing"


def test_sieve_files_list_mail_and_aliases_expand(make_lab: LabFactory) -> None:
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    sent = mail.send(host, ["team@example.test"], list_id="<news.example.test>")
    found = mail.wait_delivered(lab, host, sent)
    assert sorted(d.recipient for d in found) == ["alice@example.test", "bob@example.test"]
    assert {d.original for d in found} == {"team@example.test"}
    grep = f"grep -l '{sent.message_id}' /var/vmail/example.test/*/Maildir/.*/new/* || true"
    done = lifecycle.run_in_host(host, lab, ["sh", "-c", grep], capture=True)
    paths = sorted(done.stdout.decode().split())
    assert [p.split("/")[4] for p in paths] == ["alice", "bob"]
    assert all("/Maildir/.Lists/new/" in path for path in paths), paths


def test_system_lda_delivers_through_mailbox_command(make_lab: LabFactory) -> None:
    lab = make_lab("system-lda")
    host = lab.hosts[0]
    sent = mail.send(host, ["bob@example.test"])
    [delivery] = mail.wait_delivered(lab, host, sent)
    assert (delivery.relay, delivery.status) == ("local", "sent")
    done = lifecycle.run_in_host(
        host, lab, ["grep", "-rl", sent.message_id, "/home/bob/Maildir/new"], capture=True
    )
    assert done.returncode == 0
    owner = lifecycle.run_in_host(
        host, lab, ["stat", "-c", "%U", done.stdout.decode().split()[0]], capture=True
    )
    assert owner.stdout.decode().strip() == "bob"


def test_lmtp_profile_delivers_over_the_lmtp_socket(make_lab: LabFactory) -> None:
    lab = make_lab("lmtp")
    host = lab.hosts[0]
    sent = mail.send(host, ["alice@example.test"], list_id="<l.example.test>")
    [delivery] = mail.wait_delivered(lab, host, sent)
    assert delivery.status == "sent"
    assert "private/dovecot-lmtp" in delivery.relay


def test_lab_name_in_use_is_refused_and_nothing_changes(make_lab: LabFactory) -> None:
    lab = make_lab("virtual-lda")
    before = load_lab(lab.name)
    with pytest.raises(LabError, match="in use"):
        lifecycle.bring_up("virtual-lda", 1, lab.name)
    assert load_lab(lab.name) == before
    assert mail.wait_delivered(lab, lab.hosts[0], mail.send(lab.hosts[0], ["bob@example.test"]))


def test_a_killed_lab_up_is_cleaned_by_the_next_up_and_down() -> None:
    name = f"k{os.getpid() % 10000}"
    state = labs_root() / name / "lab.json"
    driver = subprocess.Popen(
        [*_MIGRATOR, "lab", "up", "virtual-lda", "--hosts", "6", "--name", name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(0.2)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        stale = load_lab(name)
        assert stale is not None and stale.status == "starting"
        assert lifecycle.is_stale(stale)
        rebuilt = lifecycle.bring_up("virtual-lda", 1, name)
        assert rebuilt.status == "up"
        pids = sandbox.host_pids(rebuilt, rebuilt.hosts[0].name)
    finally:
        driver.kill()
        lifecycle.tear_down(name)
    assert lab_leftovers(name, pids) == []
