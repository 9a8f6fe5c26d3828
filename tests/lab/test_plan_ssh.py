"""`migrator plan HOST` over real SSH: the same plan as --root, nothing changed, keys, sudo.

Each test drives the CLI (click's CliRunner) against lab hosts, as a user would, and reads
the plan document it prints with --json.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import paramiko
import pytest
from click.testing import CliRunner, Result

from migrator.cli import main
from migrator.executor.apply import ApplyOptions, Outcome, apply_plan
from migrator.executor.rollback import rollback_latest
from migrator.lab import lifecycle, mail
from migrator.lab.state import Lab, LabHost
from migrator.plan.build import build_plan
from migrator.rules.switch import Options
from migrator.transport import connect
from migrator.transport.ssh import SSHTransport
from migrator.transport.ssh_config import resolve_host

from .conftest import LabFactory

pytestmark = pytest.mark.lab

RECIPIENTS = {"virtual-lda": "alice@example.test", "system-lda": "bob@example.test"}
LDA_RELAYS = {"virtual-lda": "dovecot", "system-lda": "local"}
# What a --root copy holds: the config trees planning reads (Debian's protocols.d included),
# and the user and group names the files are owned by.
COPY_SCRIPT = (
    "cd / && tar -cf - etc/postfix etc/passwd etc/group "
    "$(ls -d etc/dovecot usr/local/etc/dovecot usr/share/dovecot/protocols.d 2>/dev/null)"
)
# sha256, owner:group and mode of every file and directory planning might touch.
STATE_SCRIPT = (
    "find /etc/postfix /etc/dovecot -printf '%p %y %u:%g %m\\n' | sort; "
    "find /etc/postfix /etc/dovecot -type f -print0 | sort -z | xargs -0 sha256sum; "
    "ls -d /var/lib/migrator 2>&1"
)
# The plan's parts that depend only on the files (not on time, plan id or live-only facts).
SAME_PARTS = ("host", "endpoint", "lda_services", "changes", "files", "settings_diff", "steps")
SAME_FACTS = ("config_directory", "queue_directory", "mail_owner", "mail_owner_group")
DIRECTORY_UNKNOWN = (
    "Dovecot version (not known from a directory)",
    "LMTP binary presence (not known from a directory)",
    "userdb answer (not known from a directory)",
)


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _plan_json(*args: str, expect: int = 2) -> dict[str, Any]:
    """Run `migrator plan ... --json --no-save --detailed-exitcode`; the printed plan."""
    result = _cli("plan", *args, "--json", "--no-save", "--detailed-exitcode")
    assert result.exit_code == expect, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _plan_ssh(
    config: Path, host: LabHost, recipient: str, *extra: str, expect: int = 2
) -> dict[str, Any]:
    args = (host.name, "--ssh-config", str(config), "--test-recipient", recipient, *extra)
    return _plan_json(*args, expect=expect)


def _host_state(lab: Lab, host: LabHost) -> str:
    done = lifecycle.run_in_host(host, lab, ["sh", "-c", STATE_SCRIPT], capture=True)
    assert done.stdout.count(b"\n") > 20, done
    return done.stdout.decode()


def _copy_root(lab: Lab, host: LabHost, root: Path) -> None:
    """Copy the host's config files (owner, group and mode kept) into ROOT, laid out as /."""
    packed = lifecycle.run_in_host(host, lab, ["sh", "-c", COPY_SCRIPT], capture=True)
    assert packed.returncode == 0, packed.stderr
    root.mkdir()
    with tarfile.open(fileobj=io.BytesIO(packed.stdout)) as archive:
        archive.extractall(root, filter="tar", numeric_owner=True)


def _with_known_hosts(lab: Lab, tmp_path: Path, known: Path) -> Path:
    path = tmp_path / f"ssh_config.{known.name}"
    path.write_text(lab.ssh_config.read_text().replace(str(lab.known_hosts), str(known)))
    return path


