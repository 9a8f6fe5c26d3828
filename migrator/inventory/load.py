"""The inventory: which hosts a fleet run covers, and how each is reached.

Sources: hosts on the command line (``-i a,b,``), a plain hosts file, an OpenSSH client
config (its non-pattern ``Host`` names), Ansible inventories in INI and YAML
(``ansible.py``) and ``ansible-inventory --list`` JSON (``ansible_json.py``), each with the
``group_vars/`` and ``host_vars/`` beside it (``tree.py``); ``limit.py`` narrows the result
with Ansible's pattern syntax. Pure apart from reading the files; never touches the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from migrator.address import check_hostname, check_user
from migrator.errors import UsageError
from migrator.inventory import ansible, ansible_json, openssh
from migrator.inventory.connection import inventory_host
from migrator.inventory.model import Inventory, InventoryHost
from migrator.inventory.tree import Tree, resolve
from migrator.inventory.variables import compose, read_text

_SSH_FIRST = re.compile(r"^\s*(host|match|include)(\s*=|\s)", re.IGNORECASE)
_YAML_FIRST = re.compile(r"^[A-Za-z0-9_.-]+:\s*(#.*)?$")
_RUN_IT = (
    "migrator does not run inventories: give it the output of "
    "`ansible-inventory -i {path} --list > fleet.json`"
)


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


def load_variables(source: str) -> dict[str, dict[str, object]]:
    """Each host's resolved variables in the Ansible inventory file SOURCE, as Ansible's
    ``ansible-inventory --list`` gives them in ``_meta.hostvars``. Raises UsageError."""
    path = Path(source)
    tree = _read_tree(path, _read(path, source))
    return {
        host.name: {key: var.value for key, var in host.variables.items()} for host in resolve(tree)
    }


def _load_one(source: str) -> Inventory:
    path = Path(source)
    if "," in source and not path.exists():
        return from_names(source.split(","))
    text = _read(path, source)
    if detect_format(path, text) == "ssh":
        return openssh.read_ssh_config_hosts(path)
    hosts = tuple(inventory_host(host) for host in resolve(_read_tree(path, text)))
    return Inventory(hosts, (source,))


def _read(path: Path, source: str) -> str:
    """The inventory's text; never blocks on a FIFO or reads a device. Raises UsageError."""
    return read_text(path, "inventory")


def _read_tree(path: Path, text: str) -> Tree:
    """The groups and hosts of an Ansible inventory file, with its directory's vars files.

    Raises UsageError for a malformed file, and for a dynamic inventory (a script, a plugin
    configuration) saying how to give migrator its output instead.
    """
    tree = Tree(str(path), base=path.parent)
    if text.startswith("#!"):
        raise UsageError(f"{path}:1: an inventory script; {_RUN_IT.format(path=path)}")
    if detect_format(path, text) == "ini":
        return ansible.read_ini(text, tree)
    root = compose(text, str(path))
    if ansible_json.is_list_output(root):
        assert isinstance(root, yaml.MappingNode)
        return ansible_json.read_list_output(root, tree)
    plugin = ansible_json.plugin_line(root)
    if plugin:
        where = f"{path}:{plugin}"
        raise UsageError(f"{where}: an inventory plugin configuration; {_RUN_IT.format(path=path)}")
    return ansible.read_yaml(root, tree)


def detect_format(path: Path, text: str) -> str:
    """ "ssh", "yaml" or "ini" (which covers a plain hosts file) for an inventory file.

    YAML (JSON too) by suffix or a first line ``---``/``name:``/``{``; an OpenSSH config when
    some line is a ``Host``/``Match``/``Include`` keyword line and none an INI
    ``[section]``; else INI.
    """
    if path.suffix in (".yml", ".yaml", ".json") or text.lstrip().startswith("{"):
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
        digits = match["port"] or match["p"]
        port = int(digits) if digits.isascii() and len(digits) < 12 else 0
    where = f"{source}:{line}" if line else source
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"{where}: port of {word!r} is not a number 1-65535")
    check_hostname(word, where=where)
    if user is not None:
        check_user(user, where=where)
    return InventoryHost(word, port=port, user=user)
