"""An OpenSSH client config as an inventory: every ``Host`` name that is not a pattern.

``Include`` is followed as ssh follows it (relative paths under ~/.ssh, globs). The config
itself is then the one each host resolves through, so the inventory records its path.
"""

from __future__ import annotations

from pathlib import Path

from migrator.inventory.model import Inventory, InventoryHost
from migrator.transport.ssh_config_file import config_lines, include_paths, split_words

_PATTERN_CHARS = frozenset("*?!,")


def read_ssh_config_hosts(path: Path, home: Path | None = None) -> Inventory:
    """The non-pattern Host names of the config at path (and its Includes), in file order.

    Raises UsageError naming the file (and line) when a file cannot be read or parsed.
    """
    names: list[str] = []
    _collect(path, home or Path.home(), names, depth=0)
    hosts = tuple(InventoryHost(name, ssh_config=path) for name in dict.fromkeys(names))
    return Inventory(hosts, (str(path),))


def _collect(path: Path, home: Path, names: list[str], depth: int) -> None:
    for number, key, rest in config_lines(path, depth):
        if key == "host":
            words = split_words(rest, path, number)
            names.extend(w for w in words if not _PATTERN_CHARS & set(w))
        elif key == "include":
            for included in include_paths(split_words(rest, path, number), home, True):
                _collect(included, home, names, depth + 1)
