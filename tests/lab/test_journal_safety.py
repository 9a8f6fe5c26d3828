"""The host-side guarantees, each fault made on a real lab host with real commands: a journal
a local user could write is refused, symlinked config files are followed and stay symlinks,
edits made after the drift check or after apply are never silently discarded, a full disk
under the journal ends in rollback, and a lock left by a killed apply has a way out."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.executor.apply import ApplyOptions, Outcome, apply_plan
from migrator.executor.journal import Journal
from migrator.executor.step_log import StepEvent
from migrator.lab import mail
from migrator.lab.state import Lab, LabHost
from migrator.transport import connect

from .conftest import RELEASES, LabFactory
from .faults import content_after, lock_holder, sh
from .hostfiles import LabCli, file_states
from .test_faults import MAIN_CF, Host, planned  # noqa: F401 (the fixture)

pytestmark = pytest.mark.lab
BASE = "/var/lib/migrator"
LMTP_CONF = "/etc/dovecot/conf.d/20-lmtp.conf"
ADMIN_EDIT = "message_size_limit = 52428800"


def _one_line(output: str) -> str:
    return " ".join(output.split())


def test_a_journal_a_local_user_owns_is_refused(planned: Host) -> None:  # noqa: F811
    # nobody made /var/lib/migrator first and planted a journal whose "original" is a
    # root-owned file: rollback would write it as root.
    sh(
        planned.lab,
        planned.host,
        f"mkdir -p {BASE}/journal/evil/orig && echo evil > {BASE}/current && "
        f"printf 'pwned\\n' > {BASE}/journal/evil/orig/0 && "
        f"chown -R nobody:nogroup {BASE} && chmod 0755 {BASE}",
    )
    before = sh(planned.lab, planned.host, f"stat -c '%U %a' {BASE}")
    plan_file = str(planned.cli.latest_plan(planned.host))
    applied = planned.cli("apply", planned.host.name, "--plan", plan_file, "--rollback-on-fail")
    assert applied.exit_code == 1, applied.output
    line = _one_line(applied.output)
    assert f"{planned.host.name}: {BASE}: refusing the journal" in line
    assert "owned by uid" in line
    for command in ("status", "rollback"):
        refused = planned.cli(command, planned.host.name)
        assert refused.exit_code == 1 and "refusing the journal" in refused.output, command
    assert sh(planned.lab, planned.host, f"stat -c '%U %a' {BASE}") == before  # no chmod
    planned.assert_untouched()


def test_a_symlink_inside_the_journal_is_refused(planned: Host) -> None:  # noqa: F811
    sh(
        planned.lab,
        planned.host,
        f"mkdir -p -m 0700 {BASE} /var/elsewhere && chmod 1777 /var/elsewhere && "
        f"ln -s /var/elsewhere {BASE}/journal",
    )
    plan_file = str(planned.cli.latest_plan(planned.host))
    applied = planned.cli("apply", planned.host.name, "--plan", plan_file)
    assert applied.exit_code == 1
    assert f"{BASE}/journal is not root's alone (symbolic link" in _one_line(applied.output)
    assert sh(planned.lab, planned.host, "ls -A /var/elsewhere") == ""
    planned.assert_untouched()


@pytest.fixture(params=RELEASES)
def fresh(
    make_lab: LabFactory, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Lab, LabHost, LabCli]]:
    lab = make_lab("virtual-lda", release=request.param)
    yield lab, lab.hosts[0], LabCli(lab, tmp_path)


def _lists_mail_is_filed_by_sieve(lab: Lab, host: LabHost) -> None:
    sent = mail.send(host, ["alice@example.test"], list_id="<news.example.test>")
    [delivery] = mail.wait_delivered(lab, host, sent)
    assert "private/dovecot-lmtp" in delivery.relay, delivery
    found = sh(
        lab, host, f"grep -l '{sent.message_id}' /var/vmail/example.test/alice/Maildir/.Lists/new/*"
    )
    assert found.strip(), "list mail was not filed into Lists by Sieve"


@pytest.mark.parametrize("linked", ["conf.d", "20-lmtp.conf"])
def test_symlinked_dovecot_files_are_followed(
    fresh: tuple[Lab, LabHost, LabCli], linked: str
) -> None:
    lab, host, cli = fresh
    if linked == "conf.d":
        setup = "mv /etc/dovecot/conf.d /etc/dovecot/real.d && ln -s real.d /etc/dovecot/conf.d"
        real = "/etc/dovecot/real.d/20-lmtp.conf"
    else:
        setup = (
            "touch /etc/dovecot/conf.d/20-lmtp.conf && mkdir /etc/dovecot/real && "
            "mv /etc/dovecot/conf.d/20-lmtp.conf /etc/dovecot/real/ && "
            "ln -s ../real/20-lmtp.conf /etc/dovecot/conf.d/20-lmtp.conf"
        )
        real = "/etc/dovecot/real/20-lmtp.conf"
    sh(lab, host, setup)
    plan = cli.plan(host)
    # The plan sees protocol lda's Sieve in 15-lda.conf and edits the file Dovecot reads.
    assert LMTP_CONF in [f.path for f in plan.files]
    assert "sieve" in content_after(plan, LMTP_CONF)
    before = file_states(lab, host, [f.path for f in plan.files])
    applied = cli("apply", host.name, "--plan", str(cli.latest_plan(host)), "--rollback-on-fail")
    assert applied.exit_code == 0, applied.output
    assert sh(lab, host, f"sha256sum < {real}").split()[0] == next(
        f.sha256_after for f in plan.files if f.path == LMTP_CONF
    )
    link = "/etc/dovecot/conf.d" if linked == "conf.d" else LMTP_CONF
    assert sh(lab, host, f"test -L {link} && echo link") == "link\n"
    _lists_mail_is_filed_by_sieve(lab, host)
    rolled = cli("rollback", host.name)
    assert rolled.exit_code == 0, rolled.output
    assert file_states(lab, host, list(before)) == before
    assert sh(lab, host, f"test -L {link} && echo link") == "link\n"


def test_a_symlinked_main_cf_stays_a_symlink(fresh: tuple[Lab, LabHost, LabCli]) -> None:
    lab, host, cli = fresh
    sh(
        lab,
        host,
        "mkdir /etc/postfix/real && mv /etc/postfix/main.cf /etc/postfix/real/ && "
        "ln -s real/main.cf /etc/postfix/main.cf",
    )
    plan = cli.plan(host)
    before = file_states(lab, host, [f.path for f in plan.files])
    original = sh(lab, host, "sha256sum < /etc/postfix/real/main.cf").split()[0]
    applied = cli("apply", host.name, "--plan", str(cli.latest_plan(host)), "--rollback-on-fail")
    assert applied.exit_code == 0, applied.output
    assert sh(lab, host, f"readlink {MAIN_CF}") == "real/main.cf\n"
    after = next(f.sha256_after for f in plan.files if f.path == MAIN_CF)
    assert sh(lab, host, "sha256sum < /etc/postfix/real/main.cf").split()[0] == after
    # An admin replaces the link by a copy: rollback puts the link back, and its verify
    # checks the link, not only the content behind it.
    sh(lab, host, f"cp --remove-destination /etc/postfix/real/main.cf {MAIN_CF}")
    rolled = cli("rollback", host.name)
    assert rolled.exit_code == 0, rolled.output
    assert sh(lab, host, f"readlink {MAIN_CF}") == "real/main.cf\n"
    assert sh(lab, host, "sha256sum < /etc/postfix/real/main.cf").split()[0] == original
    assert file_states(lab, host, list(before)) == before


def test_rollback_refuses_an_edit_made_after_apply_unless_forced(
    planned: Host,  # noqa: F811
    tmp_path: Path,
) -> None:
    plan_file = str(planned.cli.latest_plan(planned.host))
    applied = planned.cli("apply", planned.host.name, "--plan", plan_file)
    assert applied.exit_code == 0, applied.output
    sh(planned.lab, planned.host, f"echo '{ADMIN_EDIT}' >> {MAIN_CF}")
    edited = file_states(planned.lab, planned.host, planned.paths)
    assert "drifted since apply" in planned.cli("status", planned.host.name).output
    refused = planned.cli("rollback", planned.host.name)
    assert refused.exit_code == 1, refused.output
    line = _one_line(refused.output)
    assert f"edited since apply: {MAIN_CF}" in line and "--force" in line
    assert file_states(planned.lab, planned.host, planned.paths) == edited
    kept = f"{BASE}/journal/{planned.plan.plan_id}/drift"
    assert ADMIN_EDIT in sh(planned.lab, planned.host, f"cat {kept}/*")
    # The fleet form refuses it the same way, and --force rolls it back.
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(f"[mail]\n{planned.host.name}\n\n[all:vars]\nansible_user=root\n")
    fleet = planned.cli("rollback", "-i", str(inventory))
    assert fleet.exit_code != 0 and "edited since apply" in _one_line(fleet.output)
    assert file_states(planned.lab, planned.host, planned.paths) == edited
    forced = planned.cli("rollback", "-i", str(inventory), "--force")
    assert forced.exit_code == 0, forced.output
    planned.assert_restored()
    assert ADMIN_EDIT in sh(planned.lab, planned.host, f"cat {kept}/*")


def test_an_edit_between_drift_check_and_write_is_not_overwritten(
    planned: Host,  # noqa: F811
) -> None:
    edited: list[str] = []

    def edit_main_cf(event: StepEvent) -> None:
        if event.seconds is None and event.action == "write_file" and MAIN_CF in event.description:
            sh(planned.lab, planned.host, f"echo '{ADMIN_EDIT}' >> {MAIN_CF}")
            edited.append(MAIN_CF)

    report = planned.apply(notify=edit_main_cf)
    assert edited
    assert (report.outcome, report.failed_step) == (Outcome.NEEDS_ATTENTION, "write_file")
    assert "changed on the host since it was checked" in report.error
    assert report.rollback is not None and "edited since apply" in report.rollback.error
    assert sh(planned.lab, planned.host, f"tail -n 1 {MAIN_CF}") == f"{ADMIN_EDIT}\n"
    forced = planned.cli("rollback", planned.host.name, "--force")
    assert forced.exit_code == 0, forced.output
    planned.assert_restored()


class _DiskFiller:
    """A notify that fills the journal's small disk the moment validate_postfix starts."""

    def __init__(self, lab: Lab, host: LabHost) -> None:
        self.lab, self.host, self.filled = lab, host, False

    def __call__(self, event: StepEvent) -> None:
        if event.seconds is None and event.action == "validate_postfix" and not self.filled:
            sh(self.lab, self.host, f"dd if=/dev/zero of={BASE}/filler bs=4k 2>/dev/null; true")
            self.filled = True


