"""The checks themselves: pure functions from what a host printed to findings.

Each judge takes parsed output (``gather``) and returns one ``Finding``; none touches a
host, so each is unit-tested on captured output.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Mapping, Sequence

from migrator.check.dovecot import Setting, has_block, plugins
from migrator.check.findings import Delivery, Finding, Status
from migrator.check.gather import HostState
from migrator.endpoint import Endpoint
from migrator.errors import UsageError

HOOKS = ("virtual_transport", "mailbox_transport", "local_transport", "fallback_transport")
_LDA_NAMES = ("dovecot-lda", "deliver")


def lda_services(master: Sequence[str]) -> frozenset[str]:
    """The master.cf services (``postconf -M`` lines) that pipe mail to Dovecot's LDA,
    directly or through a filter that execs it (the planner refuses those)."""
    found = set()
    for line in master:
        words = line.split()
        if len(words) < 8 or words[7] != "pipe":
            continue
        start = next((i for i, w in enumerate(words) if w.startswith("argv=")), len(words))
        command = [words[start].removeprefix("argv="), *words[start + 1 :]] if words[start:] else []
        if any(word.rsplit("/", 1)[-1] in _LDA_NAMES for word in command):
            found.add(words[0])
    return frozenset(found)


def hook_kinds(postconf: Mapping[str, str], lda: frozenset[str]) -> dict[str, str]:
    """Each Postfix hook set on the host and what it reaches: "lmtp", "lda" or "other"."""
    kinds = {}
    for name in HOOKS:
        value = postconf.get(name, "")
        if value:
            transport = value.partition(":")[0]
            kinds[name] = "lmtp" if transport == "lmtp" else "lda" if transport in lda else "other"
    command = postconf.get("mailbox_command", "")
    if command:
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        runs_lda = bool(words) and words[0].rsplit("/", 1)[-1] in _LDA_NAMES
        kinds["mailbox_command"] = "lda" if runs_lda else "other"
    return kinds


def delivery_mode(kinds: Mapping[str, str]) -> Delivery:
    """How the host delivers, from its hooks: LDA, LMTP, both (mixed) or neither."""
    values = set(kinds.values())
    if "lda" in values and "lmtp" in values:
        return Delivery.MIXED
    return Delivery.LMTP if "lmtp" in values else Delivery.LDA if "lda" in values else Delivery.NONE


def judge_hooks(postconf: Mapping[str, str], kinds: Mapping[str, str]) -> Finding:
    """Postfix's delivery hooks: none left on the LDA beside LMTP ones, none overriding
    another (mailbox_transport wins over mailbox_command), local(8) not bypassed."""
    problems = []
    lda = [name for name, kind in kinds.items() if kind == "lda"]
    lmtp = [name for name, kind in kinds.items() if kind == "lmtp"]
    if lda and lmtp:
        problems.append(f"{', '.join(lda)} still reach the LDA while {', '.join(lmtp)} use LMTP")
    if postconf.get("mailbox_command") and postconf.get("mailbox_transport"):
        problems.append("mailbox_transport is set, so local(8) ignores mailbox_command")
    if kinds.get("local_transport") == "lmtp":
        problems.append(
            "local_transport goes straight to LMTP: local(8) is bypassed, so /etc/aliases "
            "and .forward no longer apply (use mailbox_transport)"
        )
    local, virtual = postconf.get("local_transport", ""), postconf.get("virtual_transport", "")
    if local and local == virtual:
        problems.append(f"local_transport and virtual_transport are both {local}")
    if problems:
        return Finding("hooks", Status.WARNING, problems[0], tuple(problems[1:]))
    if not kinds or set(kinds.values()) == {"other"}:
        return Finding("hooks", Status.WARNING, "no Postfix hook hands mail to Dovecot")
    shown = ", ".join(f"{name}={postconf.get(name) or 'LDA'}" for name in (*lda, *lmtp))
    return Finding("hooks", Status.OK, f"no conflicts: {shown}")


def _words(value: str) -> list[str]:
    return value.replace(",", " ").split()


def judge_domains(postconf: Mapping[str, str], kinds: Mapping[str, str]) -> Finding:
    """Virtual mailbox domains are not also in mydestination (their mail would go to local)."""
    virtual = _words(postconf.get("virtual_mailbox_domains", ""))
    local = {d.lower() for d in _words(postconf.get("mydestination", ""))}
    both = [d for d in virtual if d.lower() in local]
    if both:
        return Finding(
            "domains",
            Status.CRITICAL,
            f"{', '.join(both)} in both mydestination and virtual_mailbox_domains: "
            "their mail goes to local(8), not to virtual_transport",
        )
    if not virtual and kinds.get("virtual_transport") in ("lda", "lmtp"):
        return Finding("domains", Status.WARNING, "virtual_transport set, no virtual domains")
    maps = [d for d in virtual if ":" in d or d.startswith("/")]
    plain = [d for d in virtual if d not in maps]
    summary = f"virtual domains: {', '.join(plain) or 'none listed'}"
    note = (f"tables not compared with mydestination: {', '.join(maps)}",) if maps else ()
    return Finding("domains", Status.OK, summary, note)


def judge_dovecot(settings: Sequence[Setting], protocols: str) -> Finding:
    """Dovecot serves LMTP, with every plugin ``protocol lda`` had (Sieve, quota...)."""
    if "lmtp" not in protocols.split():
        return Finding("dovecot", Status.CRITICAL, f"lmtp not in protocols ({protocols!r})")
    lda, lmtp = plugins(settings, "protocol lda"), plugins(settings, "protocol lmtp")
    missing = sorted(lda - lmtp)
    if missing:
        return Finding(
            "dovecot",
            Status.CRITICAL,
            f"protocol lmtp lacks the plugins protocol lda has: {', '.join(missing)} "
            "(they silently stop applying)",
        )
    block = "protocol lmtp" if has_block(settings, "protocol lmtp") else "no protocol lmtp block"
    return Finding("dovecot", Status.OK, f"lmtp served; {block}, plugins: {_set(lmtp)}")


def _set(names: frozenset[str]) -> str:
    return " ".join(sorted(names)) or "none"


def lmtp_endpoint(postconf: Mapping[str, str], kinds: Mapping[str, str]) -> Endpoint | None:
    """The LMTP endpoint Postfix's hooks name (the first one), or None."""
    for name in HOOKS:
        if kinds.get(name) == "lmtp":
            try:
                return Endpoint.from_postfix(postconf[name], postconf.get("queue_directory", ""))
            except UsageError:
                return None
    return None