def _with_user(lab: Lab, tmp_path: Path, user: str) -> Path:
    text = lab.ssh_config.read_text()
    assert "    User root\n" in text
    path = tmp_path / f"ssh_config.{user}"
    path.write_text(text.replace("    User root\n", f"    User {user}\n"))
    return path


def _one_line_error(result: Result, host: LabHost, pattern: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert host.name in lines[0] and re.search(pattern, lines[0]), lines[0]
    return lines[0]


@pytest.mark.parametrize("profile", ["virtual-lda", "system-lda"])
def test_ssh_plan_equals_root_plan_and_changes_nothing(
    profile: str, make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab(profile, prefix="ps")
    host = lab.hosts[0]
    recipient = RECIPIENTS[profile]
    before = _host_state(lab, host)
    live = _plan_ssh(lab.ssh_config, host, recipient)
    assert _host_state(lab, host) == before, "planning changed the host"
    assert "cannot access '/var/lib/migrator'" in before

    _copy_root(lab, host, tmp_path / "root")
    offline = _plan_json("--root", str(tmp_path / "root"), host.name, "--test-recipient", recipient)
    for part in SAME_PARTS:
        assert offline[part] == live[part], part
    for fact in SAME_FACTS:
        assert offline["facts"][fact] == live["facts"][fact], fact
    assert live["files"] and live["steps"][-1]["action"] == "test_delivery"

    # The directory plan says what it could not know; the live one knows it.
    assert offline["facts"]["live"] is False and live["facts"]["live"] is True
    assert offline["facts"]["unknown"] == list(DIRECTORY_UNKNOWN)
    assert offline["facts"]["lmtp_binary"] == "unknown" and offline["facts"]["userdb"] is None
    assert live["facts"]["unknown"] == []
    shown = _cli("plan", "--root", str(tmp_path / "root"), host.name, "--no-save")
    assert shown.exit_code == 0, shown.output
    for fact in DIRECTORY_UNKNOWN:
        assert f"not checked: {fact}" in " ".join(shown.stdout.split()), fact
    assert live["facts"]["dovecot_version"] and live["facts"]["postfix_version"]
    assert live["facts"]["userdb"]["recipient"] == recipient
    assert live["facts"]["userdb"]["exists"] and live["facts"]["userdb"]["uid"]
    # passwd knows system users as "bob", not "bob@example.test": LMTP must strip the domain.
    assert live["facts"]["userdb"]["by_local_part"] is (profile == "system-lda")
    assert live["facts"]["lmtp_binary"].endswith("/lmtp")

    # Postfix and Dovecot still deliver over the LDA.
    sent = mail.send(host, [recipient])
    [delivery] = mail.wait_delivered(lab, host, sent, timeout=60)
    assert (delivery.relay, delivery.status) == (LDA_RELAYS[profile], "sent"), delivery


# Measured on a stock virtual-lda host (bench/apply_cpu.py counts them per step).
APPLY_ROUND_TRIPS = 16
ROLLBACK_ROUND_TRIPS = 17


def test_plan_takes_two_round_trips(make_lab: LabFactory) -> None:
    """The fact script, then one read of the config files and the programs it listed."""
    lab = make_lab("virtual-lda", prefix="pr")
    transport = SSHTransport(resolve_host(lab.hosts[0].name, config=lab.ssh_config))
    try:
        plan = build_plan(transport, Options(test_recipient="alice@example.test"))
    finally:
        transport.close()
    assert plan.has_changes
    assert transport.connections == 1
    assert transport.round_trips == 2, transport.round_trips


def test_apply_and_rollback_round_trips(make_lab: LabFactory) -> None:
    """Apply with the A/B proof and its rollback, counted over one SSH connection: the lock
    reads how the host runs its daemons in the same round trip, for both; apply's journal
    entries ride on the steps' commands."""
    lab = make_lab("virtual-lda", prefix="rt")
    transport = SSHTransport(resolve_host(lab.hosts[0].name, config=lab.ssh_config))
    try:
        plan = build_plan(transport, Options(test_recipient="alice@example.test"))
        start = transport.round_trips
        applied = apply_plan(transport, plan, ApplyOptions(rollback_on_fail=True))
        applying, start = transport.round_trips - start, transport.round_trips
        report = rollback_latest(transport)
        rolling = transport.round_trips - start
    finally:
        transport.close()
    assert applied.outcome is Outcome.APPLIED, applied
    assert report is not None and report.ok, report
    print(f"\napply {applying} round trips, rollback {rolling}")
    assert applying == APPLY_ROUND_TRIPS, applying
    assert rolling == ROLLBACK_ROUND_TRIPS, rolling


def test_host_keys_unknown_refused_accepted_on_request_changed_refused(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda", prefix="pk")
    host = lab.hosts[0]
    known = tmp_path / "known_hosts"
    known.write_text("")
    config = _with_known_hosts(lab, tmp_path, known)

    refused = _cli("plan", host.name, "--ssh-config", str(config), "--no-save")
    _one_line_error(refused, host, r"unknown host key .*--accept-new-host-key")
    assert known.read_text() == ""

    _plan_ssh(config, host, "alice@example.test", "--accept-new-host-key")
    [recorded] = known.read_text().splitlines()
    [lab_entry] = lab.known_hosts.read_text().splitlines()
    assert recorded.split()[1:] == lab_entry.split()[1:]
    _plan_ssh(config, host, "alice@example.test")  # now known: no flag needed

    other = paramiko.Ed25519Key.from_private_key(io.StringIO(_new_ed25519_pem(tmp_path)))
    known.write_text(f"{recorded.split()[0]} {other.get_name()} {other.get_base64()}\n")
    changed = _cli(
        "plan", host.name, "--ssh-config", str(config), "--no-save", "--accept-new-host-key"
    )
    _one_line_error(changed, host, r"CHANGED")
    assert known.read_text().count("\n") == 1, "a changed key must not be recorded"


def _new_ed25519_pem(tmp_path: Path) -> str:
    """A fresh Ed25519 private key in OpenSSH format (paramiko cannot generate Ed25519)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )


def test_deploy_login_with_sudo_plans_as_root_and_without_sudo_fails(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda", prefix="pu")
    host = lab.hosts[0]
    as_root = _plan_ssh(lab.ssh_config, host, "alice@example.test")
    as_deploy = _plan_ssh(_with_user(lab, tmp_path, "deploy"), host, "alice@example.test")
    for part in SAME_PARTS:
        assert as_deploy[part] == as_root[part], part
    assert as_deploy["facts"] == as_root["facts"]

    # The same through the API (user= as with ssh -l): every command went through sudo -n.
    transport = connect(host.name, ssh_config=lab.ssh_config, user="deploy")
    try:
        plan = build_plan(transport, Options(test_recipient="alice@example.test"))
    finally:
        transport.close()
    assert isinstance(transport, SSHTransport) and transport.sudo
    assert transport.spec.user == "deploy" and transport.round_trips <= 4
    assert [f.sha256_after for f in plan.files] == [f["sha256_after"] for f in as_root["files"]]

    add_user = (
        "useradd -m -s /bin/sh -p '*' nosudo && install -d -m 0700 -o nosudo /home/nosudo/.ssh"
        " && install -m 0600 -o nosudo /home/deploy/.ssh/authorized_keys /home/nosudo/.ssh/"
    )
    made = lifecycle.run_in_host(host, lab, ["sh", "-c", add_user], capture=True)
    assert made.returncode == 0, made.stderr
    config = _with_user(lab, tmp_path, "nosudo")
    refused = _cli("plan", host.name, "--ssh-config", str(config), "--no-save")
    _one_line_error(refused, host, r"sudo -n refused for user nosudo.*NOPASSWD")


def test_lmtp_host_plans_no_changes(make_lab: LabFactory) -> None:
    lab = make_lab("lmtp", prefix="pl")
    host = lab.hosts[0]
    plan = _plan_ssh(lab.ssh_config, host, "alice@example.test", expect=0)
    assert plan["files"] == [] and plan["steps"] == []