def _full_journal_disk(lab: Lab, host: LabHost) -> _DiskFiller:
    """The journal on a 2 MB tmpfs, and what fills it mid-apply."""
    sh(lab, host, f"mkdir -p {BASE} && mount -t tmpfs -o size=2m,mode=0700 tmpfs {BASE}")
    return _DiskFiller(lab, host)


def test_a_full_journal_disk_mid_apply_is_rolled_back(planned: Host) -> None:  # noqa: F811
    fill = _full_journal_disk(planned.lab, planned.host)

    report = planned.apply(notify=fill)
    assert fill.filled
    assert report.outcome is Outcome.ROLLED_BACK, report
    assert "No space left" in report.error
    planned.assert_restored()
    assert sh(planned.lab, planned.host, f"test -e {BASE}/lock || echo free") == "free\n"


def test_a_full_journal_disk_never_says_nothing_changed(planned: Host) -> None:  # noqa: F811
    # Without --rollback-on-fail: exit 4, never 1; then rollback works on the still-full disk.
    fill = _full_journal_disk(planned.lab, planned.host)

    transport = connect(planned.host.name, ssh_config=planned.lab.ssh_config)
    try:
        report = apply_plan(transport, planned.plan, ApplyOptions(), fill)
    finally:
        transport.close()
    assert fill.filled and report.outcome is Outcome.NEEDS_ATTENTION, report
    assert report.outcome.exit_status == 4
    assert file_states(planned.lab, planned.host, planned.paths) != planned.before
    status = _one_line(planned.cli("status", planned.host.name).output)
    assert f"run `migrator rollback {planned.host.name}`" in status, status
    rolled = planned.cli("rollback", planned.host.name)
    assert rolled.exit_code == 0, rolled.output
    planned.assert_restored()


