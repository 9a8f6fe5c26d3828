"""Each step's description says what the step does under each proof mode; a plan saved by an
earlier migrator (its descriptions in the older words) still loads and shows today's."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from migrator.cli import main
from migrator.cli.step_view import step_printer
from migrator.delivery.proof_mode import ProofMode
from migrator.errors import PlanError
from migrator.executor.apply import apply_plan
from migrator.plan.document import Plan, _checksum
from migrator.plan.store import load_plan
from tests.unit.executor_host import APPLY, host
from tests.unit.hosts import fixture_hosts

SAVED = Path(__file__).parent / "captured" / "plan_saved_before_proof_texts.json"


def _descriptions(data: dict[str, object]) -> dict[str, str]:
    steps = data["steps"]
    assert isinstance(steps, list)
    return {s["action"]: s["description"] for s in steps}


def test_a_switch_plan_says_what_each_proof_does() -> None:
    plan = next(h for h in fixture_hosts() if h.name == "virtual-lda").plan()
    said = _descriptions(plan.to_dict())
    assert said["test_delivery"].startswith("with --proof ab (the default): send the proof")
    assert "with --proof basic: send one test message" in said["test_delivery"]
    assert said["proof_before"].endswith("with --proof basic: skipped")
    test_delivery = next(s for s in plan.steps if s.action == "test_delivery")
    assert plan.describe(test_delivery, "basic").startswith("send one test message")
    assert plan.describe(test_delivery, "ab").startswith("send the proof messages again")
    assert "as the host runs it" in said["reload_dovecot"]
    assert "without its repairs" in said["validate_postfix"]


def test_a_plan_saved_in_the_older_words_loads_and_shows_the_new(tmp_path: Path) -> None:
    saved = json.loads(SAVED.read_text())
    older = _descriptions(saved)
    assert older["test_delivery"].startswith("send a test message through Postfix")
    plan = load_plan(SAVED, private=False)
    assert _descriptions(plan.to_dict())["test_delivery"].startswith("with --proof ab")
    copy = tmp_path / SAVED.name
    shutil.copyfile(SAVED, copy)
    shown = CliRunner().invoke(main, ["show", str(copy), "--json"])
    assert shown.exit_code == 0, shown.output
    assert "with --proof basic: send one test message" in shown.output
    assert "send a test message through Postfix" not in shown.output
    text = CliRunner().invoke(main, ["show", str(copy)])
    assert text.exit_code == 0, text.output
    assert "with --proof ab (the default)" in " ".join(text.output.split())


def test_words_of_another_step_are_still_refused() -> None:
    """The older words are accepted only for the step they described."""
    saved = json.loads(SAVED.read_text())
    index = next(i for i, s in enumerate(saved["steps"]) if s["action"] == "reload_postfix")
    saved["steps"][index]["description"] = "reload Dovecot"
    saved.pop("checksum")
    saved["checksum"] = _checksum(saved)
    with pytest.raises(PlanError, match=rf"steps\[{index}\]\.description"):
        Plan.from_dict(saved)


def test_apply_shows_the_words_for_its_own_proof() -> None:
    """The terminal names what runs: the corpus again under ab, one message under basic."""
    for mode, said in (
        (ProofMode.AB, "send the proof messages again"),
        (ProofMode.BASIC, "send one test message"),
    ):
        fake, plan = host()
        console = Console(record=True, width=1000)
        apply_plan(fake, plan, replace(APPLY, proof=mode), step_printer(console))
        shown = console.export_text().splitlines()
        ran = [s for s in shown if s.startswith(f"{fake.host}: ok") and said in s]
        assert len(ran) == 1, shown
        assert "with --proof" not in "\n".join(shown)