def judge_listener(endpoint: Endpoint, state: HostState, mail_owner: str) -> Finding:
    """The socket exists, owned by Postfix's mail_owner, mode 0600; or TCP on loopback only."""
    if endpoint.socket_path is None:
        return _judge_tcp(endpoint, state.listeners)
    path = endpoint.socket_path
    found = state.paths.get(path)
    if found is None or found.kind == "missing":
        reason = "Dovecot not reloaded, or lmtp not in protocols"
        return Finding("listener", Status.CRITICAL, f"socket {path} missing: {reason}")
    if found.kind != "socket":
        return Finding("listener", Status.CRITICAL, f"{path} is a {found.kind}, not a socket")
    faults = []
    if found.owner != mail_owner:
        faults.append(f"owner {found.owner}, want {mail_owner} (mail_owner)")
    if found.mode != 0o600:
        faults.append(f"mode {found.mode:04o}, want 0600")
    if faults:
        return Finding("listener", Status.CRITICAL, f"socket {path}: {'; '.join(faults)}")
    return Finding("listener", Status.OK, f"socket {path} {found.owner} 0600")


def _judge_tcp(endpoint: Endpoint, listeners: Sequence[str]) -> Finding:
    port = endpoint.port or ""
    bound = [a for a in listeners if a.rpartition(":")[2] == port]
    where = f"{endpoint.address}:{port}"
    if not bound:
        return Finding("listener", Status.CRITICAL, f"nothing listens on TCP port {port}")
    exposed = [a for a in bound if not _loopback(a.rpartition(":")[0])]
    if exposed:
        return Finding(
            "listener",
            Status.CRITICAL,
            f"LMTP listens on {', '.join(exposed)}: not loopback only, anyone who reaches "
            "the host can hand Dovecot mail",
        )
    return Finding("listener", Status.OK, f"{where} on loopback only ({', '.join(bound)})")


