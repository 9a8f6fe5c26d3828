"""finalize's rule and plan on fixture trees: the pipe service goes, nothing else does."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from migrator.config.reader import Reader
from migrator.config.tree import ConfigTree
from migrator.errors import PlanError, RefusedError
from migrator.host.fact_overrides import overrides_from_mapping
from migrator.host.queue import QueuedMessage, bound_to, parse_queue
from migrator.host.snapshot import read_host
from migrator.plan.build import plan_from_snapshot
from migrator.plan.document import Plan
from migrator.rules.switch import Options
from migrator.transport.base import sha256
from migrator.transport.local import LocalTransport
from tests.unit.hosts import FIXED_NOW, fixture_hosts, write_out

FIXTURES = {h.name: h for h in fixture_hosts()}
PIPE = "dovecot   unix  -       n       n       -       -       pipe\n"
LIMIT = "dovecot_destination_recipient_limit = 1\n"


def finalize_plan(root: Path, name: str = "already-lmtp") -> Plan:
    """The finalize plan of a tree, planned as `migrator finalize` plans (queue aside)."""
    spec = FIXTURES[name].spec
    overrides = overrides_from_mapping(spec.get("facts", {}))
    options = Options(**spec.get("options", {}))
    with ConfigTree(name, {}, {}) as tree:
        reader = Reader(tree)
        transport = LocalTransport(root, name)
        facts, snapshot = read_host(transport, options.test_recipient, overrides, reader=reader)
        return plan_from_snapshot(
            facts, snapshot, options, now=FIXED_NOW, reader=reader, finalize=True
        )


def tree(tmp_path: Path, name: str = "already-lmtp") -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES[name].root, root)
    return root


def test_finalize_removes_the_pipe_service_and_its_recipient_limit(tmp_path: Path) -> None:
    plan = finalize_plan(tree(tmp_path))
    files = {f.path: f for f in plan.files}
    assert sorted(files) == ["/etc/postfix/main.cf", "/etc/postfix/master.cf"]
    master, main = files["/etc/postfix/master.cf"], files["/etc/postfix/main.cf"]
    assert PIPE in master.content_before and PIPE not in master.content_after
    assert "argv=/usr/lib/dovecot/dovecot-lda" not in master.content_after
    assert LIMIT in main.content_before and LIMIT not in main.content_after
    # Nothing else changes: exactly the service's two lines and the limit's one go.
    assert len(master.content_before.splitlines()) - len(master.content_after.splitlines()) == 2
    assert main.content_before.replace(LIMIT, "") == main.content_after
    assert plan.lda_services == ("dovecot",) and plan.finalizes == ("dovecot",)
    assert plan.endpoint == "lmtp:unix:private/dovecot-lmtp"
    assert [s.action for s in plan.steps] == [
        "check_queue",
        "write_file",
        "write_file",
        "validate_postfix",
        "reload_postfix",
        "test_delivery",
    ]
    assert plan.steps[0].args == {"services": "dovecot"}
    assert plan.steps[-1].args == {"recipient": "alice@example.test"}


def test_a_finalize_plan_passes_the_schema_and_round_trips(tmp_path: Path) -> None:
    plan = finalize_plan(tree(tmp_path))
    again = Plan.from_dict(json.loads(plan.to_json()), host=plan.host)
    assert again == plan
    assert again.describe(again.steps[0]) == (
        "refuse, changing nothing, while a queued message is bound to dovecot "
        "(postqueue -j, each envelope by postcat -qe)"
    )
    # Saved by an earlier migrator, in its words: loads, and shows today's.
    data = json.loads(plan.to_json())
    data["steps"][0]["description"] = "refuse while the queue holds mail for dovecot (postqueue -j)"
    assert Plan.from_dict(_resealed_data(data), host=plan.host) == plan


def _resealed(plan: Plan, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The plan's JSON data changed by ``change``, with a checksum that matches again."""
    data = json.loads(plan.to_json())
    change(data)
    return _resealed_data(data)


def _resealed_data(data: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in data.items() if k != "checksum"}
    return {
        **data,
        "checksum": sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()),
    }


