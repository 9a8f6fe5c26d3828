"""The fault matrix: every failure ends with the right exit code, the host delivering mail,
and (after a rollback) every touched file's sha256, owner and mode equal to the originals."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from migrator.executor.apply import ApplyOptions, ApplyReport, Outcome, apply_plan
from migrator.executor.journal import Journal
from migrator.executor.step_log import StepEvent
from migrator.lab import mail, sandbox
from migrator.lab.state import Lab, LabHost
from migrator.plan.document import Plan
from migrator.transport import connect

from .conftest import RELEASES, LabFactory
from .faults import (
    content_after,
    hold_lmtp_socket,
    lmtp_mail_unusable,
    lock_holder,
    release,
    sh,
    signal_all,
    userdb_without_uid,
    with_content,
)
from .hostfiles import FileState, LabCli, file_states

pytestmark = pytest.mark.lab
MAIN_CF = "/etc/postfix/main.cf"
MASTER_CONF = "/etc/dovecot/conf.d/10-master.conf"
LMTP_CONF = "/etc/dovecot/conf.d/20-lmtp.conf"


@dataclass
class Host:
    """A fresh virtual-lda lab host with its plan made and its files' original state."""

    lab: Lab
    host: LabHost
    cli: LabCli
    plan: Plan
    before: dict[str, FileState | None]

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.plan.files]

    def apply(self, plan: Plan | None = None, **options: object) -> ApplyReport:
        transport = connect(self.host.name, ssh_config=self.lab.ssh_config)
        notify = options.pop("notify", None)
        try:
            return apply_plan(
                transport,
                plan or self.plan,
                ApplyOptions(rollback_on_fail=True, **options),  # type: ignore[arg-type]
                **({"notify": notify} if notify else {}),  # type: ignore[arg-type]
            )
        finally:
            transport.close()

    def delivers_over(self) -> str:
        """Send a message from outside; return the relay Postfix used."""
        sent = mail.send(self.host, ["alice@example.test"])
        [delivery] = mail.wait_delivered(self.lab, self.host, sent)
        assert delivery.status == "sent", delivery
        return delivery.relay

    def assert_restored(self) -> None:
        assert file_states(self.lab, self.host, self.paths) == self.before
        assert self.delivers_over() == "dovecot"

    def assert_untouched(self) -> None:
        assert file_states(self.lab, self.host, self.paths) == self.before
        assert "/var/lib/migrator/journal/" not in sh(
            self.lab, self.host, "find /var/lib/migrator -name state.json 2>/dev/null || true"
        )


@pytest.fixture(params=RELEASES)
def planned(make_lab: LabFactory, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Host]:
    """Every fault on a host of each release (Dovecot 2.3.13/2.3.19/2.4, Postfix 3.5/3.7/3.10,
    OpenSSH 8.4/9.2/10: the lock's lease, reloads and proofs differ between them)."""
    lab = make_lab("virtual-lda", release=request.param)
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path)
    plan = cli.plan(host)
    yield Host(lab, host, cli, plan, file_states(lab, host, [f.path for f in plan.files]))


def test_lmtp_binary_missing_is_refused_at_plan(planned: Host) -> None:
    sh(planned.lab, planned.host, "mount --bind /dev/null /usr/lib/dovecot/lmtp")
    result = planned.cli("plan", planned.host.name, "--test-recipient", "alice@example.test")
    assert result.exit_code == 1
    assert "dovecot-lmtpd" in result.output
    planned.assert_untouched()


def test_lmtp_binary_gone_after_planning_is_rolled_back(planned: Host) -> None:
    sh(planned.lab, planned.host, "mount --bind /dev/null /usr/lib/dovecot/lmtp")
    result = planned.cli(
        "apply",
        planned.host.name,
        "--plan",
        str(planned.cli.latest_plan(planned.host)),
        "--rollback-on-fail",
    )
    assert result.exit_code == 3, result.output
    assert "rolled back" in result.output
    planned.assert_restored()


def test_dovecot_rejects_the_new_config(planned: Host) -> None:
    broken = content_after(planned.plan, LMTP_CONF) + "protocol lmtp {\n"
    report = planned.apply(with_content(planned.plan, LMTP_CONF, broken))
    assert (report.outcome, report.failed_step) == (Outcome.ROLLED_BACK, "validate_dovecot")
    assert "doveconf -n" in report.error
    planned.assert_restored()


def test_socket_with_the_wrong_owner(planned: Host) -> None:
    wrong = content_after(planned.plan, MASTER_CONF).replace("user = postfix", "user = nobody")
    report = planned.apply(with_content(planned.plan, MASTER_CONF, wrong))
    assert (report.outcome, report.failed_step) == (Outcome.ROLLED_BACK, "wait_socket")
    assert "nobody" in report.error
    planned.assert_restored()


