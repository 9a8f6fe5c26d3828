"""Test-only action plugin: drive AnsibleTransport on a host and report what came back.

Writes ``content_b64`` to ``path`` (root:mail 0640), reads it back with ``read_files`` (with
a missing path and a directory), cats it with ``run``, runs a command past its timeout, and
takes migrator's host lock to see its lease alive from the next command, and tries a write
that expects another sha256 (refused, file kept).
``inline`` false sends stdin as a copied file instead of with the command.
"""

from __future__ import annotations

import base64
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.migrator.mail.plugins.module_utils.transport import AnsibleTransport
from migrator.errors import PlanDriftError, TransportError
from migrator.executor.journal import Journal, peek


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        args = self._task.args
        path, content = args["path"], base64.b64decode(args["content_b64"])
        host = str((task_vars or {})["inventory_hostname"])
        with AnsibleTransport(self, host, stdin_inline=bool(args["inline"])) as transport:
            transport.write_atomic(path, content, owner="root", group="mail", mode=0o640)
            files = transport.read_files([path, f"{path}.missing", "/etc"])
            cat = transport.run(["cat", "--", path])
            try:
                transport.run(["sleep", "30"], timeout=1)
                timed_out = ""
            except TransportError as exc:
                timed_out = str(exc)
            trips = transport.round_trips
            # The lock's lease is the SSH session over the commands: Ansible's ControlMaster.
            journal = Journal(transport, "transport-check")
            journal.lock("transport-check")
            lock, _ = peek(transport)
            journal.unlock()
            released, _ = peek(transport)
            try:
                transport.write_atomic(
                    path, b"lost", owner="root", group="mail", mode=0o640, expected_sha256="0" * 64
                )
                swapped = ""
            except PlanDriftError as exc:
                swapped = str(exc)
            kept = transport.read_files([path])[path].content == content
        read = files[path]
        result.update(
            changed=False,
            read_b64=base64.b64encode(read.content or b"").decode(),
            cat_b64=base64.b64encode(cat.stdout).decode(),
            owner=read.owner,
            group=read.group,
            mode=read.mode,
            missing=[p for p, f in files.items() if not f.exists],
            timed_out=timed_out,
            round_trips=trips,
            lease_alive=lock.held and lock.alive,
            released=not released.held,
            refused_stale_write=bool(swapped) and kept,
        )
        return result
