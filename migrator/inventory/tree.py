"""An Ansible inventory as read (groups, hosts, variables), and each host's variables
resolved the way Ansible resolves them.

Precedence, weakest first (Ansible's documented order and ``VariableManager.get_vars``):
the inventory's ``all`` vars, the inventory's other group vars (groups sorted by depth,
``ansible_group_priority``, name: a child beats its parent), ``group_vars/all``,
``group_vars/<group>`` in the same order, the inventory's host vars, ``host_vars/<host>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from migrator.errors import UsageError
from migrator.inventory.variables import Var, Vars, adjacent_vars

_PRIORITY = "ansible_group_priority"


@dataclass(slots=True)
class Group:
    """One group as read: its hosts (with their inline vars), vars and child groups."""

    hosts: dict[str, Vars] = field(default_factory=dict)
    vars: Vars = field(default_factory=dict)
    children: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Tree:
    """Groups as read, before variables are resolved; ``order`` keeps first appearance.

    ``base`` is the directory whose ``group_vars/`` and ``host_vars/`` apply (the
    inventory file's own directory, as for Ansible); None reads none.
    """

    source: str
    base: Path | None = None
    groups: dict[str, Group] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)

    def group(self, name: str) -> Group:
        return self.groups.setdefault(name, Group())

    def add_child(self, parent: str, child: str, line: int) -> None:
        """Make CHILD a child group of PARENT (set at LINE of the source).

        Raises UsageError naming the file and line when that makes a loop (PARENT is CHILD
        or one of its descendants), as Ansible refuses it.
        """
        todo, seen = [child], set()
        while todo:
            group = todo.pop()
            if group == parent:
                raise UsageError(
                    f"{self.source}:{line}: group {child!r} as a child of {parent!r} makes "
                    "a loop of children groups"
                )
            if group not in seen:
                seen.add(group)
                todo.extend(self.groups[group].children if group in self.groups else ())
        if child not in self.group(parent).children:
            self.group(parent).children.append(child)
        self.group(child)

    def add_host(self, group: str, name: str, variables: Vars, line: int) -> None:
        """Add NAME to GROUP; ``host:port`` sets ``ansible_port`` as a host variable (which
        the host's own ``ansible_port`` beats), as Ansible's parsers do."""
        suffix = name.rsplit(":", 1)[-1]
        if name.count(":") == 1 and suffix.isascii() and suffix.isdigit():
            name = name.rsplit(":", 1)[0]
            # An over-long number stays text: connection.py refuses it, naming the line.
            port: object = int(suffix) if len(suffix) < 12 else suffix
            variables = {"ansible_port": Var(port, f"{self.source}:{line}"), **variables}
        self.group(group).hosts.setdefault(name, {}).update(variables)
        if name not in self.lines:
            self.order.append(name)
            self.lines[name] = line


@dataclass(frozen=True, slots=True)
class ResolvedHost:
    """A host with its groups (ancestors included, ``all`` left out) and final variables."""

    name: str
    groups: tuple[str, ...]
    variables: Vars
    where: str


def resolve(tree: Tree) -> list[ResolvedHost]:
    """Every host in first-appearance order with its variables resolved.

    Raises UsageError naming the file when a ``group_vars``/``host_vars`` file is malformed.
    """
    parents: dict[str, set[str]] = {}
    for name, group in tree.groups.items():
        for child in group.children:
            parents.setdefault(child, set()).add(name)
    depths: dict[str, int] = {}
    rank = {
        name: (_depth(name, parents, depths), _priority(tree, name), name) for name in tree.groups
    }
    group_files: dict[str, Vars] = {}
    resolved = []
    for host in tree.order:
        direct = [name for name, group in tree.groups.items() if host in group.hosts]
        groups = _ancestors(direct, parents)
        if len(groups - {"all"}) > 1:
            groups.discard("ungrouped")  # Ansible's ungrouped: hosts in no other group
        # A host in no group but all is in ungrouped, for its group_vars too.
        ordered = sorted(groups - {"all"}, key=lambda g: rank.get(g, (1, 1, g))) or ["ungrouped"]
        variables = _host_vars(tree, host, direct, ordered, group_files)
        where = f"{tree.source}:{tree.lines.get(host, 0)}"
        resolved.append(ResolvedHost(host, tuple(ordered), variables, where))
    return resolved


def _host_vars(
    tree: Tree, host: str, direct: list[str], ordered: list[str], group_files: dict[str, Vars]
) -> Vars:
    def files(kind: str, name: str) -> Vars:
        if tree.base is None:
            return {}
        if kind == "host_vars":
            return adjacent_vars(tree.base, kind, name)
        if name not in group_files:
            group_files[name] = adjacent_vars(tree.base, kind, name)
        return group_files[name]

    variables: Vars = {}
    variables.update(tree.groups["all"].vars if "all" in tree.groups else {})
    for name in ordered:
        variables.update(tree.groups[name].vars if name in tree.groups else {})
    variables.pop(_PRIORITY, None)  # a group's setting, not a variable (as in Ansible)
    variables.update(files("group_vars", "all"))
    for name in ordered:
        variables.update(files("group_vars", name))
    for name in direct:
        variables.update(tree.groups[name].hosts[host])
    variables.update(files("host_vars", host))
    return variables


def _priority(tree: Tree, name: str) -> int:
    """``ansible_group_priority`` (inventory only, as in Ansible); 1 when unset or not a number."""
    found = tree.groups[name].vars.get(_PRIORITY, Var(1, ""))
    try:
        return int(str(found.value))
    except ValueError:
        return 1


def _depth(name: str, parents: dict[str, set[str]], depths: dict[str, int]) -> int:
    """How far below ``all`` NAME is, memoised and without recursion: groups with many
    parents must not make this exponential, nor a chain of thousands of INI groups overflow
    the stack. (``Tree.add_child`` refused loops; one would count as depth 0 here.)"""
    stack: list[tuple[str, bool]] = [(name, False)]
    expanding: set[str] = set()  # groups whose parents are on the stack above them
    while stack:
        group, ready = stack.pop()
        above = parents.get(group, set()) - {"all"}
        if ready:
            depths[group] = 1 + max((depths.get(p, 0) for p in above), default=0)
            expanding.discard(group)
        elif group not in depths and group not in expanding:
            expanding.add(group)
            stack.append((group, True))
            stack.extend((p, False) for p in sorted(above) if p not in depths)
    return depths[name]


def _ancestors(direct: list[str], parents: dict[str, set[str]]) -> set[str]:
    found: set[str] = set()
    todo = list(direct)
    while todo:
        group = todo.pop()
        if group not in found:
            found.add(group)
            todo.extend(parents.get(group, ()))
    return found
