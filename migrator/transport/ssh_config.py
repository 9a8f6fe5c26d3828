"""Resolve a host name through the user's OpenSSH client config, the way ``ssh -G`` does.

paramiko's ``SSHConfig`` has known gaps that matter here: it ignores ``Include`` (paramiko
#1044/#1609), lets ``ProxyJump`` and ``ProxyCommand`` both through where OpenSSH keeps the
first, and matches ``Host`` patterns with fnmatch (``[`` is special there, not in OpenSSH).
So this module reads the config itself, following OpenSSH's ``readconf.c``: first obtained
value wins, ``Host``/``Match`` blocks switch a flag, ``Include`` is read in place and
restores the flag after. Only the options migrator uses are resolved into ``HostSpec``.
"""

from __future__ import annotations

import getpass
import glob
import hashlib
import os
import pwd
import re
import shlex
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from migrator.errors import UsageError

DEFAULT_IDENTITY_FILES = (
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
)
DEFAULT_USER_KNOWN_HOSTS = "~/.ssh/known_hosts ~/.ssh/known_hosts2"
DEFAULT_GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"
SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")

# Options that accumulate over every matching block instead of "first one wins".
_MULTI = frozenset({"identityfile", "certificatefile", "localforward", "remoteforward"})
# Options whose value is the rest of the line, verbatim (a shell command).
_VERBATIM = frozenset({"proxycommand", "localcommand", "remotecommand", "knownhostscommand"})
_MAX_JUMPS = 8


class StrictHostKeyChecking(Enum):
    """OpenSSH's StrictHostKeyChecking, named as ``ssh -G`` prints it."""

    YES = "true"
    NO = "false"
    ASK = "ask"
    ACCEPT_NEW = "accept-new"

    @classmethod
    def parse(cls, value: str) -> StrictHostKeyChecking:
        """Map a config value (yes/no/off/ask/accept-new/...) to a member; raise UsageError."""
        table = {
            "yes": cls.YES,
            "true": cls.YES,
            "no": cls.NO,
            "false": cls.NO,
            "off": cls.NO,
            "ask": cls.ASK,
            "accept-new": cls.ACCEPT_NEW,
        }
        try:
            return table[value.lower()]
        except KeyError:
            raise UsageError(f"unknown StrictHostKeyChecking value {value!r}") from None


