"""A fleet of 13 lab hosts (3 labs, 3 profiles): plan -i, apply -i in canary + waves with a
failure budget, one host failing apply, reports, LMTP delivery, untouched hosts, rollback -i."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from migrator.cli import main
from migrator.lab import mail
from migrator.lab.state import Lab, LabHost
from migrator.plan.store import load_plan

from .conftest import LabFactory
from .faults import sh
from .hostfiles import FileState, file_states

pytestmark = pytest.mark.lab

RECIPIENT = {"virtual-lda": "alice@example.test", "system-lda": "bob@example.test"}
READ_ONLY_POSTFIX = (
    "mount --bind /etc/postfix /etc/postfix && mount -o remount,ro,bind /etc/postfix"
)


class Fleet:
    """Three labs behind one OpenSSH config, and an Ansible INI inventory over them."""

    def __init__(self, labs: list[Lab], tmp_path: Path, extra: str = "") -> None:
        self.labs = labs
        self.tmp = tmp_path
        self.ssh_config = tmp_path / "ssh_config"
        includes = "".join(f"Include {lab.ssh_config}\n" for lab in labs)
        self.ssh_config.write_text(includes + extra)
        self.plans = tmp_path / "plans"
        self.hosts: dict[str, tuple[Lab, LabHost]] = {
            host.name: (lab, host) for lab in labs for host in lab.hosts
        }

    def write_inventory(self, order: list[str]) -> Path:
        groups: dict[str, list[str]] = {}
        for name in order:
            groups.setdefault(self.hosts[name][1].profile.replace("-", "_"), []).append(name)
        lines = ["# lab fleet, as an Ansible INI inventory"]
        for group, names in groups.items():
            lines += [f"[{group}]", *names, ""]
        lines += ["[mail:children]", *groups, "", "[system_lda:vars]"]
        lines += ["migrator_test_recipient=bob@example.test", "", "[all:vars]"]
        lines += ["migrator_test_recipient=alice@example.test", "ansible_user=root", ""]
        # Ansible lists hosts group by group; keep the wanted order with a plain hosts file first.
        path = self.tmp / "inventory.ini"
        path.write_text("\n".join(order) + "\n\n" + "\n".join(lines))
        return path

    def cli(self, *args: str) -> Result:
        common = ["--ssh-config", str(self.ssh_config), "--plans-dir", str(self.plans)]
        return CliRunner().invoke(main, [*args, *common])

    def plan_files(self, name: str) -> list[str]:
        saved = sorted((self.plans / name).glob("*.json"))[-1]
        return [f.path for f in load_plan(saved, host=name).files]

    def states(self, name: str, paths: list[str]) -> dict[str, FileState | None]:
        lab, host = self.hosts[name]
        return file_states(lab, host, paths)


def _by_host(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["host"]: entry for entry in report["hosts"]}


def test_fleet_canary_waves_budget_reports_and_rollback(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    virtual = make_lab("virtual-lda", 5, prefix="fv")
    system = make_lab("system-lda", 5, prefix="fs")
    done = make_lab("lmtp", 3, prefix="fl")
    fleet = Fleet([virtual, system, done], tmp_path)
    v = [h.name for h in virtual.hosts]
    s = [h.name for h in system.hosts]
    lmtp = [h.name for h in done.hosts]
    order = [v[0], s[0], v[1], s[1], v[2], s[2], v[3], s[3], v[4], s[4], *lmtp]
    inventory = str(fleet.write_inventory(order))

    planned = fleet.cli(
        "plan", "-i", inventory, "--forks", "13", "--detailed-exitcode",
        "--report-json", str(tmp_path / "plan.json"),
    )  # fmt: skip
    assert planned.exit_code == 2, planned.output
    plan_report = _by_host(json.loads((tmp_path / "plan.json").read_text()))
    assert [plan_report[n]["outcome"] for n in order] == ["changes"] * 10 + ["no changes"] * 3
    assert list(plan_report) == order

    failing = s[2]  # in wave 2: canary v0 | wave 1 s0 v1 s1 | wave 2 v2 s2 v3 | wave 3 s3 v4 s4
    lab, host = fleet.hosts[failing]
    sh(lab, host, READ_ONLY_POSTFIX)
    unstarted = [s[3], v[4], s[4]]
    paths = {name: fleet.plan_files(name) for name in [*unstarted, failing]}
    before = {name: fleet.states(name, paths[name]) for name in paths}

    applied = fleet.cli(
        "apply", "-i", inventory, "--saved-plans", "--rollback-on-fail",
        "--canary", "1", "--wave", "3", "--max-fail", "0", "--forks", "10",
        "--report-json", str(tmp_path / "apply.json"),
        "--report-junit", str(tmp_path / "apply.xml"),
    )  # fmt: skip
    assert applied.exit_code == 3, applied.output
    assert "failure budget" in applied.output

    report = json.loads((tmp_path / "apply.json").read_text())
    hosts = _by_host(report)
    assert report["exit_code"] == 3 and report["stopped_early"]
    expected = {
        **dict.fromkeys([v[0], s[0], v[1], s[1], v[2], v[3]], "applied"),
        failing: "rolled back",
        **dict.fromkeys(unstarted, "not started"),
        **dict.fromkeys(lmtp, "no changes"),
    }
    assert {name: entry["outcome"] for name, entry in hosts.items()} == expected
    assert report["counts"] == {"no changes": 3, "applied": 6, "rolled back": 1, "not started": 3}
    assert hosts[failing]["failed_step"] == "write_file" and failing in hosts[failing]["error"]
    assert hosts[failing]["exit_code"] == 3 and hosts[v[0]]["exit_code"] == 0
    assert any(step["action"] == "restore_files" for step in hosts[failing]["steps"])
    assert all(hosts[n]["steps"] and hosts[n]["plan_id"] for n in expected if n in v[:4])

    # Canary first, then each wave only after the one before it ended.
    waves = [[v[0]], [s[0], v[1], s[1]], [v[2], failing, v[3]]]
    assert [hosts[w[0]]["batch"] for w in waves] == ["canary", "wave 1", "wave 2"]
    for earlier, later in itertools.pairwise(waves):
        assert max(hosts[n]["finished"] for n in earlier) <= min(hosts[n]["started"] for n in later)
    assert all(hosts[n]["started"] is None and hosts[n]["batch"] == "wave 3" for n in unstarted)

    suite = ET.parse(tmp_path / "apply.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("13", "1", "3")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases[failing].find("failure") is not None
    assert cases[s[3]].find("skipped") is not None

    # Untouched and rolled-back hosts: every file as before (sha256, owner, mode).
    for name in paths:
        assert fleet.states(name, paths[name]) == before[name], name
    # Migrated hosts deliver over LMTP, the failed one still through its LDA.
    for name in (v[0], s[1]):
        lab, host = fleet.hosts[name]
        sent = mail.send(host, [RECIPIENT[host.profile]])
        [delivery] = mail.wait_delivered(lab, host, sent)
        assert "private/dovecot-lmtp" in delivery.relay and delivery.status == "sent"
    lab, host = fleet.hosts[failing]
    [delivery] = mail.wait_delivered(lab, host, mail.send(host, ["bob@example.test"]))
    assert (delivery.relay, delivery.status) == ("local", "sent")

    rolled = fleet.cli(
        "rollback", "-i", inventory, "--limit", "mail:!lmtp", "--forks", "10",
        "--canary", "1", "--wave", "4", "--report-json", str(tmp_path / "rollback.json"),
    )  # fmt: skip
    assert rolled.exit_code == 0, rolled.output
    back = _by_host(json.loads((tmp_path / "rollback.json").read_text()))
    # Rollback honours canary and waves too: v0 | s0 v1 s1 v2 | s2 v3 s3 v4 | s4.
    assert [back[n]["batch"] for n in (v[0], s[0], s[2], s[4])] == [
        "canary", "wave 1", "wave 2", "wave 3"
    ]  # fmt: skip
    first_wave = (s[0], v[1], s[1], v[2])
    assert back[v[0]]["finished"] <= min(back[n]["started"] for n in first_wave)
    assert sorted(n for n, e in back.items() if e["outcome"] == "rolled back") == sorted(
        [v[0], s[0], v[1], s[1], v[2], v[3]]
    )
    assert {back[n]["outcome"] for n in [failing, *unstarted]} == {"nothing to do"}
    # Each says what it undid: the migration, back to the LDA; the others undid nothing.
    assert {
        n: e["rolled_back"]["undid"] for n, e in back.items() if e["rolled_back"]
    } == dict.fromkeys([v[0], s[0], v[1], s[1], v[2], v[3]], "migration")
    assert {back[n]["rolled_back"]["delivery"] for n in (v[0], s[0])} == {"lda"}
    for name in (v[0], s[1]):
        lab, host = fleet.hosts[name]
        [delivery] = mail.wait_delivered(lab, host, mail.send(host, [RECIPIENT[host.profile]]))
        assert "private/dovecot-lmtp" not in delivery.relay and delivery.status == "sent"


def test_fleet_plan_keeps_going_past_a_bad_host(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab("virtual-lda", 2, prefix="fb")
    # A host nobody answers for: connection refused on loopback (no DNS, no outside traffic).
    fleet = Fleet([lab], tmp_path, "Host no-such-host\n  HostName 127.0.0.1\n  Port 1\n")
    names = [h.name for h in lab.hosts]
    sh(lab, lab.hosts[0], "mount --bind /dev/null /usr/lib/dovecot/lmtp")
    result = fleet.cli(
        "plan", "-i", f"{names[0]},{names[1]},no-such-host,",
        "--test-recipient", "alice@example.test", "--report-json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    hosts = _by_host(json.loads((tmp_path / "r.json").read_text()))
    assert hosts[names[1]]["outcome"] == "changes"
    assert hosts[names[0]]["outcome"] == "refused" and "dovecot-lmtpd" in hosts[names[0]]["error"]
    assert hosts["no-such-host"]["outcome"] == "error"
    assert hosts["no-such-host"]["error"].startswith("no-such-host: ")


def test_ctrl_c_lets_the_host_in_flight_finish_and_starts_no_other(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda", 3, prefix="fc")
    fleet = Fleet([lab], tmp_path)
    names = [h.name for h in lab.hosts]
    planned = fleet.cli("plan", "-i", ",".join(names), "--test-recipient", RECIPIENT["virtual-lda"])
    assert planned.exit_code == 0, planned.output
    paths = {name: fleet.plan_files(name) for name in names}
    before = {name: fleet.states(name, paths[name]) for name in names[1:]}
    report = tmp_path / "apply.json"
    argv = [sys.executable, "-c", "from migrator.cli import main; main()", "apply"]
    argv += ["-i", ",".join(names), "--saved-plans", "--rollback-on-fail", "--wave", "1"]
    argv += ["--ssh-config", str(fleet.ssh_config), "--plans-dir", str(fleet.plans)]
    argv += ["--report-json", str(report)]
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as run:
        assert run.stdout is not None
        for line in run.stdout:
            if b"started" in line:
                run.send_signal(signal.SIGINT)  # Ctrl-C while the first host applies
                break
        output = run.stdout.read().decode()
        assert run.wait(timeout=60) == 130, output
    hosts = _by_host(json.loads(report.read_text()))
    assert [hosts[n]["outcome"] for n in names] == ["applied", "not started", "not started"]
    assert "interrupted" in output
    for name in names[1:]:
        assert fleet.states(name, paths[name]) == before[name], name