def test_a_lock_left_by_a_killed_apply_has_a_way_out(planned: Host) -> None:  # noqa: F811
    # SIGKILL right after lock/owner appears: no state.json, `current` not yet set.
    holder = connect(planned.host.name, ssh_config=planned.lab.ssh_config)
    try:
        Journal(holder, planned.plan.plan_id).lock("killed-node")
        os.kill(lock_holder(planned.lab, planned.host), signal.SIGKILL)
    finally:
        holder.close()
    status = _one_line(planned.cli("status", planned.host.name).output)
    assert "interrupted at step lock" in status, status
    assert f"run `migrator rollback {planned.host.name}`" in status
    rolled = planned.cli("rollback", planned.host.name)
    assert rolled.exit_code == 0, rolled.output
    assert "its lock is released" in rolled.output
    assert sh(planned.lab, planned.host, f"test -e {BASE}/lock || echo free") == "free\n"
    # A lock left the same way is also taken over by the next apply.
    again = connect(planned.host.name, ssh_config=planned.lab.ssh_config)
    try:
        Journal(again, planned.plan.plan_id).lock("killed-again")
        os.kill(lock_holder(planned.lab, planned.host), signal.SIGKILL)
    finally:
        again.close()
    plan_file = str(planned.cli.latest_plan(planned.host))
    applied = planned.cli("apply", planned.host.name, "--plan", plan_file, "--rollback-on-fail")
    assert applied.exit_code == 0, applied.output
    assert "migrated" in planned.cli("status", planned.host.name).output
