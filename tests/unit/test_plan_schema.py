"""A forged plan is refused by its schema: one case per rule, each a plan whose checksum the
forger recomputed, each refused by `apply --plan` in one line naming the file and the field,
exit 1, before any host is reached."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.errors import PlanError
from migrator.plan.document import Plan
from migrator.plan.store import load_plan, save_plan
from tests.unit.hosts import fixture_hosts

Data = dict[str, Any]
EVIL_ID = 'x";touch${IFS}/tmp/p;"'


@pytest.fixture(scope="module")
def plan_data() -> Data:
    plan = next(h for h in fixture_hosts() if h.name == "virtual-lda").plan()
    data: Data = json.loads(plan.to_json())
    return data


def _step(data: Data, action: str) -> Data:
    step: Data = next(s for s in data["steps"] if s["action"] == action)
    return step


def _set(*keys: str | int, value: Any) -> Callable[[Data], None]:
    def mutate(data: Data) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]  # type: ignore[index]
        target[keys[-1]] = value  # type: ignore[index]

    return mutate


def _authorized_keys(data: Data) -> None:
    """Point the first file and its write step at root's authorized_keys."""
    data["files"][0]["path"] = "/root/.ssh/authorized_keys"
    step = next(s for s in data["steps"] if s["args"].get("path") == "/etc/postfix/main.cf")
    step["args"]["path"] = "/root/.ssh/authorized_keys"


def _extra_write(data: Data) -> None:
    step = copy.deepcopy(_step(data, "write_file"))
    data["steps"].append(step)


def _no_write(data: Data) -> None:
    data["steps"] = [s for s in data["steps"] if s["args"].get("path") != "/etc/postfix/main.cf"]


def _step_sha(data: Data) -> None:
    _step(data, "write_file")["args"]["sha256_after"] = "0" * 64


def _content(data: Data) -> None:
    data["files"][0]["content_after"] += "\nmydestination = evil\n"


def _postmap(data: Data) -> None:
    data["steps"].insert(7, {"action": "postmap", "description": "", "args": {}})
    data["steps"][7]["args"]["map"] = "hash:/root/.ssh/authorized_keys"
    data["steps"][7]["description"] = "postmap hash:/root/.ssh/authorized_keys"