def test_postfix_check_fails(planned: Host) -> None:
    broken = content_after(planned.plan, MAIN_CF) + "this line is not a parameter\n"
    report = planned.apply(with_content(planned.plan, MAIN_CF, broken))
    assert (report.outcome, report.failed_step) == (Outcome.ROLLED_BACK, "validate_postfix")
    assert report.rollback is not None and MAIN_CF in report.rollback.restored
    planned.assert_restored()


def test_delivery_refused_by_dovecot_is_rolled_back(planned: Host) -> None:
    # Outside the plan's files, LMTP gets a mail location it cannot create: the probe (RCPT)
    # passes, the real test message is deferred, and the LDA path is unaffected.
    lmtp_mail_unusable(planned.lab, planned.host)
    report = planned.apply(delivery_timeout=8.0)
    assert (report.outcome, report.failed_step) == (Outcome.ROLLED_BACK, "test_delivery")
    assert "deferred" in report.error
    planned.assert_restored()


def test_userdb_without_uid_breaks_both_paths_and_needs_attention(planned: Host) -> None:
    # After planning, the userdb stops returning uid/gid. Dovecot then refuses LMTP and the
    # LDA alike (2.3: "User is missing UID"; 2.4: "userdb reply doesn't contain uid" to the
    # LDA): the files are restored, but the LDA cannot be proven, so the host needs attention
    # (exit 4), and says why.
    userdb_without_uid(planned.lab, planned.host)
    report = planned.apply()
    assert report.outcome is Outcome.NEEDS_ATTENTION
    assert report.rollback is not None and not report.rollback.ok
    assert "missing UID" in report.rollback.error, report.rollback.error
    assert file_states(planned.lab, planned.host, planned.paths) == planned.before


def test_test_message_times_out(planned: Host) -> None:
    # A busy Dovecot: one LMTP process allowed (set after planning, outside the plan's
    # files), and from the test step on a client holds it, so Postfix's LMTP connection
    # waits for a greeting past the delivery timeout.
    sh(
        planned.lab,
        planned.host,
        "printf 'service lmtp {\\n  process_limit = 1\\n}\\n' >> /etc/dovecot/local.conf",
    )
    holders: list[subprocess.Popen[bytes]] = []

    def hold_lmtp(event: StepEvent) -> None:
        if event.seconds is None and event.action == "test_delivery" and not holders:
            holders.append(hold_lmtp_socket(planned.lab, planned.host))
        if event.seconds is None and event.action == "restore_files":
            release(holders)

    try:
        report = planned.apply(notify=hold_lmtp, delivery_timeout=3.0)
    finally:
        release(holders)
    assert holders, "the LMTP socket was never held"
    assert (report.outcome, report.failed_step) == (Outcome.ROLLED_BACK, "test_delivery"), report
    assert "within 3 s" in report.error
    planned.assert_restored()


def test_ssh_session_cut_mid_apply(planned: Host) -> None:
    cut: list[int] = []

    def cut_session(event: StepEvent) -> None:
        if event.seconds is None and event.action == "validate_postfix" and not cut:
            cut.append(lock_holder(planned.lab, planned.host))
            threading.Timer(0.3, lambda: signal_all(cut, signal.SIGKILL)).start()

    report = planned.apply(notify=cut_session)
    assert cut
    # The command in flight dies with the session; the transport reconnects once, so the
    # apply either finishes over the new session or fails that step and rolls back.
    if report.outcome is Outcome.APPLIED:
        after = file_states(planned.lab, planned.host, planned.paths)
        assert {p: s[0] for p, s in after.items() if s} == {
            f.path: f.sha256_after for f in planned.plan.files
        }
        assert "private/dovecot-lmtp" in planned.delivers_over()
    else:
        assert report.outcome is Outcome.ROLLED_BACK, report
        assert "connection lost" in report.error
        planned.assert_restored()


