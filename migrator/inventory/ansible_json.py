"""``ansible-inventory --list`` JSON (the inventory script format) read into a ``Tree``.

This is how dynamic inventories reach migrator: run the inventory (plugin or script) with
``ansible-inventory -i SOURCE --list > fleet.json`` and give migrator the JSON. Groups are
``{"hosts": [...], "vars": {...}, "children": [...]}`` (or a bare list of hosts), and
``_meta.hostvars`` holds each host's variables (there, group variables are already merged
in). Recognised by content: a top-level ``_meta`` mapping with ``hostvars``.
"""

from __future__ import annotations

import yaml

from migrator.errors import UsageError
from migrator.inventory.tree import Tree
from migrator.inventory.variables import mapping_vars, pairs


def is_list_output(root: yaml.Node | None) -> bool:
    """True when ROOT (a composed document) is ``ansible-inventory --list`` output."""
    if not isinstance(root, yaml.MappingNode):
        return False
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "_meta":
            return isinstance(value, yaml.MappingNode) and any(
                isinstance(k, yaml.ScalarNode) and k.value == "hostvars" for k, _ in value.value
            )
    return False


def plugin_line(root: yaml.Node | None) -> int | None:
    """The line of ``plugin:`` when ROOT is an inventory plugin's configuration (whose hosts
    exist only once Ansible runs the plugin), else None."""
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        named = isinstance(key, yaml.ScalarNode) and key.value == "plugin"
        if named and isinstance(value, yaml.ScalarNode):
            return int(key.start_mark.line) + 1
    return None


def read_list_output(root: yaml.MappingNode, tree: Tree) -> Tree:
    """TREE with the groups, hosts and host variables of ROOT read in. Raises UsageError."""
    hostvars: dict[str, yaml.Node] = {}
    for key, value in root.value:
        name = _name(key, tree.source)
        if name == "_meta":
            for meta_key, meta in _pairs(value, tree.source, "_meta"):
                if _name(meta_key, tree.source) == "hostvars":
                    hostvars = {
                        _name(k, tree.source): v for k, v in _pairs(meta, tree.source, "hostvars")
                    }
        else:
            _group(tree, name, value)
    for host, node in hostvars.items():
        if host not in tree.lines:
            tree.add_host("ungrouped", host, {}, node.start_mark.line + 1)
        variables = mapping_vars(node, tree.source, f"hostvars of {host!r}")
        for group in tree.groups.values():
            if host in group.hosts:
                group.hosts[host].update(variables)
    return tree


def _group(tree: Tree, name: str, node: yaml.Node) -> None:
    group = tree.group(name)
    if isinstance(node, yaml.SequenceNode):
        _hosts(tree, name, node)
        return
    for key, value in _pairs(node, tree.source, f"group {name!r}"):
        section = _name(key, tree.source)
        if section == "hosts":
            _hosts(tree, name, value)
        elif section == "vars":
            group.vars.update(mapping_vars(value, tree.source, f"vars of {name!r}"))
        elif section == "children":
            for child in _items(value, tree.source, f"children of {name!r}"):
                tree.add_child(name, _name(child, tree.source), child.start_mark.line + 1)
        else:
            raise UsageError(
                f"{tree.source}:{key.start_mark.line + 1}: group {name!r} has {section!r}; "
                "expected hosts, vars or children"
            )


def _hosts(tree: Tree, group: str, node: yaml.Node) -> None:
    for item in _items(node, tree.source, f"hosts of {group!r}"):
        tree.add_host(group, _name(item, tree.source), {}, item.start_mark.line + 1)


def _pairs(node: yaml.Node, source: str, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise UsageError(f"{source}:{node.start_mark.line + 1}: {what} must be a mapping")
    return pairs(node, source)


def _items(node: yaml.Node, source: str, what: str) -> list[yaml.Node]:
    if not isinstance(node, yaml.SequenceNode):
        raise UsageError(f"{source}:{node.start_mark.line + 1}: {what} must be a list")
    return list(node.value)


def _name(node: yaml.Node, source: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value):
        raise UsageError(f"{source}:{node.start_mark.line + 1}: expected a name")
    return str(node.value)
