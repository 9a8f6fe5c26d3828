"""Resolve a host name through the user's OpenSSH client config, the way ``ssh -G`` does.

paramiko's ``SSHConfig`` has known gaps that matter here: it ignores ``Include`` (paramiko
#1044/#1609), lets ``ProxyJump`` and ``ProxyCommand`` both through where OpenSSH keeps the
first, and matches ``Host`` patterns with fnmatch (``[`` is special there, not in OpenSSH).
So ``ssh_config_file.py`` reads the files as OpenSSH does, and this module turns what applies
to one host into a ``HostSpec``: defaults, ``%`` tokens, ``~``, and the ProxyJump chain
resolved hop by hop as ``ssh -J`` would.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import pwd
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from migrator.address import check_hostname, check_user, shell_safe
from migrator.errors import UsageError
from migrator.transport.ssh_config_file import (
    SYSTEM_CONFIG,
    ConfigContext,
    expand_hostname,
    expand_tilde,
    glob_match,
    read_config_file,
    set_command_line_option,
)

__all__ = [
    "SUPPORTED_OPTIONS",
    "HostSpec",
    "StrictHostKeyChecking",
    "glob_match",
    "resolve_host",
]

DEFAULT_IDENTITY_FILES = (
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
)
DEFAULT_USER_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")

_MAX_JUMPS = 8
# The options a HostSpec is made of: the only ones ``ssh -o`` (``options``) may set here.
SUPPORTED_OPTIONS = frozenset(
    {
        "hostname",
        "port",
        "user",
        "identityfile",
        "identitiesonly",
        "userknownhostsfile",
        "globalknownhostsfile",
        "stricthostkeychecking",
        "hashknownhosts",
        "hostkeyalias",
        "proxyjump",
        "proxycommand",
        "connecttimeout",
        "serveraliveinterval",
    }
)


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
    jump: HostSpec | None = None
    connect_timeout: float | None = None
    server_alive_interval: int = 0

    @property
    def known_hosts_name(self) -> str:
        """The name this host's key is filed under in known_hosts (``[host]:port`` off 22)."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def resolve_host(
    name: str,
    *,
    config: Path | None = None,
    user: str | None = None,
    port: int | None = None,
    home: Path | None = None,
    options: tuple[tuple[str, str], ...] = (),
) -> HostSpec:
    """Resolve NAME (``[user@]host``) through CONFIG, else ``~/.ssh/config`` + the system file.

    ``user``/``port`` act like ``ssh -l``/``-p``: they beat the config; ``options`` act like
    ``ssh -o KEY=VALUE`` given after them (``identityfile`` adds a key, ``proxyjump`` is
    ``-J``). Raises UsageError for an unreadable config, a bad value, an option not in
    SUPPORTED_OPTIONS, or a ProxyJump loop.
    """
    for key, _ in options:
        if key.lower() not in SUPPORTED_OPTIONS:
            raise UsageError(f"ssh option {key} is not supported by migrator", host=name)
    return _resolve(
        name, config, user, port, home or _home(), depth=0, jump_override=None, options=options
    )


def _resolve(
    name: str,
    config: Path | None,
    user: str | None,
    port: int | None,
    home: Path,
    *,
    depth: int,
    jump_override: str | None,
    options: tuple[tuple[str, str], ...] = (),
) -> HostSpec:
    """NAME (a ProxyJump hop ``depth`` deep) through the command line, then the config files."""
    if depth > _MAX_JUMPS:
        raise UsageError(f"{name}: ProxyJump chain longer than {_MAX_JUMPS} hops (a loop?)")
    if "@" in name:
        at_user, name = name.rsplit("@", 1)
        user = user or at_user
    # As ssh (9.6+) does, before any %-token can carry the name into a shell.
    check_hostname(name)
    if user is not None:
        check_user(user, host=name)
    ctx = _command_line(name, user, port, home, jump_override, options)
    _read_configs(ctx, config, home)
    return _build_spec(name, ctx, config, home, depth)


def _command_line(
    name: str,
    user: str | None,
    port: int | None,
    home: Path,
    jump_override: str | None,
    options: tuple[tuple[str, str], ...],
) -> ConfigContext:
    """What the command line sets for NAME (``-l``, ``-p``, ``-J``, ``-o``): it beats the files."""
    # Host patterns match the name as typed (case-sensitive); ssh lowercases the default HostName.
    ctx = ConfigContext(original=name, local_user=getpass.getuser(), home=home)
    if user is not None:
        ctx.options["user"] = [user]
    if port is not None:
        ctx.options["port"] = [str(port)]
    if jump_override is not None:
        ctx.options["proxy"] = ["proxyjump", jump_override]
    for key, value in options:
        set_command_line_option(ctx.options, key, value)
    return ctx


