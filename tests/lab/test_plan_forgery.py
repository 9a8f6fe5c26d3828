"""Forged plans on a live host: whoever can write a plan file cannot make apply write outside
the host's own Postfix and Dovecot config, run a shell command, or change a file's owner or
mode. Each forgery's checksum is recomputed (anyone can); each is refused, exit 1, with
nothing changed on the host."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from migrator.executor.journal import Journal
from migrator.lab.state import Lab, LabHost
from migrator.plan.document import FileChange, Plan, Step
from migrator.plan.store import save_plan
from migrator.transport import connect
from migrator.transport.base import FileData
from tests.unit.test_plan_schema import EVIL_ID, forge

from .conftest import LabFactory
from .faults import sh
from .hostfiles import LabCli

pytestmark = pytest.mark.lab
KEYS = "/root/.ssh/authorized_keys"
MARK = "/tmp/p"
ATTACKER_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerAttackerAttackerAttackerAttacker evil\n"
)
# What a forged plan could touch: both config trees (content, owner, mode), root's keys and
# the file the shell injection would create; then the journal base (taken only by a lock).
CONFIG_SCRIPT = f"""
find /etc/postfix /etc/dovecot -xdev \\( -type f -o -type l \\) -exec sha256sum {{}} + | sort
find /etc/postfix /etc/dovecot -xdev -exec stat -c '%n %U %G %a' {{}} + | sort
sha256sum {KEYS} 2>&1; stat -c '%U %G %a' {KEYS} 2>&1
ls {MARK} 2>&1 || true
"""
JOURNAL_SCRIPT = "ls -la /var/lib/migrator 2>&1 || true"


@pytest.fixture(autouse=True)
def _no_mark() -> Iterator[None]:
    """The injection's mark must not exist before; if a failing run made it, remove it (the
    lab hosts share this machine's /tmp)."""
    assert not os.path.lexists(MARK), f"{MARK} exists already: remove it, then run again"
    yield
    with contextlib.suppress(FileNotFoundError):
        os.unlink(MARK)


def _config(lab: Lab, host: LabHost) -> str:
    return sh(lab, host, CONFIG_SCRIPT)


def _state(lab: Lab, host: LabHost) -> str:
    return _config(lab, host) + sh(lab, host, JOURNAL_SCRIPT)


def _write_to_keys(plan: Plan, keys: FileData) -> Plan:
    """main.cf's write aimed at root's authorized_keys (its live content, owner and mode, so
    no drift check stops it), with facts that claim /root is Postfix's config directory: a
    plan the schema alone cannot tell from a real one."""
    main = plan.files[0]
    assert keys.content is not None
    current = keys.content.decode()
    after = current + ATTACKER_KEY
    forged = FileChange(
        path=KEYS,
        owner=keys.owner,
        group=keys.group,
        mode=f"{keys.mode:04o}",
        sha256_before=hashlib.sha256(keys.content).hexdigest(),
        sha256_after=hashlib.sha256(after.encode()).hexdigest(),
        content_before=current,
        content_after=after,
    )
    steps = tuple(
        Step("write_file", {"path": KEYS, "sha256_before": forged.sha256_before,
                            "sha256_after": forged.sha256_after})
        if step.args.get("path") == main.path
        else step
        for step in plan.steps
    )  # fmt: skip
    facts = {**plan.facts, "config_directory": "/root"}
    return replace(plan, files=(forged, *plan.files[1:]), steps=steps, facts=facts)


def test_forged_plans_are_refused_with_nothing_changed(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path / "plans")
    plan = cli.plan(host)
    with connect(host.name, ssh_config=lab.ssh_config) as transport:
        keys = transport.read_files([KEYS])[KEYS]
    before = _state(lab, host)
    assert f"cannot access '{MARK}'" in before, "the injection's mark exists already"
    assert "cannot access '/var/lib/migrator'" in before

    # 1. Loads (the schema cannot know the host), refused against the host's own postconf.
    saved = save_plan(_write_to_keys(plan, keys), tmp_path / "forged")
    applied = cli("apply", host.name, "--plan", str(saved), "--rollback-on-fail")
    assert applied.exit_code == 1, applied.output
    assert f"would write '{KEYS}', outside this host's Postfix (/etc/postfix)" in applied.output
    assert _state(lab, host) == before

    # 2. The same write with the facts left alone, and 3. a shell in the plan id: the schema.
    data = json.loads(save_plan(plan, tmp_path / "real").read_text())
    for mutate, expected in (
        (_aim_at_keys, f"files[0].path: '{KEYS}' is outside"),
        (lambda d: d.update(plan_id=EVIL_ID), "plan_id: "),
    ):
        path = tmp_path / "forged.json"
        path.write_text(json.dumps(forge(data, mutate)))
        applied = cli("apply", host.name, "--plan", str(path), "--rollback-on-fail")
        assert applied.exit_code == 1 and expected in applied.output, applied.output
        assert len(applied.output.splitlines()) == 1
        assert _state(lab, host) == before

    # 4. A plan may not change a file's mode: 0666 on main.cf is drift, refused.
    loose = replace(plan.files[0], mode="0666")
    saved = save_plan(replace(plan, files=(loose, *plan.files[1:])), tmp_path / "loose")
    applied = cli("apply", host.name, "--plan", str(saved), "--rollback-on-fail")
    assert applied.exit_code == 1 and "changed since the plan was made" in applied.output
    assert _config(lab, host) == _config_part(before)


def _config_part(state: str) -> str:
    return state[: state.index("ls: cannot access '/var/lib/migrator'")]


def _aim_at_keys(data: dict[str, object]) -> None:
    files = data["files"]
    steps = data["steps"]
    assert isinstance(files, list) and isinstance(steps, list)
    files[0]["path"] = KEYS
    for step in steps:
        if step["args"].get("path") == "/etc/postfix/main.cf":
            step["args"]["path"] = KEYS


def test_the_unlock_script_takes_the_plan_id_as_data(make_lab: LabFactory) -> None:
    """Even a plan id no schema checked runs nothing: the journal passes it as $2."""
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    assert "No such file" in sh(lab, host, f"ls {MARK} 2>&1 || true")
    with connect(host.name, ssh_config=lab.ssh_config) as transport:
        journal = Journal(transport, EVIL_ID)
        journal.lock("test-node")
        journal.unlock()
        assert "No such file" in sh(lab, host, f"ls {MARK} 2>&1 || true")
        # The lock was ours (the id matched as a fixed string): it is gone.
        assert not transport.run(["test", "-e", "/var/lib/migrator/lock"]).ok


def test_a_signed_plan_applies_and_one_changed_after_signing_does_not(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path / "plans")
    key = tmp_path / "plan.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    planned = cli(
        "plan", host.name, "--test-recipient", "alice@example.test", "--plan-key", str(key)
    )
    assert planned.exit_code == 0, planned.output
    saved = cli.latest_plan(host)
    before = _state(lab, host)

    # The forger keeps the signature and recomputes the checksum: refused, nothing changed.
    data = json.loads(saved.read_text())
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(forge(data, lambda d: d["warnings"].append("reviewed"))))
    verify = ["--plan-key", str(key), "--require-signature"]
    refused = cli("apply", host.name, "--plan", str(forged), *verify)
    assert refused.exit_code == 1 and "changed after it was signed" in refused.output
    assert _state(lab, host) == before

    applied = cli("apply", host.name, "--plan", str(saved), "--rollback-on-fail", *verify)
    assert applied.exit_code == 0, applied.output
    assert "migrated" in cli("status", host.name).output
