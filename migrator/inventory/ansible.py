"""Ansible inventories (INI and YAML) read into a ``Tree``.

What we take from them: hosts (with ``web[01:20]`` ranges and ``host:port``), groups,
``children`` and ``vars``, each variable with its file and line; ``tree.py`` resolves them
(with ``group_vars/``/``host_vars/``), ``connection.py`` turns them into how a host is
reached. INI values are read as Ansible's INI plugin reads them (a Python literal, else the
text). Every error names the file and line.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from dataclasses import dataclass

import yaml

from migrator.errors import UsageError
from migrator.inventory.tree import Tree
from migrator.inventory.variables import Var, mapping_vars, pairs

_RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\]")
# Hosts one inventory word may expand to: a typo like x[0:99999999] must not eat memory.
MAX_RANGE_HOSTS = 10_000


def read_ini(text: str, tree: Tree) -> Tree:
    """TREE with an Ansible INI inventory read in (a plain hosts file is one). Raises UsageError."""
    source = tree.source
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
            tree.add_child(section, words[0], number)
        elif kind == "vars":
            key, value = _assignment(line, source, number)
            tree.group(section).vars[key] = value
        else:
            variables = dict(_assignment(word, source, number) for word in words[1:])
            for name in expand_range(words[0], source, number):
                tree.add_host(section, name, variables, number)
    return tree


def _split(line: str, source: str, number: int) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError as exc:
        raise UsageError(f"{source}:{number}: {exc}") from exc


def _assignment(word: str, source: str, number: int) -> tuple[str, Var]:
    key, sep, value = word.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{source}:{number}: expected key=value, got {word!r}")
    # A vars line keeps " # ..." in its value, as in Ansible (host lines lose it to shlex).
    return key.strip(), Var(_ini_value(value.strip()), f"{source}:{number}")


def _ini_value(text: str) -> object:
    """As Ansible's INI plugin: a Python literal (``2222``, ``True``, ``'x'``), else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


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


def read_yaml(root: yaml.Node | None, tree: Tree) -> Tree:
    """TREE with an Ansible YAML inventory (``all: {hosts, vars, children}``) read in.

    Raises UsageError naming the file and line."""
    for key, value in _mapping(root, tree.source, "the inventory") if root else ():
        _yaml_group(tree, _scalar(key, tree.source), value)
    return tree


def _yaml_group(tree: Tree, name: str, node: yaml.Node) -> None:
    group = tree.group(name)
    for key, value in _mapping(node, tree.source, f"group {name!r}"):
        section = _scalar(key, tree.source)
        if section == "hosts":
            for host_key, host_vars in _mapping(value, tree.source, f"hosts of {name!r}"):
                line = host_key.start_mark.line + 1
                variables = mapping_vars(host_vars, tree.source, "host vars")
                for host in expand_range(_scalar(host_key, tree.source), tree.source, line):
                    tree.add_host(name, host, variables, line)
        elif section == "vars":
            group.vars.update(mapping_vars(value, tree.source, "vars"))
        elif section == "children":
            for child_key, child in _mapping(value, tree.source, f"children of {name!r}"):
                child_name = _scalar(child_key, tree.source)
                tree.add_child(name, child_name, child_key.start_mark.line + 1)
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
    return pairs(node, source)


def _scalar(node: yaml.Node, source: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        line = node.start_mark.line + 1
        raise UsageError(f"{source}:{line}: expected a name or value, not a {_kind(node)}")
    return str(node.value)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    return "list" if isinstance(node, yaml.SequenceNode) else "value"
