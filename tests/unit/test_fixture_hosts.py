"""Every fixture host planned end to end: expected outcome, real postconf/doveconf, idempotence.

A new case is a new directory under fixtures/hosts/ with an expected.yaml; no code. The planned
tree is checked by the tools of the Debian release the fixture is from (``release:``, default
bookworm), run from the lab's release root, never by this machine's own packages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migrator.errors import MigratorError
from migrator.plan.document import Plan
from tests.unit.hosts import (
    MOUNT,
    FixtureHost,
    ReleaseTools,
    confine_includes,
    fixture_hosts,
    write_out,
)

HOSTS = fixture_hosts()


@pytest.mark.parametrize("host", HOSTS, ids=[h.name for h in HOSTS])
def test_fixture_host(host: FixtureHost, tmp_path: Path) -> None:
    refused = host.spec.get("refused")
    if refused:
        with pytest.raises(MigratorError) as caught:
            host.plan()
        assert refused["message"] in str(caught.value)
        if "path" in refused:
            assert caught.value.path == refused["path"]
        if "line" in refused:
            assert caught.value.line == refused["line"]
        return
    plan = host.plan()
    expect = host.spec.get("expect", {})
    assert plan.has_changes == expect.get("changes", True)
    assert [s["map"] for s in _steps(plan, "postmap")] == expect.get("postmap", [])
    for key in expect.get("unchanged_settings", []):
        assert not any(f"set {key} =" in c.summary for c in plan.changes), key
    after = write_out(host, plan, tmp_path / "host")
    again = host.plan(after)
    assert not again.has_changes, [c.summary for c in again.changes]
    confine_includes(after, expect.get("dovecot_conf", "etc/dovecot/dovecot.conf"), MOUNT)
    _check_real_configs(ReleaseTools(host.spec.get("release", "bookworm"), after), expect)


def _steps(plan: Plan, action: str) -> list[dict[str, str]]:
    return [dict(s.args) for s in plan.steps if s.action == action]


def _check_real_configs(tools: ReleaseTools, expect: dict[str, Any]) -> None:
    run = tools.run
    postfix_dir = f"{MOUNT}/etc/postfix"
    run(["postconf", "-c", postfix_dir, "-n"])
    masters = run(["postconf", "-c", postfix_dir, "-M"])
    for name, value in expect.get("postfix", {}).items():
        assert run(["postconf", "-c", postfix_dir, "-h", name]).strip() == value, name
    for name in expect.get("postfix_absent", []):
        assert name not in run(["postconf", "-c", postfix_dir, "-n"]).split(" =")
    for service in expect.get("master_services", []):
        assert any(line.split()[:1] == [service] for line in masters.splitlines()), service
    for source, entries in expect.get("maps", {}).items():
        for key, value in entries.items():
            found = run(["postmap", "-q", key, f"texthash:{MOUNT}/{source}"]).strip()
            assert found == value, f"{source} {key}"
    conf = f"{MOUNT}/" + expect.get("dovecot_conf", "etc/dovecot/dovecot.conf")
    shown = run(["doveconf", "-c", conf, "-n"])
    for fragment in expect.get("doveconf_contains", []):
        assert fragment in shown
    for filter_, settings in expect.get("dovecot", {}).items():
        argv = ["doveconf", "-c", conf] + (["-f", filter_] if filter_ else [])
        for key, value in settings.items():
            assert run([*argv, "-h", key]).strip() == value, f"{filter_} {key}"
