"""How a host's daemons are reloaded, whichever way the host has: systemd when it runs, else
the SysV or rc.d script through ``service`` when the daemon has one, else the daemons' own commands
(``doveadm reload``, ``postfix reload``). Also where the host's Postfix log is."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from migrator.errors import ServiceError
from migrator.transport.base import RunResult, Transport

# One round trip: each daemon's manager, Postfix's maillog_file, which syslog file exists.
RUNTIME_SCRIPT = r"""
for d in dovecot postfix; do
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then echo systemd
  elif command -v service >/dev/null 2>&1 &&
    { [ -x "/etc/init.d/$d" ] || [ -x "/usr/local/etc/rc.d/$d" ]; }; then echo service
  else echo direct; fi
done
postconf -h maillog_file 2>/dev/null || echo
for f in /var/log/mail.log /var/log/maillog; do [ -f "$f" ] && echo "$f"; done; echo
[ -d /run/systemd/journal ] && command -v journalctl >/dev/null 2>&1 && echo journald
"""

_log = logging.getLogger(__name__)
_DIRECT = {"dovecot": ("doveadm", "reload"), "postfix": ("postfix", "reload")}

# $1: tenths of a second to wait; "$2"...: the command that reloads Postfix, run right after
# the agents are listed (none would exit otherwise), even when no master is found (its failure
# is then reported). Postfix's lmtp delivery agents running then (children of its master)
# finish the delivery they have after the reload and exit; idle ones exit at once. Agents
# started after the reload are not waited for. Exit 3: the reload failed.
LMTP_DRAIN_SCRIPT = r"""
t=$1; shift
master=$(tr -dc 0-9 2>/dev/null < "$(postconf -h queue_directory 2>/dev/null)/pid/master.pid")
agents=
[ -z "$master" ] || agents=$(ps -A -o pid= -o ppid= -o comm= |
  awk -v m="$master" '$2 == m && $3 == "lmtp" {print $1}')
if [ $# -gt 0 ]; then said=$("$@" 2>&1) || { printf '%s\n' "$said" >&2; exit 3; }; fi
[ -n "$master" ] || { echo "drained (no Postfix master)"; exit 0; }
i=0
while :; do
  busy=; for p in $agents; do kill -0 "$p" 2>/dev/null && busy="$busy $p"; done
  [ -z "$busy" ] && { echo drained; exit 0; }
  [ "$i" -ge "$t" ] && { echo "busy$busy"; exit 0; }
  agents=$busy; i=$((i + 1)); sleep 0.1
done
"""


class Manager(StrEnum):
    """What starts and reloads the daemons on a host."""

    SYSTEMD = "systemd"
    SERVICE = "service"
    DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class Runtime:
    """What apply needs to know about a live host beyond its plan."""

    dovecot: Manager
    postfix: Manager
    log_path: str  # Postfix's log file, "journald", or "" (no mail log)

    def manager(self, daemon: str) -> Manager:
        return self.dovecot if daemon == "dovecot" else self.postfix


def parse_runtime(output: str) -> Runtime:
    """Parse RUNTIME_SCRIPT's output (pure): maillog_file wins over syslog's files, which win
    over the journal; "" when the host keeps no mail log at all."""
    lines = [line.strip() for line in output.splitlines()]
    known = {m.value: m for m in Manager}
    dovecot, postfix = (known.get(line, Manager.DIRECT) for line in [*lines, "", ""][:2])
    logs = [line for line in lines[2:] if line.startswith("/")]
    journal = "journald" if "journald" in lines[2:] else ""
    return Runtime(dovecot, postfix, logs[0] if logs else journal)


def read_runtime(transport: Transport) -> Runtime:
    """Ask the host how it runs its daemons and where Postfix logs (one round trip)."""
    return parse_runtime(transport.run(["sh", "-c", RUNTIME_SCRIPT], timeout=30).out)


def reload_argv(manager: Manager, daemon: str) -> tuple[str, ...]:
    """The command that reloads daemon ('dovecot' or 'postfix') under manager."""
    if manager is Manager.SYSTEMD:
        return ("systemctl", "reload", daemon)
    if manager is Manager.SERVICE:
        return ("service", daemon, "reload")
    return _DIRECT[daemon]


def reload(transport: Transport, runtime: Runtime, daemon: str) -> None:
    """Reload daemon (never restart: Postfix's queue keeps its mail). Raises ServiceError."""
    argv = reload_argv(runtime.manager(daemon), daemon)
    result = transport.run(argv, timeout=60)
    if not result.ok:
        raise _failed(argv, result)


def drain_lmtp(transport: Transport, runtime: Runtime, seconds: float | str) -> None:
    """Reload Postfix so that the lmtp agents running right before it finish the delivery
    they have and exit, and wait for those (not the ones started after the reload), at most
    SECONDS, in one round trip. Until they are gone Dovecot must not reload: its LMTP answers
    a transaction in flight "421 4.3.2 Shutting down" after storing the message, and Postfix
    delivers it again (the load test under load, Dovecot 2.3.19). Apply's ``wait_lmtp``
    reloads Postfix with its files not written yet; rollback's ``reload_postfix`` with them
    restored. Still busy then: logged, and the caller goes on (a cut transaction is retried,
    not lost). Raises ServiceError when the reload fails, TransportError."""
    argv, wait = reload_argv(runtime.postfix, "postfix"), float(seconds)
    script = ["sh", "-c", LMTP_DRAIN_SCRIPT, "sh", str(int(wait * 10)), *argv]
    result = transport.run(script, timeout=wait + 60)
    if not result.ok:
        raise _failed(argv, result)
    if not result.out.strip().startswith("drained"):
        _log.warning(
            "%s: LMTP deliveries still running (%s); reloading Dovecot",
            transport.host,
            result.out.strip(),
        )


def _failed(argv: tuple[str, ...], result: RunResult) -> ServiceError:
    """A reload's failure, with the last line it said."""
    detail = (result.err or result.out).strip().splitlines()[-1:] or [f"exit {result.rc}"]
    return ServiceError(f"{' '.join(argv)} failed: {detail[0]}", host=result.host)
