"""migrator.mail.lmtp_info: where a host stands (migrator's ``status``) and, with ``check``,
migrator's post-switch ``check`` of it, as data a play asserts on; changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

try:
    from ansible_collections.migrator.mail.plugins.module_utils import arguments, results
    from ansible_collections.migrator.mail.plugins.module_utils.transport import (
        AnsibleTransport,
    )
    from migrator.check.run import CheckOptions, check_host
    from migrator.errors import MigratorError, UsageError
    from migrator.executor.status import host_status
    from migrator.plan.store import saved_plan_ids
except ImportError as exc:  # the controller's Python lacks migrator: say so in one line
    MIGRATOR_MISSING: ImportError | None = exc
else:
    MIGRATOR_MISSING = None

ARGUMENT_SPEC: dict[str, Any] = {
    "plans_dir": {"type": "path"},
    "check": {"type": "bool", "default": False},
    "test_recipient": {"type": "str"},
}


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible is untyped
    """Read the host's lock, journal and files over Ansible's connection; report its state."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        if MIGRATOR_MISSING is not None:
            raise AnsibleActionFail(
                f"migrator is not importable on the controller ({MIGRATOR_MISSING}): "
                "install the migrator package into Ansible's Python"
            )
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        host = str(task_vars.get("inventory_hostname", self._play_context.remote_addr))
        saved = saved_plan_ids(Path(args["plans_dir"]), host) if args["plans_dir"] else []
        try:
            recipient = self._recipient(args, task_vars, host)
            with AnsibleTransport(self, host) as transport:
                status = host_status(transport, saved)
                if args["check"]:
                    found = check_host(transport, CheckOptions(test_recipient=recipient))
                    result["check"] = results.check_result(found)
        except MigratorError as exc:
            raise AnsibleActionFail(" ".join(str(exc).split())) from exc
        facts = status.data()
        del facts["host"]  # the result is the host's own
        result.update(changed=False, status=status.line(), **facts)
        return result

    def _recipient(self, args: dict[str, Any], task_vars: dict[str, Any], host: str) -> str | None:
        """The recipient the check's LMTP probe asks about (RCPT TO): test_recipient, else the
        host's migrator_test_recipient. Raises UsageError: test_recipient without check."""
        if not args["check"]:
            if args["test_recipient"] is not None:
                raise UsageError(
                    "test_recipient goes with check: true (the probe's RCPT TO)", host=host
                )
            return None
        host_var = arguments.host_variable(self._templar, task_vars)
        return arguments.test_recipient(args["test_recipient"], host_var, host)
