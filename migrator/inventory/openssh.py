"""An OpenSSH client config as an inventory: every ``Host`` name that is not a pattern.

``Include`` is followed as ssh follows it (relative paths under ~/.ssh, globs). The config
itself is then the one each host resolves through, so the inventory records its path.
"""

from __future__ import annotations

from pathlib import Path

from migrator.address import check_hostname
from migrator.errors import UsageError
from migrator.inventory.model import Inventory, InventoryHost
from migrator.transport.ssh_config_file import config_lines, include_paths, split_words

_PATTERN_CHARS = frozenset("*?!,")


def read_ssh_config_hosts(path: Path, home: Path | None = None) -> Inventory:
    """The non-pattern Host names of the config at path (and its Includes), in file order.

    Raises UsageError naming the file (and line) when a file cannot be read or parsed.
    """
    names: list[tuple[str, str]] = []
    _collect(path, home or Path.home(), names, depth=0)
    first: dict[str, str] = {}
    for name, where in names:
        first.setdefault(name, where)
    hosts = tuple(
        InventoryHost(name, ssh_config=path, problem=_problem(name, where))
        for name, where in first.items()
    )
    return Inventory(hosts, (str(path),))


def _problem(name: str, where: str) -> str | None:
    try:
        check_hostname(name, where=where)
    except UsageError as exc:
        return str(exc)
    return None


def _collect(path: Path, home: Path, names: list[tuple[str, str]], depth: int) -> None:
    for number, key, rest in config_lines(path, depth):
        if key == "host":
            words = split_words(rest, path, number)
            names.extend((w, f"{path}:{number}") for w in words if not _PATTERN_CHARS & set(w))
        elif key == "include":
            for included in include_paths(split_words(rest, path, number), home, True):
                _collect(included, home, names, depth + 1)
