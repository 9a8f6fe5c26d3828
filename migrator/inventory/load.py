"""The inventory: which hosts a fleet run covers, and how each is reached.

Sources: hosts on the command line (``-i a,b,``), a plain hosts file, an OpenSSH client
config (its non-pattern ``Host`` names), Ansible inventories in INI and YAML
(``ansible.py``); ``limit.py`` narrows the result with Ansible's pattern syntax.
Pure apart from reading the files; never touches the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from migrator.address import check_hostname, check_user
from migrator.errors import UsageError
from migrator.inventory import ansible, openssh
from migrator.inventory.model import Inventory, InventoryHost

_SSH_FIRST = re.compile(r"^\s*(host|match|include)(\s*=|\s)", re.IGNORECASE)
_YAML_FIRST = re.compile(r"^[A-Za-z0-9_.-]+:\s*(#.*)?$")


def load_inventory(sources: Sequence[str]) -> Inventory:
    """The hosts of every source (a file, or a comma list ``a,b,``), merged in order.

    Raises UsageError naming the file and line for an unreadable or malformed source, and
    when the sources hold no host at all.
    """
    inventory = Inventory()
    for source in sources:
        inventory = inventory.merge(_load_one(source))
    if not inventory.hosts:
        raise UsageError(f"no hosts in inventory {', '.join(sources)}")
    return inventory


def from_names(names: Iterable[str], source: str = "command line") -> Inventory:
    """An inventory of the given host names, each possibly ``[user@]host[:port]``."""
    hosts = tuple(_parse_host_word(name, source, None) for name in names if name.strip())
    return Inventory(hosts, (source,))


def _load_one(source: str) -> Inventory:
    path = Path(source)
    if "," in source and not path.exists():
        return from_names(source.split(","))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read inventory {source}: {exc.strerror}") from exc
    kind = detect_format(path, text)
    if kind == "ssh":
        return openssh.read_ssh_config_hosts(path)
    if kind == "yaml":
        return ansible.parse_yaml(text, source)
    return ansible.parse_ini(text, source)


def detect_format(path: Path, text: str) -> str:
    """ "ssh", "yaml" or "ini" (which covers a plain hosts file) for an inventory file.

    YAML by suffix or a first line ``---``/``name:``; an OpenSSH config when some line is a
    ``Host``/``Match``/``Include`` keyword line and none an INI ``[section]``; else INI.
    """
    if path.suffix in (".yml", ".yaml", ".json"):
        return "yaml"
    lines = [
        line
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", ";"))
    ]
    if lines and (lines[0].strip() == "---" or _YAML_FIRST.match(lines[0])):
        return "yaml"
    if any(_SSH_FIRST.match(line) for line in lines) and not any(
        line.lstrip().startswith("[") for line in lines
    ):
        return "ssh"
    return "ini"


def _parse_host_word(word: str, source: str, line: int | None) -> InventoryHost:
    """``[user@]host[:port]`` (or ``[v6]:port``) as one host.

    Raises UsageError for a host or user name OpenSSH would refuse (the user typed it).
    """
    word = word.strip()
    user = None
    if "@" in word:
        user, word = word.rsplit("@", 1)
    port = None
    match = re.fullmatch(r"\[(?P<v6>[^\]]+)\]:(?P<port>\d+)|(?P<name>[^:\s]+):(?P<p>\d+)", word)
    if match:
        word = match["v6"] or match["name"]
        port = int(match["port"] or match["p"])
    where = f"{source}:{line}" if line else source
    check_hostname(word, where=where)
    if user is not None:
        check_user(user, where=where)
    return InventoryHost(word, port=port, user=user)