def _loopback(address: str) -> bool:
    address = address.strip("[]").partition("%")[0]
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # "*", "0.0.0.0" parse; anything else is not known to be loopback


# Symptom (lower case) -> what it usually means (domain brief, "Errors admins hit").
LOG_SYMPTOMS = (
    ("permission denied", "socket owner/mode, or a path outside Postfix's chroot"),
    ("user doesn't exist", "username format (%Ln) or userdb keys"),
    ("uid 0 not permitted", "the userdb gives no uid: set mail_uid"),
    ("quota", "a mailbox over quota"),
    ("connection refused", "Dovecot down, or lmtp not in protocols"),
    ("no such file", "Dovecot not reloaded, or lmtp not in protocols"),
)


def judge_log(lines: Sequence[str], postfix_log: str, dovecot_log: str = "") -> Finding:
    """Delivery errors among the recent log lines (WARNING: they may be past ones).

    ``postfix_log`` is a file, "journald" or "" (Postfix keeps no log); ``dovecot_log`` is
    Dovecot's own log file, or "" when it logs where Postfix does.
    """
    log = " and ".join(name for name in (postfix_log, dovecot_log) if name)
    if not log:
        return Finding("log", Status.OK, "no mail log on this host: not searched")
    counts: dict[str, int] = {}
    for line in lines:
        lowered = line.lower()
        for symptom, _ in LOG_SYMPTOMS:
            if symptom in lowered:
                counts[symptom] = counts.get(symptom, 0) + 1
                break
    unread = () if postfix_log else ("Postfix keeps no log on this host: not searched",)
    if not counts:
        return Finding("log", Status.OK, f"no delivery errors in {log}", unread)
    causes = dict(LOG_SYMPTOMS)
    found = ", ".join(f'{n} "{s}" ({causes[s]})' for s, n in counts.items())
    return Finding(
        "log", Status.WARNING, f"delivery errors in {log}: {found}", (lines[-1], *unread)
    )


def relay_marker(endpoint: Endpoint) -> str:
    """How Postfix names the endpoint in a delay reason: ``[private/x]`` or ``[addr]:port``."""
    if endpoint.socket_path is not None:
        return "[private/" + endpoint.socket_path.rsplit("/private/", 1)[-1] + "]"
    return f"[{endpoint.address}]:{endpoint.port}"


def deferred(queue: Sequence[Mapping[str, object]], endpoint: Endpoint | None) -> tuple[int, int]:
    """Messages waiting in Postfix's queue (active, deferred), and those held up at LMTP."""
    waiting = stuck = 0
    marker = relay_marker(endpoint) if endpoint else None
    for message in queue:
        if message.get("queue_name") not in ("deferred", "active"):
            continue
        waiting += 1
        recipients = message.get("recipients")
        reasons = (
            [str(r.get("delay_reason", "")) for r in recipients or [] if isinstance(r, dict)]
            if isinstance(recipients, list)
            else []
        )
        if marker and any(marker in reason for reason in reasons):
            stuck += 1
    return waiting, stuck


def judge_queue(waiting: int, stuck: int, endpoint: Endpoint | None) -> Finding:
    """Mail deferred for the LMTP transport is a WARNING (it is retried, but not delivered)."""
    if stuck:
        where = endpoint.postfix if endpoint else "LMTP"
        return Finding("queue", Status.WARNING, f"{stuck} messages deferred for {where}")
    return Finding("queue", Status.OK, f"nothing deferred for LMTP ({waiting} in the queue)")


def judge_mail_root(root: str | None, state: HostState) -> Finding:
    """The mail root exists and is not writable by everyone."""
    if root is None:
        return Finding("mail_root", Status.OK, "mail lives in each user's home: not checked")
    found = state.paths.get(root)
    if found is None or found.kind == "missing":
        return Finding("mail_root", Status.WARNING, f"mail root {root} missing")
    shown = f"{root} {found.owner}:{found.group} {found.mode:04o}"
    if found.mode & 0o002:
        return Finding("mail_root", Status.CRITICAL, f"{shown}: writable by every local user")
    return Finding("mail_root", Status.OK, shown)
