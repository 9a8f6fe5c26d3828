"""Plan documents: save/load round trip, mode 0600, refusal of edited or foreign plans."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from migrator.errors import PlanError
from migrator.plan.document import Plan
from migrator.plan.store import load_plan, save_plan
from tests.unit.hosts import fixture_hosts

HOST = next(h for h in fixture_hosts() if h.name == "virtual-lda")


@pytest.fixture(scope="module")
def plan() -> Plan:
    return HOST.plan()


def test_round_trip(plan: Plan, tmp_path: Path) -> None:
    path = save_plan(plan, tmp_path)
    assert path == tmp_path / "virtual-lda" / f"{plan.plan_id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_plan(path, host="virtual-lda") == plan


def test_contents(plan: Plan) -> None:
    data = plan.to_dict()
    assert data["format_version"] == 1
    assert data["host"] == "virtual-lda"
    assert [f["path"] for f in data["files"]] == [
        "/etc/postfix/main.cf",
        "/etc/dovecot/conf.d/10-master.conf",
        "/etc/dovecot/conf.d/20-lmtp.conf",
    ]
    actions = [s["action"] for s in data["steps"]]
    # Dovecot first, proven by the probe; only then does main.cf name LMTP.
    assert actions == [
        "proof_before",
        "write_file",
        "write_file",
        "validate_dovecot",
        "reload_dovecot",
        "wait_socket",
        "probe_lmtp",
        "write_file",
        "validate_postfix",
        "reload_postfix",
        "test_delivery",
    ]
    assert data["steps"][7]["args"]["path"] == "/etc/postfix/main.cf"
    changed = data["settings_diff"]["values_changed"]
    assert changed["root['postfix_main']['virtual_transport']"] == {
        "new_value": "lmtp:unix:private/dovecot-lmtp",
        "old_value": "dovecot",
    }


def test_hand_edited_plan_is_refused(plan: Plan, tmp_path: Path) -> None:
    path = save_plan(plan, tmp_path)
    data = json.loads(path.read_text())
    data["files"][0]["content_after"] += "\nvirtual_transport = smtp\n"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanError, match="edited by hand"):
        load_plan(path, host="virtual-lda")


def test_plan_for_another_host_is_refused(plan: Plan, tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="for host 'virtual-lda'"):
        load_plan(save_plan(plan, tmp_path), host="mx2")


def test_not_a_plan(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    with pytest.raises(PlanError, match="not a migrator plan"):
        load_plan(path)
    path.write_text("{")
    with pytest.raises(PlanError, match="cannot read plan"):
        load_plan(path)
