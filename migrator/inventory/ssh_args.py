"""``ansible_ssh_common_args`` and friends: the ssh arguments migrator's transport honours.

Split as Ansible splits them (``shlex``). Honoured: ``-o Key=Value`` (or ``-oKey=Value``,
``-o "Key Value"``) for every option the SSH transport is made of (``SUPPORTED_OPTIONS``),
``-F config`` (``none``: no config), ``-J jump``, ``-i key``, ``-p port``, ``-l user``.
Ignored because they only tune OpenSSH's own connection (migrator uses no ssh binary and
never prompts): ``-C`` and HARMLESS_OPTIONS, the ones Ansible's default ``ssh_args`` uses.
Anything else raises UsageError naming the variable, file and line, and so does a value
OpenSSH would refuse (``check_value``): a control character anywhere, a host or user name
``ssh`` would not take, a port outside 1-65535, a number or a yes/no that is not one.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from migrator.address import check_hostname, check_user
from migrator.errors import UsageError
from migrator.transport.ssh_config import SUPPORTED_OPTIONS

HARMLESS_OPTIONS = frozenset(
    {"controlmaster", "controlpersist", "controlpath", "compression", "batchmode"}
)
_FLAG_OPTIONS = {"-J": "ProxyJump", "-i": "IdentityFile", "-p": "Port", "-l": "User"}
_OPTION = re.compile(r"([A-Za-z0-9]+)(?:\s*=\s*|\s+)(.+)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class SshArgs:
    """What a string of ssh arguments sets: ``-o`` options in order, and ``-F``."""

    options: tuple[tuple[str, str], ...] = ()
    config: Path | None = None


def read_ssh_args(text: str, key: str, where: str) -> SshArgs:
    """The options of TEXT (the value of variable KEY, set at WHERE ``file:line``).

    Raises UsageError (one line: WHERE, KEY, the argument) for anything not honoured.
    """
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"{where}: {key}: {exc}") from exc
    options: list[tuple[str, str]] = []
    config: Path | None = None
    while words:
        word = words.pop(0)
        flag, attached = word[:2], word[2:]
        if flag not in ("-o", "-F", *_FLAG_OPTIONS) or not word.startswith("-"):
            if word != "-C":
                raise UsageError(f"{where}: {key}: ssh argument {word!r} is not supported")
            continue
        if not attached and not words:
            raise UsageError(f"{where}: {key}: ssh argument {flag} needs a value")
        argument = attached or words.pop(0)
        if flag == "-F":
            check_value("IdentityFile", argument, f"{where}: {key}: -F")
            config = Path("/dev/null" if argument == "none" else argument)
        elif flag == "-o":
            options.extend(_option(argument, key, where))
        else:
            check_value(_FLAG_OPTIONS[flag], argument, f"{where}: {key}: {flag}")
            options.append((_FLAG_OPTIONS[flag], argument))
    return SshArgs(tuple(options), config)


_YES_NO = ("yes", "no", "true", "false")
_CHOICES = {
    "identitiesonly": _YES_NO,
    "hashknownhosts": _YES_NO,
    "stricthostkeychecking": (*_YES_NO, "off", "ask", "accept-new"),
}
_NUMBERS = {"port": (1, 65535), "connecttimeout": (0, 86400), "serveraliveinterval": (0, 86400)}


def check_value(option: str, value: str, where: str) -> None:
    """Raises UsageError (WHERE, the option, the value) for a value OpenSSH would refuse or
    read otherwise than it reads: no control character anywhere (a newline would end a
    config line), names as ``ssh`` checks them, numbers in range, yes/no where one is meant.
    """
    name = option.lower()
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value) or not value:
        raise UsageError(f"{where}: {option} value {value!r} is empty or has a control character")
    if name in ("hostname", "hostkeyalias"):
        check_hostname(value, where=f"{where}: {option}")
    elif name == "user":
        check_user(value, where=f"{where}: {option}")
    elif name == "proxyjump" and value != "none":
        for hop in value.split(","):
            _check_hop(hop.strip(), f"{where}: {option}")
    elif name in _NUMBERS:
        low, high = _NUMBERS[name]
        digits = value.isascii() and value.isdigit() and len(value) < 12
        if not digits or not low <= int(value) <= high:
            raise UsageError(f"{where}: {option} {value!r} is not a number {low}-{high}")
    elif name in _CHOICES and value.lower() not in _CHOICES[name]:
        raise UsageError(f"{where}: {option} {value!r} is not one of {', '.join(_CHOICES[name])}")


def _check_hop(hop: str, where: str) -> None:
    """One ``[ssh://][user@]host[:port]`` of a ProxyJump; raises UsageError."""
    rest = hop.removeprefix("ssh://").rstrip("/")
    user, _, host = rest.rpartition("@")
    if user:
        check_user(user, where=where)
    match = re.fullmatch(r"\[(?P<v6>[^\]]+)\](?::(?P<p6>\w+))?|(?P<h>[^:]+)(?::(?P<p>\w+))?", host)
    if not match:
        raise UsageError(f"{where}: bad jump host {hop!r}")
    check_hostname(match["v6"] or match["h"], where=where)
    port = match["p6"] or match["p"]
    if port is not None:
        check_value("Port", port, where)


def _option(argument: str, key: str, where: str) -> list[tuple[str, str]]:
    match = _OPTION.match(argument.strip())
    if not match:
        raise UsageError(f"{where}: {key}: ssh option {argument!r} is not Key=Value")
    name, value = match[1], match[2].strip()
    if name.lower() in HARMLESS_OPTIONS:
        return []
    if name.lower() not in SUPPORTED_OPTIONS:
        raise UsageError(
            f"{where}: {key}: ssh option {name} is not supported by migrator's SSH transport"
        )
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]  # ssh unquotes -o 'IdentityFile="/a b"' as a config line
    check_value(name, value, f"{where}: {key}")
    return [(name, value)]
