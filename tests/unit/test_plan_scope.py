"""Where apply may write, as the host says (pure parse), and a plan may not change a file's
owner or mode (the drift check, on a fixture root)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from migrator.errors import PlanDriftError
from migrator.executor.opening import check_drift
from migrator.executor.scope import ConfigDirs, parse_config_dirs
from migrator.plan.build import build_plan
from migrator.rules.switch import Options
from migrator.transport.local import LocalTransport
from tests.unit.hosts import HOSTS


def test_config_dirs_from_postconf_and_doveconf() -> None:
    output = "/etc/postfix\n# 2.3.19.1 (9b53102964): /usr/local/etc/dovecot/dovecot.conf\n"
    dirs = parse_config_dirs(output)
    assert dirs == ConfigDirs("/etc/postfix", "/usr/local/etc/dovecot")
    assert dirs.holds("/etc/postfix/main.cf") and dirs.holds("/usr/local/etc/dovecot/conf.d/x")
    assert not dirs.holds("/etc/postfix-evil/main.cf") and not dirs.holds("/etc/postfix")
    assert not dirs.holds("/root/.ssh/authorized_keys")
    # No doveconf answer: Dovecot's default; no postconf answer: nothing to trust.
    assert parse_config_dirs("/etc/postfix\n") == ConfigDirs("/etc/postfix", "/etc/dovecot")
    assert parse_config_dirs("\n") is None
    assert parse_config_dirs("etc/postfix\n") is None


@pytest.fixture
def root(tmp_path: Path) -> Path:
    copy = tmp_path / "virtual-lda"
    shutil.copytree(HOSTS / "virtual-lda", copy, symlinks=True)
    return copy


def test_a_plan_cannot_change_owner_or_mode(root: Path) -> None:
    transport = LocalTransport(root, "virtual-lda")
    plan = build_plan(transport, Options())
    assert check_drift(transport, plan).keys() == {f.path for f in plan.files}
    loose = replace(plan.files[0], mode="0666")
    with pytest.raises(PlanDriftError, match=plan.files[0].path):
        check_drift(transport, replace(plan, files=(loose, *plan.files[1:])))
    other = replace(plan.files[0], owner="nobody")
    with pytest.raises(PlanDriftError, match="changed since the plan was made"):
        check_drift(transport, replace(plan, files=(other, *plan.files[1:])))
    (root / plan.files[0].path.lstrip("/")).chmod(0o666)
    with pytest.raises(PlanDriftError):
        check_drift(transport, plan)
