"""Signed plans: the key file's checks, sign at plan, verify at apply, refuse unsigned or
another key's plans (one line, exit 1, no host reached), and the fleet's saved plans."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from migrator.cli import main
from migrator.errors import PlanError, UsageError
from migrator.plan.signature import PlanTrust, read_key
from migrator.plan.store import load_plan
from tests.unit.hosts import HOSTS
from tests.unit.test_plan_schema import forge


def _key(tmp_path: Path, name: str = "plan.key", mode: int = 0o600, size: int = 32) -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    path.chmod(mode)
    return path


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def _plan(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> Path:
    plans = tmp_path / "plans"
    root = str(HOSTS / "virtual-lda")
    result = _run("plan", "mx1", "--root", root, "--plans-dir", str(plans), *extra, env=env)
    assert result.exit_code == 0, result.output
    (saved,) = (plans / "mx1").glob("*.json")
    return saved


def test_key_file_checks(tmp_path: Path) -> None:
    key = read_key(_key(tmp_path))
    assert len(key.key_id) == 16 and key.secret.hex() not in repr(key)
    with pytest.raises(UsageError, match="at least 32 random bytes"):
        read_key(_key(tmp_path, "short.key", size=31))
    for mode in (0o640, 0o604, 0o620):
        with pytest.raises(UsageError, match=f"mode {mode:04o}: group and others"):
            read_key(_key(tmp_path, f"{mode:o}.key", mode=mode))
    link = tmp_path / "link.key"
    link.symlink_to(_key(tmp_path, "target.key"))
    with pytest.raises(UsageError, match="cannot read plan key"):
        read_key(link)
    with pytest.raises(UsageError, match="not a regular file"):
        read_key(tmp_path)


def test_plan_signs_and_apply_verifies(tmp_path: Path) -> None:
    key_file = _key(tmp_path)
    saved = _plan(tmp_path, "--plan-key", str(key_file))
    signature = json.loads(saved.read_text())["signature"]
    key_id = hashlib.sha256(key_file.read_bytes()).hexdigest()[:16]
    assert signature["algorithm"] == "hmac-sha256" and signature["key_id"] == key_id
    trust = PlanTrust(read_key(key_file), require_signature=True)
    assert load_plan(saved, host="mx1", trust=trust).host == "mx1"
    # Without a key, a signed plan still loads (its checksum is checked, as an unsigned one's).
    assert load_plan(saved, host="mx1").plan_id == saved.stem
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(saved.parent.parent.stat().st_mode) == 0o700


def test_a_plan_changed_after_signing_is_refused(tmp_path: Path) -> None:
    key_file = _key(tmp_path)
    saved = _plan(tmp_path, "--plan-key", str(key_file))
    data = json.loads(saved.read_text())
    forged = forge(data, lambda d: d["warnings"].append("all is well"))
    saved.write_text(json.dumps(forged))
    result = _run("apply", "mx1", "--plan", str(saved), "--plan-key", str(key_file))
    assert result.exit_code == 1
    assert result.stderr == (
        f"migrator: error: mx1: {saved}: signature: does not match: "
        "the plan was changed after it was signed\n"
    )


def test_another_keys_plan_is_refused(tmp_path: Path) -> None:
    saved = _plan(tmp_path, "--plan-key", str(_key(tmp_path, "theirs.key")))
    ours = _key(tmp_path, "ours.key")
    result = _run("apply", "mx1", "--plan", str(saved), "--plan-key", str(ours))
    assert result.exit_code == 1
    assert "signature: signed with key" in result.stderr and str(saved) in result.stderr


def test_unsigned_plan_is_refused_only_when_a_signature_is_required(tmp_path: Path) -> None:
    saved = _plan(tmp_path)
    assert "signature" not in json.loads(saved.read_text())
    key_file = _key(tmp_path)
    assert load_plan(saved, trust=PlanTrust(read_key(key_file))).host == "mx1"
    env = {"MIGRATOR_PLAN_KEY_FILE": str(key_file), "MIGRATOR_REQUIRE_SIGNATURE": "1"}
    result = _run("apply", "mx1", "--plan", str(saved), env=env)
    assert result.exit_code == 1
    assert result.stderr.endswith("signature: plan is not signed, and a signature is required\n")
    result = _run("apply", "mx1", "--plan", str(saved), "--require-signature")
    assert result.exit_code == 1 and "--require-signature needs --plan-key" in result.stderr


def test_plan_key_from_the_environment_signs(tmp_path: Path) -> None:
    key_file = _key(tmp_path)
    saved = _plan(tmp_path, env={"MIGRATOR_PLAN_KEY_FILE": str(key_file)})
    trust = PlanTrust(read_key(key_file), require_signature=True)
    assert load_plan(saved, trust=trust).plan_id == saved.stem
    loose = _key(tmp_path, "loose.key", mode=0o644)
    result = _run("plan", "mx1", "--root", str(HOSTS / "virtual-lda"), "--plan-key", str(loose))
    assert result.exit_code == 1 and "group and others must have no access" in result.stderr


def test_fleet_saved_plans_are_verified(tmp_path: Path) -> None:
    saved = _plan(tmp_path)  # unsigned
    key_file = _key(tmp_path)
    report = tmp_path / "r.json"
    result = _run(
        "apply", "-i", "mx1,", "--saved-plans", "--plans-dir", str(saved.parents[1]),
        "--plan-key", str(key_file), "--require-signature", "--report-json", str(report),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    (host,) = json.loads(report.read_text())["hosts"]
    assert host["outcome"] == "error" and "plan is not signed" in host["error"]


def test_signature_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    saved = _plan(tmp_path, "--plan-key", str(_key(tmp_path)))
    data = json.loads(saved.read_text())
    data["signature"]["mac"] = "not hex"
    saved.write_text(json.dumps(data))
    with pytest.raises(PlanError, match=r"signature\.mac: malformed"):
        load_plan(saved)
