"""After the switch, under ansible-playbook on lab hosts: migrator.mail.lmtp state=finalized
(check and diff mode change nothing and say what would go; a host not migrated, and mail held
for the pipe, are refused in one line with nothing changed, in check mode too; a failure with
rollback_on_fail false is left for a person; a run removes the pipe and proves delivery over
LMTP; a second run changes nothing; rolled_back puts the pipe back), and lmtp_info check=true
(every check OK on a finalized host, as data a play asserts on; a broken socket CRITICAL and
named, in check mode, through ansible-runner too)."""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.lab.conftest import LabFactory
from tests.lab.faults import sh
from tests.lab.hostfiles import LabCli, file_states
from tests.lab.test_finalize import HOLD_FOR_PIPE, RELEASE

from .conftest import ROOT, play
from .test_lab_play import READ_ONLY_POSTFIX

pytestmark = pytest.mark.lab

RECIPIENT = "alice@example.test"
POSTFIX = ["/etc/postfix/main.cf", "/etc/postfix/master.cf"]
LIMIT = "dovecot_destination_recipient_limit"
SOCKET = "/var/spool/postfix/private/dovecot-lmtp"


def saved_plans_expression() -> str:
    """The module's EXAMPLES spelling of `finalize --saved-plans`: each host's latest plan
    under the playbook's plans/ directory."""
    module = ROOT / "ansible_collections/migrator/mail/plugins/modules/lmtp.py"
    tree = ast.parse(module.read_text())
    [text] = [
        n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "EXAMPLES"
    ]
    plays = yaml.safe_load(text)
    [task] = [t for p in plays for t in p["tasks"] if "plan" in t.get("migrator.mail.lmtp", {})]
    expression: str = task["migrator.mail.lmtp"]["plan"]
    return expression


def finalize_task(*lines: str) -> str:
    """A task named lmtp with state finalized and LINES (``key: value``) as its parameters."""
    body = "".join(f"        {line}\n" for line in ("state: finalized", *lines))
    return f"    - name: lmtp\n      migrator.mail.lmtp:\n{body}"


def _pipe(lab: Any, host: Any) -> bool:
    """Whether master.cf has the LDA pipe service, as `postconf -M` reads it."""
    return any(line.split()[:2] == ["dovecot", "unix"] for line in _lines(lab, host, "postconf -M"))


def _lines(lab: Any, host: Any, command: str) -> list[str]:
    return sh(lab, host, command).splitlines()


