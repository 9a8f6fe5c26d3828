"""The executor's fast tests' hosts: fixture plans on a ``FakeTransport``, and helpers.

Plans are real plans of fixture hosts; the host is a ``FakeTransport`` holding the same files
(see ``fake_host.py``). Only the transport is fake: the journal, the steps, the proofs and the
parsers are migrator's own.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from migrator.executor.apply import ApplyOptions, apply_plan
from migrator.executor.journal import BASE
from migrator.executor.status import StatusReport, host_status
from migrator.plan.document import Plan
from migrator.transport.base import FileData
from tests.unit.fake_host import FakeTransport
from tests.unit.hosts import fixture_hosts

NODE = "ctl-01:4711"
# The fake host acts the A/B proof out (both batches): apply's default proof.
APPLY = ApplyOptions(node=NODE)
APPLY_OR_ROLL_BACK = ApplyOptions(rollback_on_fail=True, node=NODE)
# A unix socket in Postfix's queue with a transport map to postmap; and LMTP over TCP.
NAMES = ("transport-maps", "inet-lmtp")
MAIN = "transport-maps"
_FIXTURES = {h.name: h for h in fixture_hosts()}
_TREES = tempfile.TemporaryDirectory(prefix="migrator-executor-")


# Files whose owner, group and mode are not root:root 0644 on these hosts, so that a write
# or a restore that loses them shows (a checkout cannot chown: the plan and host say so).
OWNERS = {
    "/etc/dovecot/conf.d/10-master.conf": ("root", "dovecot", 0o640),
    "/etc/postfix/transport": ("root", "postfix", 0o640),
}


@functools.cache
def planned(name: str) -> tuple[Path, Plan]:
    """A copy of the fixture host (with OWNERS' modes) and the plan made from it."""
    root = Path(_TREES.name) / name
    shutil.copytree(_FIXTURES[name].root, root)
    for path, (_, _, mode) in OWNERS.items():
        if (root / path.lstrip("/")).exists():
            (root / path.lstrip("/")).chmod(mode)
    plan = _FIXTURES[name].plan(root)
    files = tuple(
        replace(f, owner=OWNERS[f.path][0], group=OWNERS[f.path][1]) if f.path in OWNERS else f
        for f in plan.files
    )
    return root, replace(plan, files=files)


def host(name: str = MAIN) -> tuple[FakeTransport, Plan]:
    """A fake host holding the fixture's files, and its plan."""
    root, plan = planned(name)
    fake = FakeTransport.from_tree(root, name)
    for path, (owner, group, mode) in OWNERS.items():
        if path in fake.state.files:
            fake.state.files[path] = replace(fake.file(path), owner=owner, group=group)
            assert fake.file(path).mode == mode
    return fake, plan


def files_of(fake: FakeTransport, plan: Plan) -> dict[str, FileData]:
    return {change.path: fake.file(change.path) for change in plan.files}


def planned_files(plan: Plan) -> dict[str, FileData]:
    return {
        c.path: FileData(c.path, c.content_after.encode(), c.owner, c.group, int(c.mode, 8))
        for c in plan.files
    }


def actions_of(plan: Plan) -> list[str]:
    return [step.action for step in plan.steps]


def written_before(plan: Plan, index: int) -> set[str]:
    return {s.args["path"] for s in plan.steps[:index] if s.action == "write_file"}


def status(fake: FakeTransport, saved_plans: tuple[str, ...] = ()) -> StatusReport:
    """The host's status as another control node sees it; it must change nothing."""
    other = fake.connect_again()
    writes = len(fake.state.writes)
    report = host_status(other, saved_plans)
    kinds = fake.kinds(other.session)
    # The lock, then (when it names a plan) that plan's state, read after the same checks.
    assert kinds[:1] == ["peek"] and set(kinds[1:]) <= {"journal_read"}, kinds
    assert len(fake.state.writes) == writes
    return report


# The commands each step runs (write_file runs none: it is a write_atomic).
# With the A/B proof (apply's default), proof_before and test_delivery each run one batch.
COMMANDS = {"write_file": [], "proof_before": ["batch"], "test_delivery": ["batch"]}


def token(kind: str, path: str) -> str:
    if kind != "write":
        return kind
    if path == f"{BASE}/current":
        return "current"
    if path.startswith(f"{BASE}/journal/"):
        return "state" if path.endswith("/state.json") else "orig"
    return f"write {path}"


def daemons(fake: FakeTransport) -> tuple[str, str, dict[str, bytes]]:
    """What the daemons run: Postfix's and Dovecot's loaded configs, the built maps."""
    return fake.state.postfix_loaded, fake.state.dovecot_loaded, dict(fake.state.maps)


class ControlNodeKilled(BaseException):
    """The control node is killed (SIGKILL, power loss): no code of it runs any more."""


def killed_at(fake: FakeTransport, plan: Plan, kind: str) -> None:
    fake.fail(kind, raises=ControlNodeKilled(), disconnect=True)
    with pytest.raises(ControlNodeKilled):
        apply_plan(fake, plan, APPLY)