# OpenSSH 9.8 and later (trixie) run each session in sshd-session, not sshd: the lock's lease.
def test_control_node_killed_mid_apply_then_status_and_rollback(planned: Host) -> None:
    plan_file = planned.cli.latest_plan(planned.host)
    state = sandbox.host_file(
        planned.lab, planned.host, f"/var/lib/migrator/journal/{planned.plan.plan_id}/state.json"
    )
    argv = [sys.executable, "-m", "migrator.cli.main_entry", "apply", planned.host.name]
    argv += [
        "--plan",
        str(plan_file),
        "--rollback-on-fail",
        "--ssh-config",
        str(planned.lab.ssh_config),
    ]
    driver = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    step = ""
    while time.monotonic() < deadline and step != "validate_postfix":
        with contextlib.suppress(OSError, ValueError, KeyError):
            step = json.loads(state.read_text())["step"]
        time.sleep(0.005)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert step == "validate_postfix"  # main.cf is already written: a real mess to undo
    status = planned.cli("status", planned.host.name)
    assert "interrupted at step" in status.output, status.output
    again = planned.cli("apply", planned.host.name, "--plan", str(plan_file), "--rollback-on-fail")
    assert again.exit_code == 1
    assert "interrupted" in again.output
    rolled = planned.cli("rollback", planned.host.name)
    assert rolled.exit_code == 0, rolled.output
    planned.assert_restored()
    assert "rolled back" in planned.cli("status", planned.host.name).output


def test_drift_between_plan_and_apply_is_refused(planned: Host) -> None:
    sh(planned.lab, planned.host, "echo '# edited by hand' >> /etc/postfix/main.cf")
    drifted = file_states(planned.lab, planned.host, planned.paths)
    result = planned.cli(
        "apply", planned.host.name, "--plan", str(planned.cli.latest_plan(planned.host))
    )
    assert result.exit_code == 1
    assert "changed since the plan was made: /etc/postfix/main.cf" in result.output
    assert file_states(planned.lab, planned.host, planned.paths) == drifted
    assert planned.delivers_over() == "dovecot"


def test_a_second_apply_is_refused_by_the_lock(planned: Host) -> None:
    holder = connect(planned.host.name, ssh_config=planned.lab.ssh_config)
    try:
        Journal(holder, "another-plan").lock("another-node")
        result = planned.cli(
            "apply", planned.host.name, "--plan", str(planned.cli.latest_plan(planned.host))
        )
        assert result.exit_code == 1
        assert "locked by plan another-plan from another-node, running" in result.output
        planned.assert_untouched()
    finally:
        Journal(holder, "another-plan").unlock()
        holder.close()


@pytest.mark.parametrize("fault", ["read-only", "disk-full"])
def test_postfix_config_dir_unwritable(planned: Host, fault: str) -> None:
    if fault == "read-only":
        setup = "mount --bind /etc/postfix /etc/postfix && mount -o remount,ro,bind /etc/postfix"
    else:
        setup = (
            "cp -a /etc/postfix /tmp/pf && mount -t tmpfs -o size=1m tmpfs /etc/postfix && "
            "cp -a /tmp/pf/. /etc/postfix/ && "
            "dd if=/dev/zero of=/etc/postfix/filler bs=4k 2>/dev/null; true"
        )
    sh(planned.lab, planned.host, setup)
    report = planned.apply()
    assert (report.outcome, report.failed_step) == (Outcome.ROLLED_BACK, "write_file")
    assert MAIN_CF in report.error
    planned.assert_restored()


def test_bad_plan_input_changes_nothing(planned: Host, tmp_path: Path) -> None:
    plan_file = planned.cli.latest_plan(planned.host)
    edited = tmp_path / "edited.json"
    data = json.loads(plan_file.read_text())
    data["files"][0]["content_after"] += "virtual_transport = smtp\n"
    edited.write_text(json.dumps(data))
    result = planned.cli("apply", planned.host.name, "--plan", str(edited))
    assert result.exit_code == 1 and "edited by hand" in result.output
    other = planned.cli("apply", "some-other-host", "--plan", str(plan_file))
    assert other.exit_code == 1 and "plan is for host" in other.output
    unknown = planned.cli("rollback", planned.host.name, "--plan", "no-such-plan")
    assert unknown.exit_code == 1
    planned.assert_untouched()


def test_without_rollback_on_fail_the_host_is_left_journaled_with_the_way_back(
    planned: Host,
) -> None:
    sh(planned.lab, planned.host, "mount --bind /dev/null /usr/lib/dovecot/lmtp")
    plan_file = str(planned.cli.latest_plan(planned.host))
    result = planned.cli("apply", planned.host.name, "--plan", plan_file)
    assert result.exit_code == 4, result.output
    hint = f"migrator rollback {planned.host.name} --plan {planned.plan.plan_id}"
    assert hint in " ".join(result.output.split())
    status = planned.cli("status", planned.host.name).output
    assert "failed, needs attention" in status and "migrator rollback" in status
    assert file_states(planned.lab, planned.host, planned.paths) != planned.before
    sh(planned.lab, planned.host, "umount /usr/lib/dovecot/lmtp")
    rolled = planned.cli("rollback", planned.host.name, "--plan", planned.plan.plan_id)
    assert rolled.exit_code == 0, rolled.output
    planned.assert_restored()
