"""Transports: how migrator reaches a host. ``connect`` picks the implementation."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from migrator.transport.base import FileData, RunResult, Transport

# paramiko imports invoke, and with it unittest.mock and asyncio (~80 ms of CPU at every
# start of every command), only to run the "Match exec" of its own SSHConfig, which
# migrator never uses (ssh_config.py reads OpenSSH configs). None in sys.modules makes that
# one import fail as if invoke were not installed, which paramiko supports; a process that
# imported invoke already keeps it.
if "invoke" not in sys.modules:
    sys.modules["invoke"] = None  # type: ignore[assignment]

__all__ = ["FileData", "RunResult", "Transport", "connect"]


def connect(
    host: str,
    *,
    ssh_config: Path | None = None,
    accept_new_host_key: bool = False,
    root: Path | None = None,
    user: str | None = None,
    hostname: str | None = None,
    port: int | None = None,
    options: tuple[tuple[str, str], ...] = (),
) -> Transport:
    """The transport for HOST: a directory root when ROOT is given, else SSH.

    ``hostname``/``port``/``user`` are an inventory's overrides (Ansible's ``ansible_host``
    ...): as Ansible runs ``ssh -p PORT -l USER HOSTNAME``, the config is matched against
    HOSTNAME when given, and the transport keeps the name HOST. ``options`` are ``ssh -o``
    settings after those (see ``resolve_host``).
    No network I/O happens here: the SSH connection is made on first use. Raises UsageError
    when the OpenSSH config cannot be read or resolved, or an option is not supported.
    """
    if root is not None:
        from migrator.transport.local import LocalTransport

        return LocalTransport(root, host or None)
    from migrator.transport.ssh import SSHTransport
    from migrator.transport.ssh_config import resolve_host

    spec = resolve_host(hostname or host, config=ssh_config, user=user, port=port, options=options)
    if hostname and hostname != host:
        spec = replace(spec, name=host)
    return SSHTransport(spec, accept_new_host_key=accept_new_host_key)