CASES: list[tuple[str, Callable[[Data], None], str]] = [
    ("plan_id shell", _set("plan_id", value=EVIL_ID), "plan_id: "),
    ("plan_id newline", _set("plan_id", value="20260101T120000Z-7704203f\nx"), "plan_id: "),
    ("plan_id time", _set("plan_id", value="20250101T120000Z-7704203f"), "plan_id: "),
    ("created", _set("created", value="yesterday"), "created: "),
    ("host", _set("host", value="virtual-lda;id"), "host: "),
    ("version type", _set("migrator_version", value=1), "migrator_version: must be a string"),
    ("unknown field", _set("run", value="id"), "plan: unknown field 'run'"),
    ("missing field", lambda d: d.pop("steps"), "plan: missing field 'steps'"),
    ("relative path", _set("files", 0, "path", value="etc/postfix/main.cf"), "files[0].path: "),
    ("dotdot", _set("files", 0, "path", value="/etc/postfix/../shadow"), "files[0].path: "),
    ("nul", _set("files", 0, "path", value="/etc/postfix/main.cf\x00"), "files[0].path: "),
    ("outside", _authorized_keys, "files[0].path: '/root/.ssh/authorized_keys' is outside"),
    ("twice", _set("files", 1, "path", value="/etc/postfix/main.cf"), "appears twice"),
    ("mode", _set("files", 0, "mode", value="4777x"), "files[0].mode: "),
    ("mode digits", _set("files", 0, "mode", value="644"), "files[0].mode: "),
    ("owner", _set("files", 0, "owner", value="root;id"), "files[0].owner: "),
    ("group", _set("files", 0, "group", value=""), "files[0].group: "),
    ("sha", _set("files", 0, "sha256_before", value="abc"), "files[0].sha256_before: "),
    ("content", _content, "files[0]: content does not match its sha256"),
    ("diff", _set("files", 0, "diff", value="(nothing)"), "files[0].diff: "),
    ("description", _set("steps", 0, "description", value="nothing"), "steps[0].description"),
    ("action", _set("steps", 3, "action", value="run_shell"), "steps[3].action: unknown"),
    ("extra arg", _set("steps", 3, "args", "sh", value="id"), "steps[3].args: unknown field"),
    ("missing arg", _set("steps", 3, "args", value={}), "steps[3].args: missing field 'argv'"),
    ("argv", _set("steps", 3, "args", "argv", value="sh -c id"), "steps[3].args.argv: "),
    ("arg type", _set("steps", 3, "args", "argv", value=["doveconf"]), "must be a string"),
    ("write elsewhere", _set("steps", 1, "args", "path", value="/etc/postfix/x"), "not a file"),
    ("write sha", _step_sha, "sha256_after: differs from the file's"),
    ("write twice", _extra_write, "steps: must write each file of the plan exactly once"),
    ("write none", _no_write, "steps: must write each file of the plan exactly once"),
    ("postmap", _postmap, ".args.map: '/root/.ssh/authorized_keys' is not a file"),
    ("socket", _set("steps", 5, "args", "path", value="/tmp/s"), "steps[5].args.path: "),
    ("socket mode", _set("steps", 5, "args", "mode", value="7777 "), "steps[5].args.mode: "),
    ("recipient", _set("steps", 6, "args", "recipient", value="a@b\r\nDATA"), "recipient: "),
    ("endpoint", _set("endpoint", value="smtp:evil"), "endpoint: not an LMTP next hop"),
    ("probe endpoint", _set("steps", 6, "args", "endpoint", value="lmtp:x:24"), "endpoint"),
    ("queue dir", _set("facts", "queue_directory", value="spool"), "facts.queue_directory: "),
    ("mail owner", _set("facts", "mail_owner", value="$(id)"), "facts.mail_owner: "),
    ("services", _set("lda_services", value="dovecot"), "lda_services: must be a list"),
    ("warning", _set("warnings", value=["\x1b]0;owned\x07"]), "warnings[0]: contains a control"),
    ("summary", _set("changes", 0, "summary", value=7), "changes[0].summary: must be a string"),
    ("settings", _set("settings_diff", value=[]), "settings_diff: must be an object"),
    ("signature", _set("signature", value={"algorithm": "none"}), "signature: must be"),
    # What the A/B proof may let pass: only the two forms the rules write.
    ("accepts any", _set("steps", 0, "args", "accepts", value="*:status"), ".accepts: "),
    ("accepts shell", _set("steps", 0, "args", "accepts", value="*:header x;rm"), ".accepts: "),
    ("accepts code", _set("steps", 0, "args", "accepts", value="plain:bounced 5"), ".accepts: "),
]


def forge(data: Data, mutate: Callable[[Data], None]) -> Data:
    """The plan with one change, its checksum recomputed as anyone can."""
    forged = copy.deepcopy(data)
    mutate(forged)
    forged.pop("checksum", None)
    signature = forged.pop("signature", None)
    canonical = json.dumps(forged, sort_keys=True, separators=(",", ":")).encode()
    forged["checksum"] = hashlib.sha256(canonical).hexdigest()
    if signature is not None:
        forged["signature"] = signature
    return forged


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_forged_plan_is_refused_in_one_line(
    plan_data: Data, tmp_path: Path, mutate: Callable[[Data], None], expected: str
) -> None:
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forge(plan_data, mutate)))
    with pytest.raises(PlanError) as raised:
        load_plan(path)
    message = str(raised.value)
    assert expected in message and str(path) in message
    result = CliRunner().invoke(main, ["apply", "virtual-lda", "--plan", str(path)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr


def test_the_forger_recomputed_checksum_is_what_build_would_have_made(
    plan_data: Data, tmp_path: Path
) -> None:
    """The control case: forging with no change gives a plan that loads (so the refusals
    above are the schema's, not the checksum's)."""
    path = tmp_path / "same.json"
    path.write_text(json.dumps(forge(plan_data, lambda d: None)))
    assert json.loads(load_plan(path).to_json()) == plan_data


def test_every_fixture_plan_passes_its_schema(tmp_path: Path) -> None:
    plans = []
    for host in fixture_hosts():
        try:
            plans.append(host.plan())
        except Exception:  # a refused fixture has no plan to check
            continue
    assert len(plans) > 10
    for plan in plans:
        assert load_plan(save_plan(plan, tmp_path), host=plan.host) == plan


def test_descriptions_come_from_actions(plan_data: Data) -> None:
    plan = Plan.from_dict(plan_data)
    write = next(s for s in plan.steps if s.action == "write_file")
    assert plan.describe(write).startswith(f"write {write.args['path']} (keeping owner ")
    assert not hasattr(write, "description")
