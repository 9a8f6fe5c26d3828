"""Hostile plan files and plans directories: refused in one line before any host is
reached, never a hang, a traceback, or a plan planted by another user applied."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.errors import PlanError
from migrator.plan import store
from migrator.plan.document import Plan
from migrator.plan.store import latest_plan, load_plan, save_plan
from tests.unit.no_hang import no_hang  # noqa: F401 (the fixture, by name)
from tests.unit.test_finalize_plan import _resealed, finalize_plan, tree

pytestmark = pytest.mark.usefixtures("no_hang")


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return finalize_plan(tree(tmp_path_factory.mktemp("finalize")))


def _apply(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["apply", "mx1", *args])
    return result.exit_code, result.output


def test_a_fifo_given_as_the_plan_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    for command in ("apply", "finalize"):
        result = CliRunner().invoke(main, [command, "mx1", "--plan", str(fifo)])
        assert result.exit_code == 1, result.output
        assert f"mx1: {fifo}: cannot read plan: not a regular file" in result.output


def test_json_nested_past_the_decoder_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    code, output = _apply("--plan", str(deep))
    assert code == 1 and f"{deep}: cannot read plan: maximum recursion depth" in output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1


def test_a_plan_larger_than_any_plan_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MAX_PLAN_BYTES", 1000)
    big = tmp_path / "big.json"
    big.write_text(" " * 2000)
    with pytest.raises(PlanError, match=r"big\.json: plan is larger than 1000 bytes"):
        load_plan(big)


def test_a_plan_or_plans_dir_another_user_may_write_is_not_applied(
    tmp_path: Path, plan: Plan
) -> None:
    saved = save_plan(plan, tmp_path / "plans")
    assert load_plan(saved, host=plan.host) == plan
    os.chmod(saved, 0o620)
    with pytest.raises(PlanError, match=r"is writable by group \(mode 0620\): whoever can"):
        load_plan(saved, host=plan.host)
    assert load_plan(saved, private=False) == plan  # `show` reads a colleague's plan
    os.chmod(saved, 0o600)
    os.chmod(saved.parent, 0o703)
    with pytest.raises(PlanError, match=r"is writable by others \(mode 0703\)"):
        latest_plan(tmp_path / "plans", plan.host)
    os.chmod(saved.parent, 0o700)
    os.chown(saved, 65534, 65534)
    with pytest.raises(PlanError, match=r"is owned by uid 65534, not by you or root"):
        latest_plan(tmp_path / "plans", plan.host)


def test_a_symlinked_host_directory_is_never_written_or_chmodded_through(
    tmp_path: Path, plan: Plan
) -> None:
    target = tmp_path / "etc"
    target.mkdir(mode=0o755)
    plans = tmp_path / "plans"
    plans.mkdir(mode=0o700)
    (plans / plan.host).symlink_to(target)
    with pytest.raises(PlanError, match=r"is a symlink: plans are never written through one"):
        save_plan(plan, plans)
    assert (target.stat().st_mode & 0o777, list(target.iterdir())) == (0o755, [])


def test_a_world_writable_plans_dir_is_not_saved_into(tmp_path: Path, plan: Plan) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    os.chmod(plans, 0o777)
    with pytest.raises(PlanError, match=r"plans: is writable by group \(mode 0777\)"):
        save_plan(plan, plans)
    assert list(plans.iterdir()) == []


@pytest.mark.parametrize("text", ["\u202e", "a\u2066b", "\x1b[2J"])
def test_text_that_reorders_or_rewrites_the_reviewers_terminal_is_refused(
    plan: Plan, text: str
) -> None:
    def forge(data: dict[str, Any]) -> None:
        data["changes"][0]["summary"] = f"harmless {text}"

    with pytest.raises(PlanError, match=r"changes\[0\]\.summary: contains a control character"):
        Plan.from_dict(_resealed(plan, forge), host=plan.host)


def test_format_version_true_is_not_version_1(plan: Plan) -> None:
    def forge(data: dict[str, Any]) -> None:
        data["format_version"] = True

    with pytest.raises(PlanError, match=r"not a migrator plan of format version 1"):
        Plan.from_dict(_resealed(plan, forge), host=plan.host)


def _paths(value: object, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        yield from _paths(item, (*prefix, key))


def test_a_wrong_type_anywhere_is_a_plan_error_never_another_exception(plan: Plan) -> None:
    """Every field of a finalize plan replaced by each hostile value, checksum recomputed."""
    base = json.loads(plan.to_json())
    base.pop("checksum")
    hostile: list[object] = [None, 10**400, {"a": 1}, "a\x00b"]
    for path in _paths(base):
        for value in hostile:

            def forge(
                data: dict[str, Any], path: tuple[Any, ...] = path, value: object = value
            ) -> None:
                target = data
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = copy.deepcopy(value)

            try:
                Plan.from_dict(_resealed(plan, forge), host=plan.host)
            except PlanError as exc:
                assert "\n" not in str(exc)