def test_finalized_refusals_check_mode_run_rerun_and_rollback(
    make_lab: LabFactory, ansible_factory: Any, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda", 2, prefix="af")
    migrated, lda = lab.hosts
    cli = LabCli(lab, tmp_path / "cli-plans")
    cli.migrate(migrated, RECIPIENT)
    migration_plan = cli.latest_plan(migrated)
    ansible = ansible_factory(lab.ssh_config)
    # The recipient only as the host variable migrator's -i reads: the collection honours it.
    recipient = {"migrator_test_recipient": RECIPIENT}
    inventory = ansible.inventory({migrated.name: recipient, lda.name: recipient})
    plans = ansible.work / "plans"  # the playbooks' directory: {{ playbook_dir }}/plans
    latest = f"plan: {saved_plans_expression()!r}"
    keys = {name: tmp_path / f"{name}.key" for name in ("ours", "other")}
    for path in keys.values():
        path.write_bytes(os.urandom(32))
        path.chmod(0o600)
    signed = (f"plan_key: {keys['ours']}", "require_signature: true")
    before = {h.name: file_states(lab, h, POSTFIX) for h in lab.hosts}

    checked = ansible.play(
        inventory,
        play(finalize_task("plans_dir: '{{ playbook_dir }}/plans'", signed[0])),
        "--check",
        "--diff",
    )
    assert checked.rc == 2, checked.output
    planned = checked.result(migrated.name)
    assert (planned["changed"], planned["outcome"], planned["removes"]) == (
        True,
        "changes planned",
        ["dovecot"],
    )
    summaries = [c["summary"] for c in planned["changes"]]
    assert "/etc/postfix/master.cf: remove service dovecot (unix)" in summaries, summaries
    assert {d["after_header"] for d in planned["diff"]} == set(POSTFIX)
    assert planned["steps"] == [] and planned["proof"] is None
    assert f"-{LIMIT} = 1" in checked.output, "Ansible shows the diff"
    refused = checked.result(lda.name)
    assert refused["_status"] == "failed" and "\n" not in refused["msg"]
    assert refused["msg"].startswith(f"{lda.name}: not migrated (clean)"), refused["msg"]
    saved = plans / migrated.name / f"{planned['plan_id']}.json"
    assert saved.is_file() and not (plans / lda.name).exists()
    assert {h.name: file_states(lab, h, POSTFIX) for h in lab.hosts} == before

    # A migration plan is not a finalize plan: refused before the host is touched.
    wrong = ansible.play(
        inventory, play(finalize_task(f"plan: {migration_plan}")), "-l", migrated.name
    )
    assert "is a migration plan: apply it with state=migrated" in wrong.result(migrated.name)["msg"]

    # Mail held for the pipe: refused when planning (check mode) and, with the reviewed
    # plan, on the host right before the write; the count and the queue id are named.
    assert '"queue_name": "hold"' in sh(lab, migrated, HOLD_FOR_PIPE)
    # The saved plan is signed: verified with the key, refused with another.
    with_other_key = play(finalize_task(latest, signed[1], f"plan_key: {keys['other']}"))
    wrong_key = ansible.play(inventory, with_other_key, "-l", migrated.name).result(migrated.name)
    assert "not with the given key" in wrong_key["msg"], wrong_key["msg"]
    for args, mode in (((), ("--check",)), ((latest, *signed), ())):
        held = ansible.play(inventory, play(finalize_task(*args)), "-l", migrated.name, *mode)
        message = held.result(migrated.name)["msg"]
        assert held.rc == 2 and "\n" not in message, held.output
        assert message.startswith(f"{migrated.name}: 1 message(s) queued for the old LDA ")
        assert "(hold)" in message
    assert file_states(lab, migrated, POSTFIX) == before[migrated.name] and _pipe(lab, migrated)
    assert sh(lab, migrated, RELEASE).strip() == ""

    # rollback_on_fail: false leaves a failed finalize as it failed, for a person.
    sh(lab, migrated, READ_ONLY_POSTFIX)
    try:
        kept = ansible.play(
            inventory,
            play(finalize_task(latest, *signed, "rollback_on_fail: false")),
            "-l",
            migrated.name,
        ).result(migrated.name)
        assert (kept["_status"], kept["outcome"], kept["rolled_back"]) == (
            "failed",
            "needs attention",
            False,
        )
        assert "needs attention" in kept["msg"] and "rollback" not in kept
    finally:
        sh(lab, migrated, "umount /etc/postfix")
    info = ansible.play(inventory, play("    - name: info\n      migrator.mail.lmtp_info:\n"))
    assert info.result(migrated.name, "info")["state"] == "failed, needs attention"
    back = ansible.play(
        inventory,
        play("    - name: lmtp\n      migrator.mail.lmtp:\n        state: rolled_back\n"),
        "-l",
        migrated.name,
    )
    assert back.result(migrated.name)["outcome"] == "rolled back", back.output
    info = ansible.play(inventory, play("    - name: info\n      migrator.mail.lmtp_info:\n"))
    assert info.result(migrated.name, "info")["state"] == "migrated"

    done = ansible.play(inventory, play(finalize_task()), "-l", migrated.name)
    applied = done.result(migrated.name)
    assert done.rc == 0, done.output
    assert (applied["changed"], applied["outcome"], applied["removes"]) == (
        True,
        "applied",
        ["dovecot"],
    )
    assert applied["proof"]["recipient"] == RECIPIENT
    assert applied["proof"]["relay"].endswith("dovecot-lmtp]"), applied["proof"]
    assert applied["steps"][0]["action"] == "check_queue"
    # As few round trips as migrator's own SSH transport takes (measured: 21), not one per
    # file operation or per step; check mode reads in 6.
    assert applied["round_trips"] <= 22, applied["round_trips"]
    assert planned["round_trips"] <= 6, planned["round_trips"]
    assert not _pipe(lab, migrated)
    assert not any(line.startswith(LIMIT) for line in _lines(lab, migrated, "postconf -n"))
    finalized = file_states(lab, migrated, POSTFIX)

    # Idempotent: planned again, nothing is left to remove; the reviewed plan is on the host.
    for args, mode, outcome in (
        ((), (), "no changes"),
        ((), ("--check",), "no changes"),
        ((latest,), (), "already applied"),
    ):
        again = ansible.play(inventory, play(finalize_task(*args)), "-l", migrated.name, *mode)
        result = again.result(migrated.name)
        assert (result["changed"], result["outcome"]) == (False, outcome), again.output
    assert file_states(lab, migrated, POSTFIX) == finalized

    # Undone: the pipe is back, LMTP still delivers, the host is the migration's again.
    undone = ansible.play(
        inventory,
        play("    - name: lmtp\n      migrator.mail.lmtp:\n        state: rolled_back\n"),
        "-l",
        migrated.name,
    ).result(migrated.name)
    assert (undone["changed"], undone["outcome"]) == (True, "rolled back"), undone
    assert undone["proof"]["relay"].endswith("dovecot-lmtp]"), undone["proof"]
    assert file_states(lab, migrated, POSTFIX) == before[migrated.name] and _pipe(lab, migrated)


CHECK_PLAY = """\
    - name: info
      migrator.mail.lmtp_info:
        check: true
      register: lmtp
    - name: all ok
      ansible.builtin.assert:
        that: lmtp.check.status == 'OK'
        fail_msg: >-
          {{ lmtp.check.checks | rejectattr('status', 'eq', 'OK')
             | map(attribute='name') | list }}
"""


def test_lmtp_info_check_results_a_play_asserts_on(
    make_lab: LabFactory, ansible_factory: Any, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda", 2, prefix="ac")
    migrated, lda = lab.hosts
    LabCli(lab, tmp_path / "plans").migrate(migrated, RECIPIENT)
    ansible = ansible_factory(lab.ssh_config)
    inventory = ansible.inventory(
        {h.name: {"migrator_test_recipient": RECIPIENT} for h in lab.hosts}
    )
    states = {h.name: file_states(lab, h, POSTFIX) for h in lab.hosts}

    ran = ansible.play(inventory, play(CHECK_PLAY))
    assert ran.rc == 0, ran.output
    check = ran.result(migrated.name, "info")["check"]
    assert (check["status"], check["code"], check["delivery"]) == ("OK", 0, "lmtp")
    named = {c["name"]: c for c in check["checks"]}
    assert {"hooks", "dovecot", "listener", "probe", "queue", "log", "migration"} <= set(named)
    assert all(c["status"] == "OK" for c in check["checks"]), check["checks"]
    assert named["probe"]["message"].endswith(f"RCPT {RECIPIENT} accepted")
    assert named["listener"]["message"] == f"socket {SOCKET} postfix 0600"
    assert check["summary"].startswith(f"MIGRATOR OK - {migrated.name}: ")
    assert ran.result(migrated.name, "info")["changed"] is False
    on_lda = ran.result(lda.name, "info")["check"]
    assert on_lda["delivery"] == "lda" and "probe" not in {c["name"] for c in on_lda["checks"]}
    migration = next(c for c in on_lda["checks"] if c["name"] == "migration")
    assert migration["message"].startswith("ready: a plan changes /etc/postfix/main.cf")

    # A broken socket, checked in check mode and through ansible-runner (as AWX runs it):
    # the check task reports it (it is not the task's failure); the play's assert fails.
    sh(lab, migrated, f"chmod 0666 {SOCKET}")
    try:
        outcome = ansible.runner(inventory, play(CHECK_PLAY), "--check", "-l", migrated.name)
    finally:
        sh(lab, migrated, f"chmod 0600 {SOCKET}")
    assert (outcome["rc"], outcome["status"]) == (2, "failed"), outcome
    events = {r["task"]: r for r in outcome["results"]}
    assert events["info"]["event"] == "runner_on_ok"
    found = events["info"]["res"]["check"]
    assert (found["status"], found["code"]) == ("CRITICAL", 2)
    listener = next(c for c in found["checks"] if c["name"] == "listener")
    assert listener == {
        "name": "listener",
        "status": "CRITICAL",
        "message": f"socket {SOCKET}: mode 0666, want 0600",
        "details": [],
    }, listener
    assert events["all ok"]["event"] == "runner_on_failed"
    assert "listener" in events["all ok"]["res"]["msg"]
    assert {h.name: file_states(lab, h, POSTFIX) for h in lab.hosts} == states