@dataclass(frozen=True, slots=True)
class HostSpec:
    """How to reach one host, resolved from the OpenSSH client config as ``ssh -G`` would."""

    name: str
    hostname: str
    port: int = 22
    user: str = "root"
    identity_files: tuple[str, ...] = ()
    identities_only: bool = False
    known_hosts_files: tuple[str, ...] = ()
    global_known_hosts_files: tuple[str, ...] = ()
    strict_host_key_checking: StrictHostKeyChecking = StrictHostKeyChecking.ASK
    hash_known_hosts: bool = False
    host_key_alias: str | None = None
    proxy_jump: str | None = None
    proxy_command: str | None = None
    jump: HostSpec | None = field(default=None, compare=True)
    connect_timeout: float | None = None

    @property
    def known_hosts_name(self) -> str:
        """The name this host's key is filed under in known_hosts (``[host]:port`` off 22)."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


@dataclass(slots=True)
class _Context:
    """What a config pass knows: the target, the options obtained so far, and where it reads."""

    original: str
    local_user: str
    home: Path
    options: dict[str, list[str]] = field(default_factory=dict)
    final: bool = False
    wants_final: bool = False


def resolve_host(
    name: str,
    *,
    config: Path | None = None,
    user: str | None = None,
    port: int | None = None,
    home: Path | None = None,
) -> HostSpec:
    """Resolve NAME (``[user@]host``) through CONFIG, else ``~/.ssh/config`` + the system file.

    ``user``/``port`` act like ``ssh -l``/``-p``: they beat the config. Raises UsageError for
    an unreadable config, a bad value, or a ProxyJump loop.
    """
    return _resolve(name, config, user, port, home or _home(), depth=0, jump_override=None)


def _resolve(
    name: str,
    config: Path | None,
    user: str | None,
    port: int | None,
    home: Path,
    *,
    depth: int,
    jump_override: str | None,
) -> HostSpec:
    if depth > _MAX_JUMPS:
        raise UsageError(f"{name}: ProxyJump chain longer than {_MAX_JUMPS} hops (a loop?)")
    if "@" in name:
        at_user, name = name.rsplit("@", 1)
        user = user or at_user
    # Host patterns match the name as typed (case-sensitive); ssh lowercases the default HostName.
    ctx = _Context(original=name, local_user=getpass.getuser(), home=home)
    if user is not None:
        ctx.options["user"] = [user]
    if port is not None:
        ctx.options["port"] = [str(port)]
    if jump_override is not None:
        ctx.options["proxy"] = ["proxyjump", jump_override]
    files = [(config, True)] if config else [(home / ".ssh/config", True), (SYSTEM_CONFIG, False)]
    for final in (False, True):
        if final and not ctx.wants_final:
            break
        ctx.final = final
        for path, user_config in files:
            if path is not None and (config is not None or path.exists()):
                _read_file(path, ctx, active=True, user_config=user_config, depth=0)
    return _build_spec(name, ctx, config, home, depth)


def _build_spec(name: str, ctx: _Context, config: Path | None, home: Path, depth: int) -> HostSpec:
    opts = ctx.options
    first = {key: values[0] for key, values in opts.items() if values}
    hostname = _expand_hostname(first.get("hostname", "%h"), ctx.original.lower())
    port = _int(first.get("port", "22"), "Port")
    user = first.get("user", ctx.local_user)
    tokens = _tokens(ctx, hostname, port, user, first)
    expand = _expander(tokens, home)
    identity = opts.get("identityfile") or list(DEFAULT_IDENTITY_FILES)
    user_kh = first.get("userknownhostsfile", DEFAULT_USER_KNOWN_HOSTS)
    global_kh = first.get("globalknownhostsfile", DEFAULT_GLOBAL_KNOWN_HOSTS)
    proxy_kind, proxy_value = (opts.get("proxy") or ["", ""])[:2]
    proxy_jump = proxy_value if proxy_kind == "proxyjump" and proxy_value != "none" else None
    if proxy_jump and _parse_jump(proxy_jump.split(",")[-1].strip())[1] == ctx.original:
        raise UsageError(f"{name}: jumphost loop via {proxy_jump} (ssh refuses it too)")
    proxy_command = None
    if proxy_kind == "proxycommand" and proxy_value != "none":
        proxy_command = expand(proxy_value)
    timeout = first.get("connecttimeout")
    return HostSpec(
        name=name,
        hostname=hostname,
        port=port,
        user=user,
        identity_files=tuple(expand(path) for path in identity if path != "none"),
        identities_only=_bool(first.get("identitiesonly", "no")),
        known_hosts_files=tuple(expand(p) for p in _split(user_kh) if p != "none"),
        global_known_hosts_files=tuple(expand(p) for p in _split(global_kh) if p != "none"),
        strict_host_key_checking=StrictHostKeyChecking.parse(
            first.get("stricthostkeychecking", "ask")
        ),
        hash_known_hosts=_bool(first.get("hashknownhosts", "no")),
        host_key_alias=first.get("hostkeyalias"),
        proxy_jump=proxy_jump,
        proxy_command=proxy_command,
        jump=_resolve_jump(proxy_jump, config, home, depth) if proxy_jump else None,
        connect_timeout=float(timeout) if timeout and timeout != "none" else None,
    )


def _resolve_jump(chain: str, config: Path | None, home: Path, depth: int) -> HostSpec:
    """The last hop of CHAIN, itself reached through the hops before it (as ``ssh -J``)."""
    hops = [hop.strip() for hop in chain.split(",") if hop.strip()]
    last_user, last_host, last_port = _parse_jump(hops[-1])
    before = ",".join(hops[:-1]) or None
    return _resolve(
        last_host,
        config,
        last_user,
        last_port,
        home,
        depth=depth + 1,
        jump_override=before,
    )


def _parse_jump(hop: str) -> tuple[str | None, str, int | None]:
    """Split ``[ssh://][user@]host[:port]`` (IPv6 in brackets) into its parts."""
    hop = hop.removeprefix("ssh://").rstrip("/")
    user = None
    if "@" in hop:
        user, hop = hop.rsplit("@", 1)
    match = re.fullmatch(r"\[(?P<h6>[^\]]+)\](?::(?P<p6>\d+))?|(?P<h>[^:]+)(?::(?P<p>\d+))?", hop)
    if not match:
        raise UsageError(f"bad ProxyJump hop {hop!r}")
    host = match.group("h6") or match.group("h")
    port = match.group("p6") or match.group("p")
    return user, host, int(port) if port else None


def _read_file(path: Path, ctx: _Context, *, active: bool, user_config: bool, depth: int) -> None:
    if depth > 16:
        raise UsageError(f"{path}: Include nested too deep (a loop?)")
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read SSH config {path}: {exc.strerror}") from exc
    for number, raw in enumerate(lines, 1):
        parsed = _split_line(raw, path, number)
        if parsed is None:
            continue
        key, rest = parsed
        if key == "host":
            active = _match_host(ctx.original, _words(rest, path, number))  # as typed
        elif key == "match":
            active = _match(ctx, _words(rest, path, number), path, number)
        elif key == "include":
            for included in _include_paths(_words(rest, path, number), ctx.home, user_config):
                # OpenSSH reads the included file with the current flag and restores it after.
                _read_file(included, ctx, active=active, user_config=user_config, depth=depth + 1)
        elif active:
            _set_option(ctx.options, key, rest, path, number)


def _split_line(raw: str, path: Path, number: int) -> tuple[str, str] | None:
    line = raw.strip()
    if not line or line.startswith("#"):
        return None
    match = re.match(r"([A-Za-z0-9]+)(?:\s*=\s*|\s+)(.*)$", line)
    if not match:
        raise UsageError(f"{path}:{number}: cannot parse {line!r}")
    return match.group(1).lower(), match.group(2).strip()


def _words(rest: str, path: Path, number: int) -> list[str]:
    try:
        return shlex.split(rest, comments=True)
    except ValueError as exc:
        raise UsageError(f"{path}:{number}: {exc}") from exc


def _set_option(options: dict[str, list[str]], key: str, rest: str, path: Path, line: int) -> None:
    if key in _VERBATIM:
        values = [rest]
    else:
        values = _words(rest, path, line)
        if not values:
            raise UsageError(f"{path}:{line}: {key} needs a value")
    if key in ("proxyjump", "proxycommand"):
        # They compete: whichever is obtained first wins (ssh_config(5), ProxyJump).
        options.setdefault("proxy", [key, values[0] if key == "proxyjump" else rest])
    elif key in _MULTI:
        bucket = options.setdefault(key, [])
        bucket.extend(value for value in values if value not in bucket)
    elif key not in options:
        # Multi-word options (UserKnownHostsFile a b) keep every word of their first line.
        options[key] = [" ".join(values)]


def _include_paths(patterns: list[str], home: Path, user_config: bool) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        expanded = _tilde(pattern, home)
        if not os.path.isabs(expanded):
            base = home / ".ssh" if user_config else SYSTEM_CONFIG.parent
            expanded = str(base / expanded)
        found.extend(Path(path) for path in sorted(glob.glob(expanded)))
    return found


def _match_host(target: str, patterns: list[str]) -> bool:
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if glob_match(target, pattern.removeprefix("!")):
            if negated:
                return False
            matched = True
    return matched


def _match(ctx: _Context, words: list[str], path: Path, number: int) -> bool:
    result = True
    while words:
        word = words.pop(0)
        negate = word.startswith("!")
        keyword = word.removeprefix("!").lower()
        if keyword == "all":
            passed = True
        elif keyword in ("canonical", "final"):
            ctx.wants_final = ctx.wants_final or keyword == "final"
            passed = ctx.final
        else:
            if not words:
                raise UsageError(f"{path}:{number}: Match {keyword} needs an argument")
            passed = _match_criterion(ctx, keyword, words.pop(0), path, number)
        if passed == negate:
            result = False
    return result


def _match_criterion(ctx: _Context, keyword: str, arg: str, path: Path, number: int) -> bool:
    opts = ctx.options
    if keyword == "host":
        host = _expand_hostname(opts.get("hostname", ["%h"])[0], ctx.original.lower())
        return _pattern_list(host, arg)
    if keyword == "originalhost":
        return _pattern_list(ctx.original, arg)
    if keyword == "user":
        return _pattern_list(opts.get("user", [ctx.local_user])[0], arg)
    if keyword == "localuser":
        return _pattern_list(ctx.local_user, arg)
    if keyword == "exec":
        # OpenSSH runs the command through the user's shell; exit status 0 means "matches".
        command = arg.replace("%h", ctx.original).replace("%n", ctx.original)
        return subprocess.run(["/bin/sh", "-c", command], check=False).returncode == 0
    raise UsageError(f"{path}:{number}: Match {keyword} is not supported by migrator")


def _pattern_list(value: str, patterns: str) -> bool:
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if glob_match(value, pattern.removeprefix("!")):
            if negated:
                return False
            matched = True
    return matched


def glob_match(value: str, pattern: str) -> bool:
    """OpenSSH's match_pattern: only ``*`` and ``?`` are special."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _tokens(
    ctx: _Context, hostname: str, port: int, user: str, first: dict[str, str]
) -> dict[str, str]:
    long_host = socket.gethostname()
    kind, value = (ctx.options.get("proxy") or ["", ""])[:2]
    jump = value if kind == "proxyjump" else ""
    tokens = {
        "%": "%",
        "d": str(ctx.home),
        "h": hostname,
        "i": str(os.getuid()),
        "k": first.get("hostkeyalias", hostname),
        "L": long_host.split(".")[0],
        "l": long_host,
        "n": ctx.original,
        "p": str(port),
        "r": user,
        "u": ctx.local_user,
    }
    tokens["C"] = hashlib.sha1(f"{long_host}{hostname}{port}{user}{jump}".encode()).hexdigest()
    return tokens


def _expander(tokens: dict[str, str], home: Path) -> Callable[[str], str]:
    def expand(value: str) -> str:
        text = re.sub(r"%(.)", lambda m: tokens.get(m.group(1), m.group(0)), value)
        return _tilde(text, home)

    return expand


def _expand_hostname(value: str, original: str) -> str:
    return re.sub(r"%([%h])", lambda m: "%" if m.group(1) == "%" else original, value)


def _tilde(value: str, home: Path) -> str:
    if value == "~" or value.startswith("~/"):
        return str(home) + value[1:]
    if value.startswith("~"):
        name, _, rest = value[1:].partition("/")
        try:
            return str(Path(pwd.getpwnam(name).pw_dir) / rest)
        except KeyError:
            return value
    return value


def _home() -> Path:
    # OpenSSH takes the home directory from the password database, not $HOME.
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def _split(value: str) -> list[str]:
    return value.split()


def _bool(value: str) -> bool:
    return value.lower() in ("yes", "true")


def _int(value: str, option: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"bad {option} value {value!r}") from None
