"""How a host's daemons are reloaded: systemd when it runs them, else the daemons' own
commands (``doveadm reload``, ``postfix reload``), which are also what Debian's and RHEL's
SysV scripts run. Also where the host's Postfix log is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from migrator.errors import ServiceError
from migrator.transport.base import Transport

# One round trip: the service manager, Postfix's maillog_file, and which syslog file exists.
RUNTIME_SCRIPT = r"""
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then echo systemd
else echo direct; fi
postconf -h maillog_file 2>/dev/null || echo
for f in /var/log/mail.log /var/log/maillog; do [ -f "$f" ] && echo "$f"; done; echo
"""

_DIRECT = {"dovecot": ("doveadm", "reload"), "postfix": ("postfix", "reload")}


class Manager(StrEnum):
    """What starts and reloads the daemons on a host."""

    SYSTEMD = "systemd"
    DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class Runtime:
    """What apply needs to know about a live host beyond its plan."""

    manager: Manager
    log_path: str


def parse_runtime(output: str) -> Runtime:
    """Parse RUNTIME_SCRIPT's output (pure): maillog_file wins over syslog's files."""
    lines = [*output.splitlines(), "", "", ""]
    manager = Manager.SYSTEMD if lines[0].strip() == "systemd" else Manager.DIRECT
    maillog = lines[1].strip()
    log_path = maillog if maillog.startswith("/") else lines[2].strip()
    return Runtime(manager, log_path)


def read_runtime(transport: Transport) -> Runtime:
    """Ask the host how it runs its daemons and where Postfix logs (one round trip)."""
    return parse_runtime(transport.run(["sh", "-c", RUNTIME_SCRIPT], timeout=30).out)


def reload_argv(manager: Manager, daemon: str) -> tuple[str, ...]:
    """The command that reloads daemon ('dovecot' or 'postfix') under manager."""
    if manager is Manager.SYSTEMD:
        return ("systemctl", "reload", daemon)
    return _DIRECT[daemon]


def reload(transport: Transport, runtime: Runtime, daemon: str) -> None:
    """Reload daemon (never restart: Postfix's queue keeps its mail). Raises ServiceError."""
    argv = reload_argv(runtime.manager, daemon)
    result = transport.run(argv, timeout=60)
    if not result.ok:
        detail = (result.err or result.out).strip().splitlines()[-1:] or [f"exit {result.rc}"]
        raise ServiceError(f"{' '.join(argv)} failed: {detail[0]}", host=transport.host)
