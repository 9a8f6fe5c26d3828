"""Ansible inventories (INI and YAML) as migrator inventories.

What we take from them: hosts (with ``web[01:20]`` ranges and ``host:port``), groups,
``children``, ``vars`` and the connection variables ``ansible_host``, ``ansible_port``,
``ansible_user`` (and their old ``ansible_ssh_*`` names). Variables resolve as Ansible's do:
host vars beat group vars, a deeper group beats its parent, ``all`` is weakest. Every
error names the file and line.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

import yaml

from migrator.address import check_hostname, check_recipient, check_user
from migrator.errors import UsageError
from migrator.inventory.model import Inventory, InventoryHost

_CONNECTION_VARS = {
    "ansible_host": "hostname",
    "ansible_ssh_host": "hostname",
    "ansible_port": "port",
    "ansible_ssh_port": "port",
    "ansible_user": "user",
    "ansible_ssh_user": "user",
    "migrator_test_recipient": "test_recipient",
}
_RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\]")
# Hosts one inventory word may expand to: a typo like x[0:99999999] must not eat memory.
MAX_RANGE_HOSTS = 10_000


@dataclass(slots=True)
class _Group:
    hosts: dict[str, dict[str, str]] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Tree:
    """Groups as read, before variables are resolved; ``order`` keeps first appearance."""

    source: str
    groups: dict[str, _Group] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)

    def group(self, name: str) -> _Group:
        return self.groups.setdefault(name, _Group())

    def add_host(self, group: str, name: str, variables: dict[str, str], line: int) -> None:
        self.group(group).hosts.setdefault(name, {}).update(variables)
        if name not in self.lines:
            self.order.append(name)
            self.lines[name] = line


def parse_ini(text: str, source: str) -> Inventory:
    """An Ansible INI inventory (a plain hosts file is one too). Raises UsageError."""
    tree = _Tree(source)
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[([^\]:\s]+)(?::(\w+))?\]\s*(?:[#;].*)?", line)
        if header:
            section, kind = header[1], header[2] or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise UsageError(f"{source}:{number}: unknown section kind :{kind}")
            tree.group(section)
            continue
        words = _split(line, source, number)
        if kind == "children":
            tree.group(section).children.append(words[0])
            tree.group(words[0])
        elif kind == "vars":
            key, value = _assignment(line, source, number)
            tree.group(section).vars[key] = value
        else:
            variables = dict(_assignment(word, source, number) for word in words[1:])
            for name in expand_range(words[0], source, number):
                tree.add_host(section, name, variables, number)
    return _resolve(tree)


def _split(line: str, source: str, number: int) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError as exc:
        raise UsageError(f"{source}:{number}: {exc}") from exc


def _assignment(word: str, source: str, number: int) -> tuple[str, str]:
    key, sep, value = word.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{source}:{number}: expected key=value, got {word!r}")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return key.strip(), value.split(" #")[0].strip()


def expand_range(word: str, source: str, number: int) -> list[str]:
    """``mx[01:03].example`` -> mx01..mx03 (leading zeros kept; ``[a:c]`` letters).

    Raises UsageError naming the file and line for a bad or empty range, and when the word
    would expand to more than MAX_RANGE_HOSTS hosts (counted before any name is made).
    """
    matches = list(_RANGE.finditer(word))
    ranges = [_HostRange.parse(match, source, number) for match in matches]
    total = 1
    for host_range in ranges:
        total *= len(host_range.numbers)
    if total > MAX_RANGE_HOSTS:
        raise UsageError(
            f"{source}:{number}: host range {word!r} expands to {total} hosts; "
            f"at most {MAX_RANGE_HOSTS} a line"
        )
    names, end = [""], 0
    for match, host_range in zip(matches, ranges, strict=True):
        between = word[end : match.start()]
        names = [name + between + item for name in names for item in host_range.items()]
        end = match.end()
    return [name + word[end:] for name in names]


@dataclass(frozen=True, slots=True)
class _HostRange:
    """One ``[start:end:stride]``: numbers (or letters' code points), not yet names."""

    numbers: range
    width: int = 0
    letters: bool = False

    @classmethod
    def parse(cls, match: re.Match[str], source: str, number: int) -> _HostRange:
        """Raises UsageError for a bad range, a stride below 1 or an empty range."""
        start, end, stride = match[1], match[2], int(match[3] or 1)
        if stride < 1:
            raise UsageError(f"{source}:{number}: host range {match[0]} needs a stride of 1+")
        if start.isdigit() and end.isdigit():
            width = len(start) if start.startswith("0") else 0
            found = cls(range(int(start), int(end) + 1, stride), width)
        elif len(start) == len(end) == 1 and start.isalpha() and end.isalpha():
            found = cls(range(ord(start), ord(end) + 1, stride), letters=True)
        else:
            raise UsageError(f"{source}:{number}: bad host range [{start}:{end}]")
        if not found.numbers:
            raise UsageError(f"{source}:{number}: empty host range [{start}:{end}]")
        return found

    def items(self) -> list[str]:
        if self.letters:
            return [chr(code) for code in self.numbers]
        return [str(value).zfill(self.width) for value in self.numbers]


def parse_yaml(text: str, source: str) -> Inventory:
    """An Ansible YAML inventory (``all: {hosts, vars, children}``). Raises UsageError."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{where}: not valid YAML: {problem}") from exc
    tree = _Tree(source)
    if root is None:
        return _resolve(tree)
    for key, value in _mapping(root, source, "the inventory"):
        _yaml_group(tree, _scalar(key, source), value)
    return _resolve(tree)


def _yaml_group(tree: _Tree, name: str, node: yaml.Node) -> None:
    group = tree.group(name)
    for key, value in _mapping(node, tree.source, f"group {name!r}"):
        section = _scalar(key, tree.source)
        if section == "hosts":
            for host_key, host_vars in _mapping(value, tree.source, f"hosts of {name!r}"):
                line = host_key.start_mark.line + 1
                variables = _yaml_vars(host_vars, tree.source)
                for host in expand_range(_scalar(host_key, tree.source), tree.source, line):
                    tree.add_host(name, host, variables, line)
        elif section == "vars":
            group.vars.update(_yaml_vars(value, tree.source))
        elif section == "children":
            for child_key, child in _mapping(value, tree.source, f"children of {name!r}"):
                child_name = _scalar(child_key, tree.source)
                group.children.append(child_name)
                _yaml_group(tree, child_name, child)
        else:
            line = key.start_mark.line + 1
            raise UsageError(
                f"{tree.source}:{line}: group {name!r} has {section!r}; "
                "expected hosts, vars or children"
            )


def _mapping(node: yaml.Node, source: str, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return []
    if not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1
        raise UsageError(f"{source}:{line}: {what} must be a mapping, not a {_kind(node)}")
    return list(node.value)


def _yaml_vars(node: yaml.Node, source: str) -> dict[str, str]:
    return {
        _scalar(key, source): _scalar(value, source) if isinstance(value, yaml.ScalarNode) else ""
        for key, value in _mapping(node, source, "vars")
    }


def _scalar(node: yaml.Node, source: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        line = node.start_mark.line + 1
        raise UsageError(f"{source}:{line}: expected a name or value, not a {_kind(node)}")
    return str(node.value)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    return "list" if isinstance(node, yaml.SequenceNode) else "value"


def _resolve(tree: _Tree) -> Inventory:
    """Hosts with their groups (ancestors included) and connection variables resolved."""
    parents: dict[str, set[str]] = {}
    for name, group in tree.groups.items():
        for child in group.children:
            parents.setdefault(child, set()).add(name)
    depth = {name: _depth(name, parents, set()) for name in tree.groups}
    hosts = []
    for host in tree.order:
        direct = [name for name, group in tree.groups.items() if host in group.hosts]
        groups = _ancestors(direct, parents)
        if len(groups - {"all"}) > 1:
            groups.discard("ungrouped")  # Ansible's ungrouped: hosts in no other group
        ordered = sorted(groups - {"all"}, key=lambda g: (depth.get(g, 1), g))
        variables: dict[str, str] = dict(tree.groups["all"].vars) if "all" in tree.groups else {}
        for group_name in ordered:
            variables.update(tree.groups[group_name].vars)
        for group_name in direct:
            variables.update(tree.groups[group_name].hosts[host])
        hosts.append(_host(host, variables, tuple(ordered) or ("ungrouped",), tree))
    return Inventory(tuple(hosts), (tree.source,))


def _depth(name: str, parents: dict[str, set[str]], seen: set[str]) -> int:
    if name in seen:
        return 0  # a children loop; Ansible refuses it at parse time, we just stop climbing
    above = parents.get(name, set()) - {"all"}
    return 1 + max((_depth(p, parents, seen | {name}) for p in above), default=0)


def _ancestors(direct: list[str], parents: dict[str, set[str]]) -> set[str]:
    found: set[str] = set()
    todo = list(direct)
    while todo:
        group = todo.pop()
        if group not in found:
            found.add(group)
            todo.extend(parents.get(group, ()))
    return found


def _host(
    name: str, variables: dict[str, str], groups: tuple[str, ...], tree: _Tree
) -> InventoryHost:
    original = name
    settings: dict[str, str] = {}
    for key, value in variables.items():
        if key in _CONNECTION_VARS and value:
            settings[_CONNECTION_VARS[key]] = value
    port = None
    hostname = settings.get("hostname")
    if ":" in name and name.count(":") == 1 and name.rsplit(":", 1)[1].isdigit():
        name, port_text = name.rsplit(":", 1)
        port = int(port_text)
    if "port" in settings:
        if not settings["port"].isdigit():
            line = tree.lines.get(original, 0)
            raise UsageError(f"{tree.source}:{line}: {name}: ansible_port is not a number")
        port = int(settings["port"])
    where = f"{tree.source}:{tree.lines.get(original, 0)}"
    return InventoryHost(
        name,
        hostname,
        port,
        settings.get("user"),
        groups,
        test_recipient=settings.get("test_recipient"),
        problem=_problem(name, settings, where),
    )


def _problem(name: str, settings: dict[str, str], where: str) -> str | None:
    """Why this host must not be reached (a name OpenSSH refuses, a bad test recipient)."""
    try:
        check_hostname(name, where=where)
        if "hostname" in settings:
            check_hostname(settings["hostname"], where=f"{where}: ansible_host")
        if "user" in settings:
            check_user(settings["user"], where=f"{where}: ansible_user")
        if "test_recipient" in settings:
            check_recipient(settings["test_recipient"], where=f"{where}: migrator_test_recipient")
    except UsageError as exc:
        return str(exc)
    return None
