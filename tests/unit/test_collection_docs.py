"""The collection's module documentation parses as ansible-doc reads it (YAML), and says
what ansible-doc needs: every module's DOCUMENTATION names it and describes each option.
It agrees with the code: the documented options are the action plugin's argument spec
(type, default, choices, environment fallback), an option only some states take says so,
and every key a result carries is in RETURN (read without Ansible: the spec's names are
read as text, and the results are made by the collection's own module_utils)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.migrator.mail.plugins.module_utils import arguments, finalize, results
from migrator.check.findings import Delivery, Finding, HostCheck, Status
from migrator.executor.apply import ApplyReport, Outcome
from migrator.executor.journal import JournalState, JournalStatus
from migrator.executor.rollback import RollbackReport
from migrator.executor.status import journaled_report
from migrator.plan.document import Change, Plan, Step

PLUGINS = Path(__file__).resolve().parents[2] / "ansible_collections/migrator/mail/plugins"
MODULES = PLUGINS / "modules"
BLOCKS = ("DOCUMENTATION", "EXAMPLES", "RETURN")
# Keys Ansible itself gives every result (documented by Ansible, not by each module).
COMMON = {"changed", "failed", "msg", "diff"}


def _blocks(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in BLOCKS:
                    found[target.id] = str(node.value.value)
    return found


def _parsed(name: str) -> dict[str, Any]:
    return {key: yaml.safe_load(text) for key, text in _blocks(MODULES / f"{name}.py").items()}


class _NamesAsText(ast.NodeTransformer):
    """``env_fallback`` and the like become the string of their name: a literal remains."""

    def visit_Name(self, node: ast.Name) -> ast.Constant:
        return ast.Constant(node.id)


def _argument_spec(name: str) -> dict[str, Any]:
    """The action plugin's ARGUMENT_SPEC, read without importing Ansible."""
    tree = ast.parse((PLUGINS / "action" / f"{name}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and target.id == "ARGUMENT_SPEC" and node.value:
            spec: dict[str, Any] = ast.literal_eval(_NamesAsText().visit(node.value))
            return spec
    raise AssertionError(f"{name}: no ARGUMENT_SPEC")


@pytest.mark.parametrize("path", sorted(MODULES.glob("*.py")), ids=lambda p: p.stem)
def test_module_documentation_is_yaml_ansible_doc_can_read(path: Path) -> None:
    blocks = _blocks(path)
    assert set(blocks) == set(BLOCKS), f"{path.name} lacks {set(BLOCKS) - set(blocks)}"
    parsed = {name: yaml.safe_load(text) for name, text in blocks.items()}
    doc = parsed["DOCUMENTATION"]
    assert doc["module"] == path.stem
    assert all(isinstance(line, str) for line in doc["description"])
    for name, option in (doc.get("options") or {}).items():
        assert option.get("description"), f"{path.name}: option {name} has no description"
    assert isinstance(parsed["EXAMPLES"], list)
    assert isinstance(parsed["RETURN"], dict)
    for key, value in parsed["RETURN"].items():
        assert value.get("description") and value.get("type"), f"{path.name}: {key}"


@pytest.mark.parametrize("name", sorted(p.stem for p in MODULES.glob("*.py")))
def test_documented_options_are_the_argument_spec(name: str) -> None:
    options = _parsed(name)["DOCUMENTATION"]["options"]
    spec = _argument_spec(name)
    assert set(options) == set(spec), name
    for key, wanted in spec.items():
        documented = options[key]
        assert documented["type"] == wanted["type"], key
        assert documented.get("default") == wanted.get("default"), key
        assert documented.get("choices") == wanted.get("choices"), key
        text = " ".join(documented["description"])
        for variable in wanted.get("fallback", ("", []))[1]:
            assert f"E({variable})" in text, f"{key}: the fallback {variable} is not documented"


def test_the_states_and_the_options_each_takes_are_documented() -> None:
    options = _parsed("lmtp")["DOCUMENTATION"]["options"]
    assert set(options["state"]["choices"]) == set(arguments.STATE_OPTIONS)
    taken = set().union(*arguments.STATE_OPTIONS.values())
    assert taken == set(options) - {"state"}, "every option is some state's, and documented"
    for key in taken:
        states = {s for s, names in arguments.STATE_OPTIONS.items() if key in names}
        text = " ".join(options[key]["description"])
        if len(states) == 1:
            assert f"O(state={states.pop()}) only" in text, key
    assert arguments.STATE_OPTIONS["rolled_back"] == {"test_recipient", "force"}
    assert "V(rolled_back) takes only O(test_recipient) and O(force)" in " ".join(
        options["state"]["description"]
    )
    # force is rollback --force: the CLI's help and the option say the same thing.
    assert "C(migrator rollback --force)" in " ".join(options["force"]["description"])


def test_every_key_of_an_lmtp_info_result_is_documented() -> None:
    """lmtp_info returns the status report's data (its host aside) and the status line."""
    documented = _parsed("lmtp_info")["RETURN"]
    state = JournalState(
        "f1", "mx1", JournalStatus.APPLIED, "done", "n", "t", "t", (), follows="p1"
    )
    made = journaled_report("mx1", state, {}).data()
    assert made["state"] == "finalized" and made["rollback"]["leaves_plan_id"] == "p1"
    assert set(made) - {"host"} | {"status", "check"} == set(documented)
    assert set(made["rollback"]) == set(documented["rollback"]["contains"])


def _plan() -> Plan:
    return Plan(
        format_version=1,
        plan_id="p1",
        host="mx1",
        created="2026-01-01T00:00:00Z",
        migrator_version="0",
        facts={},
        endpoint="lmtp:unix:private/dovecot-lmtp",
        lda_services=("dovecot",),
        changes=(Change("/etc/postfix/master.cf", "remove service dovecot (unix)", "unused"),),
        files=(),
        settings_diff={},
        steps=(Step("check_queue", {"services": "dovecot"}),),
        warnings=("dovecot_foo is left",),
    )


def test_every_key_of_an_lmtp_result_is_documented() -> None:
    documented = set(_parsed("lmtp")["RETURN"]) | COMMON
    failed = RollbackReport("mx1", "p1", False, (), (), "reload failed")
    report = ApplyReport("mx1", "p1", Outcome.NEEDS_ATTENTION, (), "x", "reload", False, failed)
    planned = finalize._planned(_plan(), finalize.TaskMode(check=True, diff=True))
    assert planned["removes"] == ["dovecot"] and planned["plan_warnings"] == ["dovecot_foo is left"]
    for made in (results.apply_result(report), results.rollback_result(failed), planned):
        assert set(made) <= documented, set(made) - documented


def test_every_key_of_a_check_result_is_documented() -> None:
    check = _parsed("lmtp_info")["RETURN"]["check"]
    findings = (
        Finding("hooks", Status.OK, "no conflicts"),
        Finding("listener", Status.CRITICAL, "mode 0666, want 0600", ("socket",)),
    )
    made = results.check_result(HostCheck("mx1", Delivery.LMTP, findings, {"queue": 0.0}))
    assert set(made) == set(check["contains"])
    entry = check["contains"]["checks"]["contains"]
    assert all(set(item) == set(entry) for item in made["checks"])
    assert (made["status"], made["code"]) == ("CRITICAL", 2)
    assert made["checks"][1] == {
        "name": "listener",
        "status": "CRITICAL",
        "message": "mode 0666, want 0600",
        "details": ["socket"],
    }
    assert made["summary"].startswith("MIGRATOR CRITICAL - mx1 listener: mode 0666, want 0600")
