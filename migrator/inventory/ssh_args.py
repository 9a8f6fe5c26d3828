"""``ansible_ssh_common_args`` and friends: the ssh arguments migrator's transport honours.

Split as Ansible splits them (``shlex``). Honoured: ``-o Key=Value`` (or ``-oKey=Value``,
``-o "Key Value"``) for every option the SSH transport is made of (``SUPPORTED_OPTIONS``),
``-F config`` (``none``: no config), ``-J jump``, ``-i key``, ``-p port``, ``-l user``.
Ignored because they only tune OpenSSH's own connection (migrator uses no ssh binary and
never prompts): ``-C`` and HARMLESS_OPTIONS, the ones Ansible's default ``ssh_args`` uses.
Anything else raises UsageError naming the variable, file and line.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

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
            config = Path("/dev/null" if argument == "none" else argument)
        elif flag == "-o":
            options.extend(_option(argument, key, where))
        else:
            options.append((_FLAG_OPTIONS[flag], argument))
    return SshArgs(tuple(options), config)


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
    return [(name, value)]
