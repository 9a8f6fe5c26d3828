"""What `check` reads from a host, in two round trips, and the pure parsers of its output.

The first command (``CONFIG_SCRIPT``) reads Postfix's and Dovecot's effective settings, how
the host runs its daemons and where it logs, and Postfix's queue. What it printed says
which socket, listener, mail root and log the second command (``STATE_SCRIPT``) looks at.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from migrator.executor.services import RUNTIME_SCRIPT, Runtime, parse_runtime
from migrator.host.fifos import FIFO_GUARD, fifo_error
from migrator.transport.base import Transport
from migrator.transport.remote_scripts import PORTABLE_SH

POSTFIX_PARAMS = (
    "virtual_transport",
    "mailbox_transport",
    "local_transport",
    "fallback_transport",
    "mailbox_command",
    "mydestination",
    "virtual_mailbox_domains",
    "mail_owner",
    "queue_directory",
)
QUEUE_LIMIT = 20000  # messages read from `postqueue -j`: enough to count, bounded for a flood
LOG_WINDOW = 1024 * 1024  # bytes of a log file's tail searched for delivery errors
LOG_SECONDS = 3600  # how far back the logs are searched (by their time stamps)
LOG_SINCE = f"-{LOG_SECONDS}s"  # the journal's own filter for the same window
LOG_LINES = 50  # matching lines kept

CONFIG_SCRIPT = (
    FIFO_GUARD  # postconf and doveconf would wait on a FIFO config until the timeout
    + rf"""
echo '== postconf'; postconf -x {" ".join(POSTFIX_PARAMS)} 2>&1
echo '== master'; postconf -M 2>&1
echo '== doveconf'; doveconf -n 2>&1
echo '== protocols'; doveconf -h protocols 2>&1
echo '== mail'; for s in mail_location mail_path mail_home log_path; do
  v=$(doveconf -h "$s" 2>/dev/null); printf '%s=%s\n' "$s" "$v"; done
echo '== runtime'; {RUNTIME_SCRIPT}
echo '== queue'; postqueue -j 2>/dev/null | head -n {QUEUE_LIMIT}
"""
)

# $1 Postfix's log ("" none, "journald", or a file), $2 Dovecot's log file (or ""), $3 window,
# $4 since, $5 lines, then the paths to stat.
STATE_SCRIPT = (
    PORTABLE_SH
    + r"""
log=$1 dlog=$2 window=$3 since=$4 lines=$5; shift 5
echo '== now'; date '+%s %z %Y'
echo '== stat'; for p in "$@"; do
  fstat '%F|%U|%G|%a|%n' "$p" 2>/dev/null || printf 'missing||||%s\n' "$p"; done
echo '== listen'; if [ -r /proc/net/tcp ]; then
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A" {print $2}'
else netstat -an -p tcp 2>/dev/null | awk '$NF == "LISTEN" {print "bsd " $4}'; fi
echo '== log'
where='postfix/(lmtp|pipe|local|virtual)|dovecot|lmtp|deliver'
what="permission denied|user doesn.t exist|quota|uid 0 not permitted|connection refused"
what="$what|no such file"
{ if [ "$log" = journald ]; then journalctl -q --no-pager -o short-iso --since="$since" 2>/dev/null
elif [ -n "$log" ] && [ -f "$log" ]; then tail -c "$window" "$log"
fi; if [ -n "$dlog" ] && [ "$dlog" != "$log" ] && [ -f "$dlog" ]; then tail -c "$window" "$dlog"
fi; } | grep -E "$where" | grep -Ei "$what" | tail -n "$lines"
"""
)


@dataclass(frozen=True, slots=True)
class ConfigFacts:
    """The first round trip, parsed: settings, master.cf services, Dovecot, queue, runtime."""

    postconf: Mapping[str, str]
    master: tuple[str, ...]
    doveconf: tuple[str, ...]
    protocols: str
    mail: Mapping[str, str]
    runtime: Runtime
    queue: tuple[Mapping[str, object], ...]
    errors: tuple[str, ...]  # what could not be read, in words


@dataclass(frozen=True, slots=True)
class PathState:
    """``stat`` of one path: its file type ("socket", "directory", "missing"), owner, mode."""

    path: str
    kind: str
    owner: str = ""
    group: str = ""
    mode: int = 0


@dataclass(frozen=True, slots=True)
class HostState:
    """The second round trip, parsed: paths stat'ed, TCP listeners (``127.0.0.1:24``,
    ``[::]:24``), matching log lines."""

    paths: Mapping[str, PathState]
    listeners: tuple[str, ...]
    log_lines: tuple[str, ...]
    now: float | None = None  # the host's clock, its zone and year: for the log's stamps
    utc_offset: int = 0
    year: int = 1970


def split_sections(output: str) -> dict[str, list[str]]:
    """The lines under each ``== name`` header of a script's output."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output.splitlines():
        if line.startswith("== "):
            current = sections.setdefault(line[3:].strip(), [])
        else:
            current.append(line)
    return sections


