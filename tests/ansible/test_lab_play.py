"""migrator.mail.lmtp on lab hosts under ansible-playbook: check and diff change nothing, a
canary-first run migrates and proves delivery, a host prepared to fail is rolled back and
stops the play as max_fail_percentage says, a second run changes nothing, lmtp_info reports,
and state rolled_back restores every byte and the LDA delivers again."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from tests.lab.conftest import LabFactory
from tests.lab.faults import sh
from tests.lab.hostfiles import file_states

from .conftest import play, readme_playbook

pytestmark = pytest.mark.lab

RECIPIENT = "alice@example.test"
READ_ONLY_POSTFIX = (
    "mount --bind /etc/postfix /etc/postfix && mount -o remount,ro,bind /etc/postfix"
)


def lmtp_task(plans_dir: Path | None, state: str = "migrated") -> str:
    """A task named lmtp; a rollback takes no plans_dir (it fails the task: ignored)."""
    saved = f"        plans_dir: {plans_dir}\n" if plans_dir else ""
    return (
        "    - name: lmtp\n      migrator.mail.lmtp:\n"
        f"        state: {state}\n        test_recipient: {RECIPIENT}\n{saved}"
    )


def test_check_run_fail_rerun_info_rollback(
    make_lab: LabFactory, ansible_factory: Any, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda", 3, prefix="an")
    canary, failing, unstarted = (host.name for host in lab.hosts)
    hosts = {host.name: host for host in lab.hosts}
    ansible = ansible_factory(lab.ssh_config)
    recipient = {"migrator_test_recipient": RECIPIENT}
    inventory = ansible.inventory({name: recipient for name in (canary, failing, unstarted)})
    task = lmtp_task(tmp_path / "plans")

    # The README's playbook, as an admin copies it, in check and diff mode.
    checked = ansible.play(inventory, readme_playbook(), "--check", "--diff")
    assert checked.rc == 0, checked.output
    checked_task = "Switch to LMTP, prove delivery, roll back on any failure"
    diffs = {name: checked.result(name, checked_task)["diff"] for name in hosts}
    paths = sorted({d["after_header"] for diff in diffs.values() for d in diff})
    assert "/etc/postfix/main.cf" in paths
    # Ansible's own diff display shows the edit.
    assert "+virtual_transport = lmtp:unix:private/dovecot-lmtp" in checked.output
    assert len(list((ansible.work / "plans").glob("*/*.json"))) == 3
    for name in hosts:
        assert checked.result(name, checked_task)["changed"] is True
        assert all(d["before"] != d["after"] for d in diffs[name])
        status = checked.result(name, "ansible.builtin.debug")["msg"]
        assert status.startswith(f"{name}: planned (plan ") and "not applied" in status
    before = {name: file_states(lab, host, paths) for name, host in hosts.items()}
    assert before == {name: file_states(lab, host, paths) for name, host in hosts.items()}

    sh(lab, hosts[failing], READ_ONLY_POSTFIX)
    ran = ansible.play(inventory, play(task, serial="[1, 1]", max_fail="0"))
    assert ran.rc == 2, ran.output
    applied = ran.result(canary)
    assert (applied["changed"], applied["outcome"]) == (True, "applied")
    # The A/B proof, the collection's default as apply's: each kind before (LDA) and after.
    kinds = {kind["kind"]: kind for kind in applied["ab_proof"]}
    assert applied["proof"] is None and applied["plan_id"] and kinds["plain"]["same"], kinds
    assert kinds["plain"]["after"]["via"][0].endswith("dovecot-lmtp]"), kinds["plain"]
    assert {k["verdict"] for k in kinds.values()} <= {"same", "announced", "improved"}, kinds
    assert [s["action"] for s in applied["steps"]][-1] == "test_delivery"
    assert all(s["ok"] and s["seconds"] >= 0 for s in applied["steps"])
    failed = ran.result(failing)
    assert failed["_status"] == "failed" and failed["rolled_back"] is True
    assert "rolled back" in failed["msg"] and "\n" not in failed["msg"]
    assert failed["rollback"]["proof"] is not None
    assert unstarted not in ran.hosts(), "max_fail_percentage 0 stops after the failed batch"
    for name in (failing, unstarted):
        assert file_states(lab, hosts[name], paths) == before[name]

    again = ansible.play(inventory, play(task), "-l", canary)
    assert again.rc == 0 and again.result(canary)["changed"] is False, again.output
    assert again.result(canary)["outcome"] == "no changes"

    info = ansible.play(inventory, play("    - name: info\n      migrator.mail.lmtp_info:\n"))
    states = {name: info.result(name, "info")["state"] for name in hosts}
    assert states == {canary: "migrated", failing: "rolled back", unstarted: "clean"}
    assert all(info.result(name, "info")["changed"] is False for name in hosts)

    back = ansible.play(inventory, play(lmtp_task(None, "rolled_back")))
    assert back.rc == 0, back.output
    restored = back.result(canary)
    assert restored["changed"] is True and restored["outcome"] == "rolled back"
    assert restored["proof"]["relay"] == "dovecot" and restored["restored"]
    assert back.result(failing)["changed"] is False
    assert back.result(unstarted)["outcome"] == "nothing to roll back"
    assert file_states(lab, hosts[canary], paths) == before[canary]

    # proof: false sends no test message; the LMTP probe still runs before Postfix switches.
    quiet = lmtp_task(tmp_path / "plans") + "        proof: false\n"
    unproven = ansible.play(inventory, play(quiet), "-l", unstarted).result(unstarted)
    assert (unproven["outcome"], unproven["proof"]) == ("applied", None), unproven
    actions = [s["action"] for s in unproven["steps"]]
    assert "probe_lmtp" in actions and "test_delivery" not in actions


def test_become_and_ansible_runner(
    make_lab: LabFactory, ansible_factory: Any, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda", 1, prefix="ab")
    host = lab.hosts[0]
    ansible = ansible_factory(lab.ssh_config)
    inventory = ansible.inventory({host.name: {"ansible_user": "deploy"}})
    keys = {name: tmp_path / f"{name}.key" for name in ("ours", "other")}
    for path in keys.values():
        path.write_bytes(os.urandom(32))
        path.chmod(0o600)
    signing = f"        plan_key: {keys['ours']}\n"
    book = play(lmtp_task(tmp_path / "plans") + signing, become=True)

    checked = ansible.play(inventory, book, "--check", "--diff")
    assert checked.rc == 0, checked.output
    through_runner = ansible.runner(inventory, book, "--check", "--diff")
    assert (through_runner["rc"], through_runner["status"]) == (0, "successful")
    [event] = [r for r in through_runner["results"] if r["task"] == "lmtp"]
    expected = checked.result(host.name)
    assert event["event"] == "runner_on_ok"
    for key in ("changed", "outcome", "diff", "rolled_back"):
        assert event["res"][key] == expected[key], key
    paths = [d["after_header"] for d in expected["diff"]]
    before = file_states(lab, host, paths)

    # The plan the check saved and signed, reviewed, is what gets applied: only with its key.
    reviewed = tmp_path / "plans" / host.name / f"{expected['plan_id']}.json"
    apply_task = (
        "    - name: lmtp\n      migrator.mail.lmtp:\n        require_signature: true\n"
        f"        plan: {reviewed}\n        test_recipient: {RECIPIENT}\n"
        "        proof_mode: basic\n"
    )
    wrong = ansible.play(inventory, play(apply_task + signing.replace("ours", "other")))
    refused = wrong.result(host.name)
    assert refused["_status"] == "failed" and "not with the given key" in refused["msg"]
    assert file_states(lab, host, paths) == before
    apply_book = play(apply_task + signing, become=True)
    applied = ansible.runner(inventory, apply_book)
    assert applied["rc"] == 0, applied
    [event] = [r for r in applied["results"] if r["task"] == "lmtp"]
    assert (event["event"], event["res"]["outcome"], event["res"]["changed"]) == (
        "runner_on_ok",
        "applied",
        True,
    )
    # proof_mode: basic: one test message; proof_before is skipped, and says so.
    assert event["res"]["proof"]["relay"].endswith("dovecot-lmtp]")
    assert event["res"]["ab_proof"] == []
    first = event["res"]["steps"][0]
    assert (first["action"], first["skipped"][:11]) == ("proof_before", "proof basic")
    assert event["res"]["plan_id"] == expected["plan_id"]
    # As many round trips as migrator's own SSH transport takes for this apply (42 + 1 read
    # of the reviewed plan's files), not one per file or per step.
    assert event["res"]["round_trips"] <= 45, event["res"]["round_trips"]
    after = file_states(lab, host, paths)
    # become wrote as root: owner, group and mode kept, content changed.
    assert all(after[p][1:] == before[p][1:] and after[p][0] != before[p][0] for p in paths)  # type: ignore[index]

    again = ansible.runner(inventory, book)
    [event] = [r for r in again["results"] if r["task"] == "lmtp"]
    assert (event["res"]["changed"], event["res"]["outcome"]) == (False, "no changes")
    # The reviewed plan again: already on the host, no change, not a drift error.
    replayed = ansible.play(inventory, apply_book).result(host.name)
    assert (replayed["changed"], replayed["outcome"]) == (False, "already applied"), replayed
    tasks = "    - name: info\n      migrator.mail.lmtp_info:\n"
    tasks += "    - name: whoami\n      ansible.builtin.raw: id -un\n      become: false\n"
    info = ansible.play(inventory, play(tasks, become=True))
    assert info.result(host.name, "info")["state"] == "migrated", info.output
    assert info.result(host.name, "whoami")["stdout"].strip() == "deploy"


def test_transport_is_byte_exact_with_become(make_lab: LabFactory, ansible_factory: Any) -> None:
    lab = make_lab("virtual-lda", 1, prefix="at")
    host = lab.hosts[0]
    ansible = ansible_factory(lab.ssh_config)
    inventory = ansible.inventory({host.name: {"ansible_user": "deploy"}})
    # Every byte value, CR LF, a line like become's marker, no final newline.
    content = bytes(range(256)) + b"\r\n\nBECOME-SUCCESS-x\n\xff\xfe"
    encoded = base64.b64encode(content).decode()
    tasks = "".join(
        f"    - name: {name}\n      transport_check:\n        path: /etc/postfix/migrator-{name}\n"
        f"        content_b64: {encoded}\n        inline: {inline}\n"
        for name, inline in (("inline", "true"), ("copied", "false"))
    )
    ran = ansible.play(inventory, play(tasks, become=True))
    assert ran.rc == 0, ran.output
    for name in ("inline", "copied"):
        result = ran.result(host.name, name)
        assert base64.b64decode(result["read_b64"]) == content, name
        assert base64.b64decode(result["cat_b64"]) == content, name
        assert (result["owner"], result["group"], result["mode"]) == ("root", "mail", 0o640)
        assert sorted(result["missing"]) == ["/etc", f"/etc/postfix/migrator-{name}.missing"]
        assert "did not finish within 1 s" in result["timed_out"]
        assert result["lease_alive"] and result["released"], "the lock outlives its command"
        assert result["refused_stale_write"], "compare-and-swap refused the write"
    # One round trip per operation, as migrator's SSH transport; copying stdin costs one
    # more per copy, and one for Ansible's remote temp directory.
    assert ran.result(host.name, "inline")["round_trips"] == 4
    assert ran.result(host.name, "copied")["round_trips"] == 6
