"""What each state of migrator.mail.lmtp takes, and the test recipient a task resolves.

Nothing a user writes is silently ignored: a parameter the task's state does not use, or one
another parameter makes moot, fails the task in one line before any host is reached.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from migrator.address import check_recipient
from migrator.errors import UsageError

# The host variable migrator's own fleet commands read (`-i`): honoured here too.
RECIPIENT_VAR = "migrator_test_recipient"

_TRUST = ("plans_dir", "plan_key", "require_signature")
# The parameters each state of migrator.mail.lmtp uses (``state`` itself aside).
STATE_OPTIONS: Mapping[str, frozenset[str]] = {
    "migrated": frozenset(
        {"test_recipient", "lmtp", "plan", "proof", "proof_mode", "rollback_on_fail", *_TRUST}
    ),
    # finalize proves delivery with one test message over the LMTP next hop the hooks name.
    "finalized": frozenset({"test_recipient", "plan", "rollback_on_fail", *_TRUST}),
    # A rollback restores from the host's own journal: no plan, no key, no endpoint; force
    # (rollback --force) lets it discard files edited since that apply.
    "rolled_back": frozenset({"test_recipient", "force"}),
}
_WHY_NOT = {
    "migrated": "force only lets state=rolled_back discard files edited since an apply",
    "finalized": "finalize removes the LDA pipe service and proves delivery with one test "
    "message over the LMTP next hop the host already uses",
    "rolled_back": "a rollback restores the host's last apply from its own journal",
}
# Parameters a given plan makes moot: the plan already says them.
_WITH_PLAN = {
    "lmtp": "the plan names its LMTP endpoint",
    "plans_dir": "a given plan is not planned or saved again",
}


def refuse_unused(state: str, given: Collection[str], args: Mapping[str, Any], host: str) -> None:
    """Refuse a parameter the state does not use, or one the others make moot.

    ``given`` are the parameters the task wrote (not their defaults). Raises UsageError.
    """
    unused = sorted(set(given) - STATE_OPTIONS[state] - {"state"})
    if unused:
        raise UsageError(
            f"{', '.join(unused)} {'does' if len(unused) == 1 else 'do'} not apply to "
            f"state={state} ({_WHY_NOT[state]}): remove {'it' if len(unused) == 1 else 'them'}",
            host=host,
        )
    if "plan" in given:
        for name, why in _WITH_PLAN.items():
            if name in given:
                raise UsageError(f"{name} does not go with plan ({why})", host=host)
    if "proof_mode" in given and args.get("proof") is False:
        raise UsageError("proof_mode does not go with proof: false (no proof is sent)", host=host)


def host_variable(templar: Any, task_vars: Mapping[str, Any]) -> Any:
    """The host's ``migrator_test_recipient``, templated as Ansible would (None: unset)."""
    raw = task_vars.get(RECIPIENT_VAR)
    return None if raw is None else templar.template(raw)


def test_recipient(given: str | None, host_var: Any, host: str) -> str | None:
    """The task's test recipient, else the host's ``migrator_test_recipient`` (templated).

    Raises UsageError when both are set and differ (one would be ignored), or when the
    variable is not a usable address.
    """
    if given is not None:
        check_recipient(given, host=host, where="test_recipient")
    if host_var is None:
        return given
    if not isinstance(host_var, str):
        kind = type(host_var).__name__
        raise UsageError(f"{RECIPIENT_VAR} must be a string, not {kind}", host=host)
    check_recipient(host_var, host=host, where=RECIPIENT_VAR)
    if given is not None and given != host_var:
        raise UsageError(
            f"test_recipient {given!r} and the host variable {RECIPIENT_VAR} {host_var!r} "
            "differ: give one, or the same",
            host=host,
        )
    return host_var