def test_the_schema_refuses_a_queue_check_out_of_place_or_malformed(tmp_path: Path) -> None:
    plan = finalize_plan(tree(tmp_path))

    def move(data: dict[str, Any]) -> None:
        data["steps"].append(data["steps"].pop(0))

    def forge(data: dict[str, Any]) -> None:
        data["steps"][0]["args"]["services"] = "dovecot;rm"

    with pytest.raises(PlanError, match=r"check_queue must come before everything else"):
        Plan.from_dict(_resealed(plan, move), host=plan.host)
    with pytest.raises(PlanError, match=r"steps\[0\].args.services: 'dovecot;rm' is not"):
        Plan.from_dict(_resealed(plan, forge), host=plan.host)

    def other(data: dict[str, Any]) -> None:
        data["steps"][0]["args"]["services"] = "maildrop"
        data["steps"][0]["description"] = data["steps"][0]["description"].replace(
            "dovecot", "maildrop"
        )

    with pytest.raises(PlanError, match=r"services: are not the plan's lda_services"):
        Plan.from_dict(_resealed(plan, other), host=plan.host)


def test_finalizing_the_result_again_changes_nothing(tmp_path: Path) -> None:
    plan = finalize_plan(tree(tmp_path))
    done = write_out(FIXTURES["already-lmtp"], plan, tmp_path / "done")
    again = finalize_plan(done)
    assert not again.has_changes and again.steps == ()
    assert any("nothing to finalize" in w for w in again.warnings)


def test_a_host_still_on_the_lda_is_refused_naming_the_hook(tmp_path: Path) -> None:
    root = tree(tmp_path, "transport-maps")
    with pytest.raises(RefusedError, match=r"still delivers through the LDA") as caught:
        finalize_plan(root, "transport-maps")
    assert caught.value.path == "/etc/postfix/transport"


def test_another_parameter_naming_the_service_keeps_it(tmp_path: Path) -> None:
    root = tree(tmp_path)
    main = root / "etc/postfix/main.cf"
    main.write_text(main.read_text() + "content_filter = dovecot:\n")
    with pytest.raises(RefusedError, match=r"content_filter = dovecot: still names") as caught:
        finalize_plan(root)
    assert caught.value.path == "/etc/postfix/main.cf" and caught.value.line is not None


def test_a_master_option_naming_the_service_keeps_it(tmp_path: Path) -> None:
    root = tree(tmp_path)
    master = root / "etc/postfix/master.cf"
    text = master.read_text().replace(
        "smtp      inet  n       -       y       -       -       smtpd\n",
        "smtp      inet  n       -       y       -       -       smtpd\n"
        "  -o content_filter=dovecot:dummy\n",
        1,
    )
    assert "content_filter=dovecot" in text
    master.write_text(text)
    with pytest.raises(RefusedError, match=r"service smtp\S* sets content_filter=dovecot:dummy"):
        finalize_plan(root)


QUEUE = """\
message hold 947C7188707 dovecot:
message deferred A1B2C3 -
message active D4E5F6 smtp:[relay.example.net]
"""


def test_the_queue_fact_names_each_message_and_its_content_filter() -> None:
    messages = parse_queue(QUEUE)
    assert messages == (
        QueuedMessage("hold", "947C7188707", "dovecot:"),
        QueuedMessage("deferred", "A1B2C3", ""),
        QueuedMessage("active", "D4E5F6", "smtp:[relay.example.net]"),
    )
    assert bound_to(messages, ["dovecot"]) == [messages[0]]
    assert bound_to(messages, ["smtp", "dovecot"]) == [messages[0], messages[2]]
    assert bound_to(messages, ["lda"]) == []


def test_other_settings_of_the_removed_service_are_named_not_removed(tmp_path: Path) -> None:
    root = tree(tmp_path)
    main = root / "etc/postfix/main.cf"
    main.write_text(main.read_text() + "dovecot_time_limit = 600s\n")
    plan = finalize_plan(root)
    after = next(f.content_after for f in plan.files if f.path == "/etc/postfix/main.cf")
    assert "dovecot_time_limit = 600s\n" in after and LIMIT not in after
    assert any(w.startswith("dovecot_time_limit (main.cf line ") for w in plan.warnings)