def _settings(lines: Sequence[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        name, sep, value = line.partition(" = ")
        if sep and name.strip().isidentifier():
            found[name.strip()] = value.strip()
        elif line.rstrip().endswith(" =") and line.strip()[:-2].isidentifier():
            found[line.strip()[:-2]] = ""
    return found


def _queue(lines: Sequence[str]) -> tuple[list[Mapping[str, object]], list[str]]:
    messages: list[Mapping[str, object]] = []
    bad = 0
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(entry, dict):
            messages.append(entry)
    return messages, [f"postqueue -j: {bad} unreadable lines"] if bad else []


def _protocols(lines: Sequence[str]) -> str:
    """``doveconf -h protocols``: 2.3 prints a list, 2.4 a block of ``name = yes`` lines."""
    if any(" = " in line for line in lines):
        return " ".join(name for name, value in _settings(lines).items() if value == "yes")
    return " ".join(" ".join(lines).split())


def parse_config(output: str) -> ConfigFacts:
    """Parse CONFIG_SCRIPT's output (pure); what failed to read goes to ``errors``."""
    sections = split_sections(output)
    postconf = _settings(sections.get("postconf", []))
    errors = [f"postconf: {line}" for line in sections.get("postconf", []) if "postconf:" in line]
    doveconf = sections.get("doveconf", [])
    if any(line.startswith("doveconf: Fatal") for line in doveconf):
        errors.append(next(line for line in doveconf if line.startswith("doveconf: Fatal")))
    mail = {}
    for line in sections.get("mail", []):
        name, _, value = line.partition("=")
        mail[name] = value.strip()
    queue, queue_errors = _queue(sections.get("queue", []))
    return ConfigFacts(
        postconf=postconf,
        master=tuple(line for line in sections.get("master", []) if line.strip()),
        doveconf=tuple(doveconf),
        protocols=_protocols(sections.get("protocols", [])),
        mail=mail,
        runtime=parse_runtime("\n".join(sections.get("runtime", []))),
        queue=tuple(queue),
        errors=(*errors, *queue_errors),
    )


def parse_state(output: str) -> HostState:
    """Parse STATE_SCRIPT's output (pure)."""
    sections = split_sections(output)
    paths = {}
    for line in sections.get("stat", []):
        kind, owner, group, mode, path = [*line.split("|", 4), "", "", "", ""][:5]
        kind = kind.lower() or "missing"  # a BSD stat says "Socket"
        octal = int(mode, 8) if mode.isdigit() else 0
        paths[path] = PathState(path, kind, owner, group, octal)
    listeners = tuple(
        _listener(line.strip()) for line in sections.get("listen", []) if line.strip()
    )
    log_lines = tuple(line for line in sections.get("log", []) if line.strip())
    now, offset, year = _clock(sections.get("now", []))
    return HostState(paths, listeners, log_lines, now, offset, year)


def _listener(hex_address: str) -> str:
    """``/proc/net/tcp{,6}``'s ``0100007F:0018`` as ``127.0.0.1:24`` (``[::1]:24`` for IPv6):
    the address is 32-bit words in the host's byte order (little-endian on Linux' common
    machines), the port big-endian hex. Without /proc (the BSDs), netstat's ``127.0.0.1.24``
    (``bsd`` first) is ``127.0.0.1:24``, ``*.24`` is ``*:24``."""
    if hex_address.startswith("bsd "):
        shown, _, number = hex_address[4:].rpartition(".")
        return f"[{shown}]:{number}" if ":" in shown else f"{shown}:{number}"
    address, _, port = hex_address.partition(":")
    try:
        raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8))
        shown = str(ipaddress.ip_address(raw))
        return f"{shown}:{int(port, 16)}" if len(raw) == 4 else f"[{shown}]:{int(port, 16)}"
    except ValueError:
        return hex_address


def _clock(lines: Sequence[str]) -> tuple[float | None, int, int]:
    """``date '+%s %z %Y'``: seconds, the zone's offset east of UTC, and the year."""
    words = " ".join(lines).split()
    if len(words) != 3 or not words[0].isdigit() or not words[2].isdigit():
        return None, 0, 1970
    zone = words[1]
    sign = -1 if zone.startswith("-") else 1
    digits = zone.lstrip("+-")
    offset = sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60) if digits.isdigit() else 0
    return float(words[0]), offset, int(words[2])


def read_config(transport: Transport) -> ConfigFacts:
    """Read the host's settings, queue and runtime in one command. Raises TransportError,
    FactError (a FIFO where a config is read)."""
    output = transport.run(["sh", "-c", CONFIG_SCRIPT], timeout=60).out
    fifo = fifo_error(transport.host, output)
    if fifo is not None:
        raise fifo
    return parse_config(output)


def read_state(transport: Transport, logs: tuple[str, str], paths: Sequence[str]) -> HostState:
    """Stat paths, list TCP listeners and search the recent logs (Postfix's: a file,
    "journald" or ""; Dovecot's file or ""), in one command. Raises TransportError."""
    argv = ["sh", "-c", STATE_SCRIPT, "sh", *logs, str(LOG_WINDOW), LOG_SINCE]
    argv += [str(LOG_LINES), *paths]
    return parse_state(transport.run(argv, timeout=60).out)
