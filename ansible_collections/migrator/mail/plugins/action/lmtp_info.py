"""migrator.mail.lmtp_info: where a host stands (migrator's ``status``); changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

try:
    from ansible_collections.migrator.mail.plugins.module_utils.transport import (
        AnsibleTransport,
    )
    from migrator.errors import MigratorError
    from migrator.executor.status import host_status
    from migrator.plan.store import saved_plan_ids
except ImportError as exc:  # the controller's Python lacks migrator: say so in one line
    MIGRATOR_MISSING: ImportError | None = exc
else:
    MIGRATOR_MISSING = None

ARGUMENT_SPEC: dict[str, Any] = {"plans_dir": {"type": "path"}}


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
        host = str((task_vars or {}).get("inventory_hostname", self._play_context.remote_addr))
        saved = saved_plan_ids(Path(args["plans_dir"]), host) if args["plans_dir"] else []
        try:
            with AnsibleTransport(self, host) as transport:
                status = host_status(transport, saved)
        except MigratorError as exc:
            raise AnsibleActionFail(" ".join(str(exc).split())) from exc
        result.update(
            changed=False,
            state=str(status.state),
            plan_id=status.plan_id,
            step=status.step,
            detail=status.detail,
            status=status.line(),
        )
        return result
