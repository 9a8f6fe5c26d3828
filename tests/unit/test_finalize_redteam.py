"""Hostile finalize input: forged plans, queue output the host controls, a pipe service
named like a Postfix built-in. Each is refused in one line before anything changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from migrator.errors import FactError, PlanError, RefusedError
from migrator.executor.apply import apply_plan
from migrator.executor.status import HostState
from migrator.host.queue import UNREADABLE, QueuedMessage, bound_to, parse_queue
from migrator.plan.document import Plan
from tests.unit.executor_host import APPLY, status
from tests.unit.test_executor_finalize import migrated
from tests.unit.test_finalize_plan import _resealed, finalize_plan, tree


@pytest.mark.parametrize(
    "output",
    [
        "message deferred A1B2C3 -\ngarbage line\n",
        "message deferred A1B2C3\n",
        "message deferred A1;B2 dovecot:\n",
        "message Deferred A1B2C3 dovecot:\n",
        "unreadable deferred A1B2C3 extra\n",
        "\x00\n",
    ],
)
def test_queue_output_not_of_the_scripts_form_is_an_error_not_skipped(output: str) -> None:
    with pytest.raises(FactError, match=r"cannot read the mail queue: unexpected line") as caught:
        parse_queue(output, "mx1")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("mx1: ")


def test_a_content_filter_with_spaces_or_separators_still_binds_its_message() -> None:
    """The host writes the filter: 'dovecot: x y' used to fail the line's regex, and the
    message bound to the pipe was skipped; a \\x1c split it in two lines."""
    messages = parse_queue(
        "message hold AAA111 dovecot: next hop\n"
        "message deferred BBB222  dovecot :x\x1cmessage deferred CCC333 -\n"
        "unreadable active DDD444\n"
    )
    assert [m.queue_id for m in messages] == ["AAA111", "BBB222", "DDD444"]
    assert messages[2] == QueuedMessage("active", "DDD444", UNREADABLE)
    assert [m.queue_id for m in bound_to(messages, ["dovecot"])] == ["AAA111", "BBB222", "DDD444"]


def test_apply_refuses_while_a_spaced_filter_or_an_unreadable_message_is_queued() -> None:
    fake, plan, final = migrated()
    fake.state.queue = ["message hold 947C7188707 dovecot: x", "unreadable deferred A1B2C3"]
    writes = len(fake.state.writes)
    with pytest.raises(RefusedError, match=r"2 message\(s\) .*A1B2C3 \(deferred, unreadable\)"):
        apply_plan(fake.connect_again(), final, APPLY)
    assert len(fake.state.writes) == writes and not fake.locked
    assert (status(fake).state, status(fake).plan_id) == (HostState.MIGRATED, plan.plan_id)


def test_hostile_queue_output_refuses_with_nothing_changed() -> None:
    fake, _, final = migrated()
    fake.state.queue = ["message deferred A1B2C3 -", "postqueue: fatal: surprise"]
    writes = len(fake.state.writes)
    with pytest.raises(FactError, match=r"unexpected line 'postqueue: fatal: surprise'"):
        apply_plan(fake.connect_again(), final, APPLY)
    assert len(fake.state.writes) == writes and not fake.locked


def test_a_forged_finalize_plan_cannot_remove_a_service_it_does_not_check(
    tmp_path: Path,
) -> None:
    plan = finalize_plan(tree(tmp_path))

    def other(data: dict[str, Any]) -> None:
        data["lda_services"] = ["maildrop"]
        data["steps"][0]["args"]["services"] = "maildrop"
        data["steps"][0]["description"] = data["steps"][0]["description"].replace(
            "dovecot", "maildrop"
        )

    def unchecked(data: dict[str, Any]) -> None:
        data["steps"].pop(0)  # a "migration" plan that drops the pipe without the check

    for forge in (other, unchecked):
        with pytest.raises(PlanError, match=r"removes the master.cf service 'dovecot' \('unix'\)"):
            Plan.from_dict(_resealed(plan, forge), host=plan.host)


@pytest.mark.parametrize("name", ["smtp", "local", "relay", "virtual"])
def test_a_pipe_service_named_like_a_postfix_builtin_is_not_removed(
    tmp_path: Path, name: str
) -> None:
    root = tree(tmp_path)
    master = root / "etc/postfix/master.cf"
    text = master.read_text()
    # The LDA pipe renamed to a built-in; the stock service of that name goes (or its
    # unix twin is replaced), so the pipe is the one master.cf defines under that name.
    lines = [
        line
        for line in text.splitlines(keepends=True)
        if not line.startswith(f"{name} ") or " inet " in line
    ]
    text = "".join(lines).replace("\ndovecot   unix", f"\n{name}   unix")
    master.write_text(text)
    main = root / "etc/postfix/main.cf"
    main.write_text(
        main.read_text().replace(
            "dovecot_destination_recipient_limit", f"{name}_destination_recipient_limit"
        )
    )
    with pytest.raises(RefusedError, match=rf"the LDA pipe service is named {name}, a ser"):
        finalize_plan(root)


def test_forged_facts_do_not_hide_master_cf_from_the_removal_check(tmp_path: Path) -> None:
    """config_directory moved, Dovecot's config put beside master.cf: still checked."""
    plan = finalize_plan(tree(tmp_path))

    def forge(data: dict[str, Any]) -> None:
        data["facts"]["config_directory"] = "/etc/postfix-elsewhere"
        data["facts"]["dovecot_config"] = "/etc/postfix/dovecot.conf"
        data["steps"].pop(0)

    with pytest.raises(PlanError, match=r"files /etc/postfix/master.cf: removes the master.cf"):
        Plan.from_dict(_resealed(plan, forge), host=plan.host)
