"""The inventory: which hosts a fleet run covers, and how each is reached.

Sources: hosts on the command line (``-i a,b,``), a plain hosts file, an OpenSSH client
config (its non-pattern ``Host`` names), Ansible inventories in INI and YAML
(``inventory_ansible.py``). ``--limit`` narrows the result with Ansible's pattern syntax.
Pure apart from reading the files; never touches the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from migrator.errors import UsageError


@dataclass(frozen=True, slots=True)
class InventoryHost:
    """One host of a fleet: its name, connection overrides and the groups it belongs to.

    ``hostname``/``port``/``user`` come from the inventory (``ansible_host`` ...) and beat
    the OpenSSH config, as Ansible passes them to ssh; None means "as ssh would resolve".
    ``ssh_config`` is the OpenSSH config the host was listed in, if any (it resolves there).
    ``test_recipient`` (Ansible var ``migrator_test_recipient``) beats ``--test-recipient``.
    """

    name: str
    hostname: str | None = None
    port: int | None = None
    user: str | None = None
    groups: tuple[str, ...] = ()
    ssh_config: Path | None = None
    test_recipient: str | None = None


@dataclass(frozen=True, slots=True)
class Inventory:
    """Hosts in inventory order (first appearance wins), and where they came from."""

    hosts: tuple[InventoryHost, ...] = ()
    sources: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(host.name for host in self.hosts)

    def merge(self, other: Inventory) -> Inventory:
        """Both inventories; a host named in both keeps the first's settings, all groups."""
        by_name = {host.name: host for host in self.hosts}
        order = list(self.hosts)
        for host in other.hosts:
            if host.name in by_name:
                kept = by_name[host.name]
                groups = kept.groups + tuple(g for g in host.groups if g not in kept.groups)
                merged = replace(kept, groups=groups)
                order[order.index(kept)] = merged
                by_name[host.name] = merged
            else:
                order.append(host)
                by_name[host.name] = host
        return Inventory(tuple(order), self.sources + other.sources)


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
    from migrator.inventory import ansible as inventory_ansible
    from migrator.inventory import openssh as inventory_ssh

    kind = detect_format(path, text)
    if kind == "ssh":
        return inventory_ssh.read_ssh_config_hosts(path)
    if kind == "yaml":
        return inventory_ansible.parse_yaml(text, source)
    return inventory_ansible.parse_ini(text, source)


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
    """``[user@]host[:port]`` (or ``[v6]:port``) as one host."""
    word = word.strip()
    user = None
    if "@" in word:
        user, word = word.rsplit("@", 1)
    port = None
    match = re.fullmatch(r"\[(?P<v6>[^\]]+)\]:(?P<port>\d+)|(?P<name>[^:\s]+):(?P<p>\d+)", word)
    if match:
        word = match["v6"] or match["name"]
        port = int(match["port"] or match["p"])
    if not word or any(c.isspace() for c in word):
        where = f"{source}:{line}" if line else source
        raise UsageError(f"{where}: bad host name {word!r}")
    return InventoryHost(word, port=port, user=user)


def limit(inventory: Inventory, pattern: str | None) -> Inventory:
    """The hosts matching an Ansible-style pattern (see ``matches``), inventory order kept.

    Raises UsageError when the pattern matches no host (a typo should not mean "nothing").
    """
    if not pattern:
        return inventory
    kept = tuple(host for host in inventory.hosts if matches(host, pattern))
    if not kept:
        raise UsageError(f"--limit {pattern!r} matches no host in the inventory")
    return Inventory(kept, inventory.sources)


def matches(host: InventoryHost, pattern: str) -> bool:
    """Ansible's host pattern: ``a:b`` or ``a,b`` union, ``&x`` intersect, ``!x`` exclude;
    each term a host name, group name, glob (``mail*``) or ``~regex``; ``all``/``*`` all."""
    terms = [t.strip() for t in re.split(r"[:,]", pattern) if t.strip()]
    if ":" in pattern and re.fullmatch(r"[^:]+:\d+", pattern):
        terms = [pattern]  # "host:port" is never meant as a union
    included = False
    positive = [t for t in terms if not t.startswith(("!", "&"))]
    if not positive:
        included = True
    for term in positive:
        included = included or _term(host, term)
    for term in terms:
        if term.startswith("&"):
            included = included and _term(host, term[1:])
        elif term.startswith("!"):
            included = included and not _term(host, term[1:])
    return included


def _term(host: InventoryHost, term: str) -> bool:
    if term in ("all", "*"):
        return True
    if term.startswith("~"):
        regex = re.compile(term[1:])
        return bool(regex.search(host.name)) or any(regex.search(g) for g in host.groups)
    from fnmatch import fnmatchcase

    candidates = (host.name, *host.groups)
    return any(fnmatchcase(candidate, term) for candidate in candidates)
