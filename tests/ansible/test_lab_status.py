"""A finalized host under ansible-playbook on lab hosts: lmtp_info says finalized (not
migrated), the migration it followed and what the next rollback undoes; state=rolled_back
with a file edited since refuses in one line with nothing changed (check mode too) unless
force: true, which is `migrator rollback --force` (the edit's copy kept in the journal), and
leaves the host migrated; force with another state is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.lab.conftest import LabFactory
from tests.lab.faults import sh
from tests.lab.hostfiles import LabCli, file_states
from tests.lab.test_status_finalized import undoing_finalize

from .conftest import play
from .test_lab_finalize import finalize_task

pytestmark = pytest.mark.lab

RECIPIENT = "alice@example.test"
MASTER = "/etc/postfix/master.cf"
POSTFIX = ["/etc/postfix/main.cf", MASTER]
INFO = "    - name: info\n      migrator.mail.lmtp_info:\n"


def rollback_task(*lines: str) -> str:
    """A task named lmtp with state rolled_back and LINES (``key: value``) as its parameters."""
    body = "".join(f"        {line}\n" for line in ("state: rolled_back", *lines))
    return f"    - name: lmtp\n      migrator.mail.lmtp:\n{body}"


def test_lmtp_info_on_a_finalized_host_and_rolled_back_with_force(
    make_lab: LabFactory, ansible_factory: Any, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda", 1, prefix="as")
    [host] = lab.hosts
    cli = LabCli(lab, tmp_path / "plans")
    cli.migrate(host, RECIPIENT)
    migration = cli.latest_plan(host).stem
    ansible = ansible_factory(lab.ssh_config)
    inventory = ansible.inventory({host.name: {"migrator_test_recipient": RECIPIENT}})

    def info() -> dict[str, Any]:
        return ansible.play(inventory, play(INFO)).result(host.name, "info")

    migrated = info()
    assert (migrated["state"], migrated["plan_id"], migrated["migration_plan_id"]) == (
        "migrated",
        migration,
        "",
    )
    assert migrated["rollback"]["undoes"] == "migration"
    done = ansible.play(inventory, play(finalize_task()))
    assert done.rc == 0, done.output
    final = done.result(host.name)["plan_id"]

    found = info()
    assert (found["state"], found["plan_id"], found["migration_plan_id"]) == (
        "finalized",
        final,
        migration,
    )
    assert found["status"].startswith(f"{host.name}: finalized (plan {final}): ")
    assert found["rollback"] == undoing_finalize(final, migration)
    assert found["changed"] is False

    # force is rollback's: with any other state it fails the task, never ignored.
    moot = ansible.play(inventory, play(finalize_task("force: true"))).result(host.name)
    assert moot["_status"] == "failed"
    assert "force does not apply to state=finalized" in moot["msg"], moot["msg"]

    sh(lab, host, f"echo '# by hand' >> {MASTER}")
    edited = file_states(lab, host, POSTFIX)
    drifted = info()
    assert drifted["state"] == "drifted since apply"
    assert (drifted["rollback"]["needs_force"], drifted["rollback"]["edited"]) == (True, [MASTER])
    # Without force: refused in one line naming the file, in check mode and for real.
    for mode in (("--check",), ()):
        refused = ansible.play(inventory, play(rollback_task()), *mode).result(host.name)
        assert refused["_status"] == "failed" and "\n" not in refused["msg"], refused
        assert refused["msg"].startswith(f"{host.name}: edited since apply: {MASTER}")
        assert "force: true" in refused["msg"], refused["msg"]
    assert file_states(lab, host, POSTFIX) == edited
    assert info()["state"] == "drifted since apply"

    checked = ansible.play(inventory, play(rollback_task("force: true")), "--check")
    predicted = checked.result(host.name)
    assert (predicted["changed"], predicted["undoes"], predicted["plan_id"]) == (
        True,
        "finalize",
        final,
    )
    assert file_states(lab, host, POSTFIX) == edited

    forced = ansible.play(inventory, play(rollback_task("force: true")))
    undone = forced.result(host.name)
    assert (undone["changed"], undone["outcome"]) == (True, "rolled back"), forced.output
    assert undone["proof"]["relay"].endswith("dovecot-lmtp]"), undone["proof"]
    assert MASTER in undone["restored"]
    kept = sh(lab, host, f"cat /var/lib/migrator/journal/{final}/drift/*")
    assert kept.endswith("# by hand\n"), "the edited copy stays in the journal"
    back = info()
    assert (back["state"], back["plan_id"], back["migration_plan_id"]) == (
        "migrated",
        migration,
        "",
    )
    assert (back["rollback"]["undoes"], back["rollback"]["leaves"]) == ("migration", "rolled back")
