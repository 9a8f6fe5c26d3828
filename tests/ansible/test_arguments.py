"""What each state of migrator.mail.lmtp takes, and the test recipient a task resolves
(pure: no Ansible, no host). A parameter that would be ignored is refused in one line."""

from __future__ import annotations

import pytest

from ansible_collections.migrator.mail.plugins.module_utils import arguments
from migrator.errors import UsageError

DEFAULTS = {"proof": True}


@pytest.mark.parametrize(
    ("state", "given"),
    [
        ("migrated", ["test_recipient", "lmtp", "proof", "proof_mode", "plans_dir"]),
        ("migrated", ["plan", "plan_key", "require_signature", "rollback_on_fail"]),
        ("finalized", ["state", "plan", "test_recipient", "rollback_on_fail", "plan_key"]),
        ("finalized", ["plans_dir", "require_signature"]),
        ("rolled_back", ["state", "test_recipient"]),
        ("rolled_back", ["test_recipient", "force"]),
    ],
)
def test_what_a_state_uses_is_accepted(state: str, given: list[str]) -> None:
    arguments.refuse_unused(state, given, DEFAULTS, "mx1")


@pytest.mark.parametrize(
    ("state", "given", "args", "message"),
    [
        ("rolled_back", ["plans_dir"], DEFAULTS, "plans_dir does not apply to state=rolled_back"),
        ("migrated", ["force"], DEFAULTS, "force does not apply to state=migrated (force only"),
        ("finalized", ["force"], DEFAULTS, "force does not apply to state=finalized (finalize"),
        ("rolled_back", ["plan", "lmtp"], DEFAULTS, "lmtp, plan do not apply to state=rolled_"),
        ("finalized", ["proof"], DEFAULTS, "proof does not apply to state=finalized (finalize"),
        ("finalized", ["lmtp", "plan"], DEFAULTS, "lmtp does not apply to state=finalized"),
        ("migrated", ["plan", "lmtp"], DEFAULTS, "lmtp does not go with plan (the plan names"),
        ("finalized", ["plan", "plans_dir"], DEFAULTS, "plans_dir does not go with plan"),
        ("migrated", ["proof_mode"], {"proof": False}, "proof_mode does not go with proof: false"),
    ],
)
def test_what_would_be_ignored_is_refused(
    state: str, given: list[str], args: dict[str, bool], message: str
) -> None:
    with pytest.raises(UsageError) as refused:
        arguments.refuse_unused(state, given, args, "mx1")
    assert str(refused.value).startswith("mx1: ") and message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_host_variable_is_the_default_recipient_and_never_hidden() -> None:
    recipient = arguments.test_recipient
    assert recipient(None, None, "mx1") is None
    assert recipient("a@example.test", None, "mx1") == "a@example.test"
    assert recipient(None, "b@example.test", "mx1") == "b@example.test"
    assert recipient("b@example.test", "b@example.test", "mx1") == "b@example.test"
    with pytest.raises(UsageError, match="differ: give one, or the same"):
        recipient("a@example.test", "b@example.test", "mx1")
    with pytest.raises(UsageError, match="migrator_test_recipient must be a string, not list"):
        recipient(None, ["b@example.test"], "mx1")
    with pytest.raises(UsageError, match="ends with a newline"):
        recipient(None, "b@example.test\n", "mx1")
    with pytest.raises(UsageError, match="test recipient 'alice@'"):
        recipient("alice@", None, "mx1")


class _Templar:
    """Ansible's templar as the action plugin hands it: renders the variable's template."""

    def template(self, value: str) -> str:
        return value.replace("{{ admin }}", "postmaster")


def test_the_host_variable_is_templated_as_ansible_would() -> None:
    found = {arguments.RECIPIENT_VAR: "{{ admin }}@example.test"}
    assert arguments.host_variable(_Templar(), found) == "postmaster@example.test"
    assert arguments.host_variable(_Templar(), {}) is None