def _read_configs(ctx: ConfigContext, config: Path | None, home: Path) -> None:
    """Apply CONFIG (else the user's file, then the system's) to ctx, again for ``Match final``."""
    files = [(config, True)] if config else [(home / ".ssh/config", True), (SYSTEM_CONFIG, False)]
    for final in (False, True):
        if final and not ctx.wants_final:
            break
        ctx.final = final
        for path, user_config in files:
            if path is not None and (config is not None or path.exists()):
                read_config_file(path, ctx, active=True, user_config=user_config, depth=0)


def _build_spec(
    name: str, ctx: ConfigContext, config: Path | None, home: Path, depth: int
) -> HostSpec:
    """NAME as ``ssh -G`` sees it, from the options that applied to it. Raises UsageError."""
    opts = ctx.options
    first = {key: values[0] for key, values in opts.items() if values}
    hostname = expand_hostname(first.get("hostname", "%h"), ctx.original.lower())
    port = _int(first.get("port", "22"), "Port")
    user = first.get("user", ctx.local_user)
    tokens = _tokens(ctx, hostname, port, user, first)
    expand = _expander(tokens, home)
    proxy_jump, proxy_command = _proxy(name, ctx, tokens, home)
    timeout = first.get("connecttimeout")
    return HostSpec(
        name=name,
        hostname=hostname,
        port=port,
        user=user,
        identity_files=_paths(opts.get("identityfile") or DEFAULT_IDENTITY_FILES, expand),
        identities_only=_bool(first.get("identitiesonly", "no")),
        known_hosts_files=_paths(
            opts.get("userknownhostsfile") or DEFAULT_USER_KNOWN_HOSTS, expand
        ),
        global_known_hosts_files=_paths(
            opts.get("globalknownhostsfile") or DEFAULT_GLOBAL_KNOWN_HOSTS, expand
        ),
        strict_host_key_checking=StrictHostKeyChecking.parse(
            first.get("stricthostkeychecking", "ask")
        ),
        hash_known_hosts=_bool(first.get("hashknownhosts", "no")),
        host_key_alias=first.get("hostkeyalias"),
        proxy_jump=proxy_jump,
        proxy_command=proxy_command,
        jump=_resolve_jump(proxy_jump, config, home, depth) if proxy_jump else None,
        connect_timeout=float(timeout) if timeout and timeout != "none" else None,
        server_alive_interval=_int(first.get("serveraliveinterval", "0"), "ServerAliveInterval"),
    )


def _proxy(
    name: str, ctx: ConfigContext, tokens: dict[str, str], home: Path
) -> tuple[str | None, str | None]:
    """The ProxyJump chain or the ProxyCommand (tokens expanded) that applies, whichever came
    first. Raises UsageError for a chain whose last hop is the host itself, as ssh does."""
    proxy_kind, proxy_value = (ctx.options.get("proxy") or ["", ""])[:2]
    proxy_jump = proxy_value if proxy_kind == "proxyjump" and proxy_value != "none" else None
    if proxy_jump and _parse_jump(proxy_jump.split(",")[-1].strip())[1] == ctx.original:
        raise UsageError(f"{name}: jumphost loop via {proxy_jump} (ssh refuses it too)")
    proxy_command = None
    if proxy_kind == "proxycommand" and proxy_value != "none":
        proxy_command = expand_command(proxy_value, tokens, home, name)
    return proxy_jump, proxy_command


def _paths(paths: Sequence[str], expand: Callable[[str], str]) -> tuple[str, ...]:
    """Each path with its %-tokens and ~ expanded; "none" (no file) left out."""
    return tuple(expand(path) for path in paths if path != "none")


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


def _tokens(
    ctx: ConfigContext, hostname: str, port: int, user: str, first: dict[str, str]
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
        return expand_tilde(text, home)

    return expand


def expand_command(command: str, tokens: dict[str, str], home: Path, host: str) -> str:
    """COMMAND (run by /bin/sh) with its %-tokens expanded, as ssh expands ProxyCommand.

    ssh does not quote what it expands, and a ProxyCommand's author quotes around the tokens
    as they like, so every value expanded here must mean the same to sh unquoted. Raises
    UsageError naming the token when one does not (e.g. ``%r`` expanding to ``a$b``).
    """
    for token in dict.fromkeys(re.findall(r"%(.)", command)):
        value = tokens.get(token, "")
        if token not in ("%", "d") and not shell_safe(value):
            raise UsageError(
                f"ProxyCommand token %{token} expands to {value!r}, "
                "which is not safe in a shell command",
                host=host,
            )
    return _expander(tokens, home)(command)


def _home() -> Path:
    # OpenSSH takes the home directory from the password database, not $HOME.
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def _bool(value: str) -> bool:
    return value.lower() in ("yes", "true")


def _int(value: str, option: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"bad {option} value {value!r}") from None
