"""migrator.mail.lmtp: switch a host from Dovecot LDA to LMTP delivery, finalize the switch,
or roll it back.

An action plugin: it runs on the controller (or in the execution environment), where
migrator, Augeas and the plans live, and reaches the host through the task's own
connection (``AnsibleTransport``), with become. The mail host needs nothing new.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback
from ansible.plugins.action import ActionBase

try:
    from ansible_collections.migrator.mail.plugins.module_utils import arguments, plans, results
    from ansible_collections.migrator.mail.plugins.module_utils.finalize import (
        TaskMode,
        finalize,
    )
    from ansible_collections.migrator.mail.plugins.module_utils.transport import (
        AnsibleTransport,
    )
    from migrator.delivery.proof_mode import ProofMode
    from migrator.errors import MigratorError, PlanDriftError
    from migrator.executor.apply import ApplyOptions, apply_plan, check_drift
    from migrator.executor.rollback import NothingToRollBackError, rollback_latest
    from migrator.executor.status import HostState, host_status
    from migrator.plan.document import Plan
    from migrator.rules.switch import Options
except ImportError as exc:  # the controller's Python lacks migrator: say so in one line
    MIGRATOR_MISSING: ImportError | None = exc
else:
    MIGRATOR_MISSING = None

ARGUMENT_SPEC: dict[str, Any] = {
    "state": {
        "type": "str",
        "default": "migrated",
        "choices": ["migrated", "finalized", "rolled_back"],
    },
    "test_recipient": {"type": "str"},
    "lmtp": {"type": "str", "default": "unix"},
    "plan": {"type": "path"},
    "proof": {"type": "bool", "default": True},
    # ab (migrator's default, DEFAULT_PROOF: tests/ansible/test_results.py) or basic, as
    # migrator's --proof.
    "proof_mode": {"type": "str", "choices": ["ab", "basic"], "default": "ab"},
    # As migrator's --rollback-on-fail, which the collection turns on by default.
    "rollback_on_fail": {"type": "bool", "default": True},
    # As migrator's rollback --force: state=rolled_back only.
    "force": {"type": "bool", "default": False},
    "plans_dir": {"type": "path"},
    # As migrator's --plan-key and --require-signature (and their environment variables).
    "plan_key": {"type": "path", "fallback": (env_fallback, ["MIGRATOR_PLAN_KEY_FILE"])},
    "require_signature": {
        "type": "bool",
        "default": False,
        "fallback": (env_fallback, ["MIGRATOR_REQUIRE_SIGNATURE"]),
    },
}


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible is untyped
    """Plan on the controller, apply over Ansible's connection, prove delivery."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        """The task's result. Raises AnsibleActionFail, one line, for bad parameters and for
        errors that left the host unchanged (unreachable, refused, drifted, locked)."""
        result: dict[str, Any] = super().run(tmp, task_vars)
        if MIGRATOR_MISSING is not None:
            raise AnsibleActionFail(
                f"migrator is not importable on the controller ({MIGRATOR_MISSING}): "
                "install the migrator package into Ansible's Python"
            )
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        host = str(task_vars.get("inventory_hostname", self._play_context.remote_addr))
        try:
            arguments.refuse_unused(args["state"], self._task.args, args, host)
            host_var = arguments.host_variable(self._templar, task_vars)
            recipient = arguments.test_recipient(args["test_recipient"], host_var, host)
            args["test_recipient"] = recipient
            with AnsibleTransport(self, host) as transport:
                if args["state"] == "rolled_back":
                    result.update(self._roll_back(transport, args["test_recipient"], args["force"]))
                elif args["state"] == "finalized":
                    mode = TaskMode(check=self._task.check_mode, diff=self._task.diff)
                    result.update(finalize(transport, args, mode))
                else:
                    result.update(self._migrate(transport, args))
                result["round_trips"] = transport.round_trips
        except MigratorError as exc:
            raise AnsibleActionFail(_one_line(str(exc), host)) from exc
        return result

    def _migrate(self, transport: AnsibleTransport, args: dict[str, Any]) -> dict[str, Any]:
        plan = self._plan(transport, args)
        if not args["proof"]:
            # No test message; the LMTP probe before Postfix switches still runs.
            unproven = ("test_delivery", "proof_before")
            plan = replace(plan, steps=tuple(s for s in plan.steps if s.action not in unproven))
        diff = {"diff": results.file_diffs(plan)} if self._task.diff else {}
        if args["plan"] and plan.has_changes and plans.applied(transport, plan):
            # The reviewed plan is already on the host: a second run changes nothing.
            return {"changed": False, "outcome": "already applied", "plan_id": plan.plan_id}
        if self._task.check_mode or not plan.has_changes:
            if self._task.check_mode and args["plan"] and plan.has_changes:
                check_drift(transport, plan)
            return {
                "changed": plan.has_changes,
                "outcome": "changes planned" if plan.has_changes else "no changes",
                "plan_id": plan.plan_id,
                "steps": [],
                "proof": None,
                "ab_proof": [],
                "rolled_back": False,
                **diff,
            }
        options = ApplyOptions(
            rollback_on_fail=args["rollback_on_fail"],
            test_recipient=args["test_recipient"],
            proof=_proof_mode(args),
        )
        report = apply_plan(transport, plan, options)
        return {**results.apply_result(report), **diff}

    def _plan(self, transport: AnsibleTransport, args: dict[str, Any]) -> Plan:
        """The reviewed migration plan given (its signature checked), else a fresh one
        (saved, signed with plan_key when given, under plans_dir). Raises PlanError,
        UsageError."""
        key = plans.plan_key(args, transport.host)
        if args["plan"]:
            return plans.given_plan(args, key, transport.host, finalize=False)
        options = Options(lmtp=args["lmtp"], test_recipient=args["test_recipient"])
        return plans.fresh_plan(transport, args, key, options, finalize=False)

    def _roll_back(
        self, transport: AnsibleTransport, recipient: str | None, force: bool
    ) -> dict[str, Any]:
        """`migrator rollback [--force]`; check mode says what it would undo, and refuses
        what it would refuse (a file edited since that apply, unless force)."""
        if self._task.check_mode:
            status = host_status(transport)
            undo = status.rollback
            if undo and undo.edited and not force:
                raise _edited_refusal(transport.host, undo.edited)
            return {
                "changed": status.state
                not in (HostState.CLEAN, HostState.PLANNED, HostState.ROLLED_BACK),
                "outcome": str(status.state),
                "plan_id": undo.plan_id if undo else status.plan_id,
                "undoes": undo.undoes.value if undo else "",
            }
        try:
            report = rollback_latest(transport, test_recipient=recipient, force=force)
        except NothingToRollBackError:
            return {"changed": False, "outcome": "nothing to roll back", "plan_id": ""}
        except PlanDriftError as exc:
            raise PlanDriftError(f"{exc.message} (force: true in a task)", host=exc.host) from exc
        if report is None:
            return {"changed": False, "outcome": "already rolled back", "plan_id": ""}
        return results.rollback_result(report)


def _edited_refusal(host: str, edited: tuple[str, ...]) -> PlanDriftError:
    """What rollback itself refuses with, said before anything is kept or changed."""
    return PlanDriftError(
        f"edited since apply: {', '.join(edited)}; rollback would discard the edit, so "
        f"nothing would be restored: review it, then run `migrator rollback {host} --force` "
        "(force: true in a task)",
        host=host,
    )


def _proof_mode(args: dict[str, Any]) -> ProofMode:
    """proof_mode; with proof false the plan has no proof steps left, and the A/B proof
    (which needs proof_before) is not what runs."""
    if not args["proof"]:
        return ProofMode.BASIC
    return ProofMode(args["proof_mode"])


def _one_line(message: str, host: str) -> str:
    """The error on one line, naming the host once."""
    line = " ".join(message.split())
    return (
        line if line.startswith(f"{host}: ") or line.startswith(f"{host} ") else f"{host}: {line}"
    )
