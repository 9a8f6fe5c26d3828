"""Typed access to Postfix's main.cf, master.cf and transport maps through their lenses."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from migrator.config.tree import ConfigTree
from migrator.errors import ConfigParseError

MAIN_LENS = "Postfix_Main"
MASTER_LENS = "Postfix_Master"
TRANSPORT_LENS = "Postfix_Transport"


@dataclass(frozen=True, slots=True)
class MasterEntry:
    """One master.cf service: its name, type, daemon program and the daemon's arguments."""

    name: str
    type: str
    unprivileged: str
    chroot: str
    command: str
    program: str
    attributes: tuple[tuple[str, str], ...]
    argv: tuple[str, ...]
    line: int | None = None

    def attribute(self, key: str) -> str | None:
        for name, value in self.attributes:
            if name == key:
                return value
        return None


@dataclass(frozen=True, slots=True)
class TransportEntry:
    """One transport map line: a pattern, a transport name and its nexthop."""

    pattern: str
    transport: str
    nexthop: str
    line: int | None = None


@dataclass(frozen=True, slots=True)
class MainFile:
    """main.cf parsed: every parameter set (continuations joined) and the line that sets it."""

    params: Mapping[str, str]
    lines: Mapping[str, int]


def parse_main(tree: ConfigTree, path: str) -> MainFile:
    """main.cf loaded in ``tree`` at ``path``, read-only from here on (it may be shared)."""
    return MainFile(
        MappingProxyType(main_params(tree, path)), MappingProxyType(main_param_lines(tree, path))
    )


def main_params(tree: ConfigTree, path: str) -> dict[str, str]:
    """Every parameter set in main.cf, continuation lines joined by one space.

    A comment line inside a value cuts it (the lens keeps the comment where it is): the value
    Postfix reads is the node's own text, then every "continued" part, in order.
    """
    params: dict[str, str] = {}
    for node in tree.match(f"{tree.file_node(path)}/*"):
        label = _node_name(node)
        if label.startswith("#"):
            continue
        parts = [
            tree.get(node) or "",
            *(tree.get(c) or "" for c in tree.match(f"{node}/continued")),
        ]
        params[label] = " ".join(" ".join(parts).split())
    return params


def main_param_lines(tree: ConfigTree, path: str) -> dict[str, int]:
    """The line of main.cf where each parameter is (last) set."""
    lines = {}
    for node in tree.match(f"{tree.file_node(path)}/*[label() != '#comment']"):
        line = tree.line(node)
        if line is not None:
            lines[_node_name(node)] = line
    return lines


def set_main_param(tree: ConfigTree, path: str, name: str, value: str) -> None:
    """Set a parameter in place (its last line, the one Postfix uses), or append it.

    A value is replaced whole: comment lines that were inside it follow the new value, in
    order (a bare "#" goes with the old value); a value that started on the line after the
    name still does. Raises ConfigParseError when the tree refuses the edit.
    """
    found = tree.match(f"{tree.file_node(path)}/{name}")
    node = found[-1] if found else f"{tree.file_node(path)}/{name}"
    old = (tree.get(node) or "") if found else ""
    if old[:1] in ("\r", "\n"):
        value = old[: len(old) - len(old.lstrip())] + value
    if found and tree.match(f"{node}/*"):
        tree.remove(f"{node}/continued")
        for comment in reversed(tree.match(f"{node}/#comment")):
            if tree.get(comment) is None:
                tree.remove(comment)
    tree.set(node, value)


def remove_main_param(tree: ConfigTree, path: str, name: str) -> None:
    """Remove every line that sets ``name`` (comment lines inside its value go with it)."""
    tree.remove(f"{tree.file_node(path)}/{name}")


MASTER_COLUMNS = ("type", "private", "unprivileged", "chroot", "wakeup", "limit")


def add_master_service(
    tree: ConfigTree, path: str, name: str, columns: tuple[str, ...], command: str
) -> None:
    """Append the master.cf service ``name`` with ``columns`` (type, private, unprivileged,
    chroot, wakeup, maxproc) and ``command``, after every other service."""
    node = f"{tree.file_node(path)}/{name}[last()+1]"
    for label, value in zip(MASTER_COLUMNS, columns, strict=True):
        tree.set(f"{node}/{label}", value)
        node = f"{tree.file_node(path)}/{name}[last()]"
    tree.set(f"{node}/command", command)


def remove_master_service(tree: ConfigTree, path: str, name: str, kind: str) -> None:
    """Remove the master.cf service ``name`` of type ``kind`` (its continuation lines too).

    Raises ConfigParseError unless exactly one service has that name and type.
    """
    nodes = [
        node
        for node in tree.match(f"{tree.file_node(path)}/*[type = {_quote(kind)}]")
        if _node_name(node) == name
    ]
    if len(nodes) != 1:
        raise ConfigParseError(
            f"expected one service {name} ({kind}), found {len(nodes)}", host=tree.host, path=path
        )
    tree.remove(nodes[0])


def master_entries(tree: ConfigTree, path: str) -> list[MasterEntry]:
    """Every service in master.cf; the opaque command string parsed with shlex (reading only).

    Raises ConfigParseError when a command cannot be split into words.
    """
    entries = []
    for node in tree.match(f"{tree.file_node(path)}/*[type]"):
        name = _node_name(node)
        # A comment line inside a service splits its command into several nodes (the lens
        # keeps the comment where it is); the command Postfix runs is all of them in order.
        command = " ".join(tree.get(part) or "" for part in tree.match(f"{node}/command"))
        try:
            words = shlex.split(command, posix=True)
        except ValueError as exc:
            raise ConfigParseError(
                f"service {name}: cannot split command: {exc}", host=tree.host, path=path
            ) from exc
        words = brace_groups(words)
        program = words[0] if words else ""
        attributes, argv = _split_daemon_args(words[1:])
        entries.append(
            MasterEntry(
                name=name,
                type=tree.get(f"{node}/type") or "",
                unprivileged=tree.get(f"{node}/unprivileged") or "",
                chroot=tree.get(f"{node}/chroot") or "",
                command=command,
                program=program,
                attributes=attributes,
                argv=argv,
                line=tree.line(node),
            )
        )
    return entries


def transport_entries(tree: ConfigTree, path: str) -> list[TransportEntry]:
    """Every record of a transport(5) map source file."""
    entries = []
    for node in tree.match(f"{tree.file_node(path)}/pattern"):
        entries.append(
            TransportEntry(
                pattern=tree.get(node) or "",
                transport=tree.get(f"{node}/transport") or "",
                nexthop=tree.get(f"{node}/nexthop") or "",
                line=tree.line(node),
            )
        )
    return entries


def set_transport_entry(tree: ConfigTree, path: str, pattern: str, transport: str) -> None:
    """Point the record for ``pattern`` at ``transport`` (``name:nexthop``).

    Raises ConfigParseError unless exactly one record has that pattern.
    """
    node = tree.one(f"{tree.file_node(path)}/pattern[. = {_quote(pattern)}]")
    name, _, nexthop = transport.partition(":")
    tree.remove(f"{node}/host")
    tree.remove(f"{node}/port")
    tree.set(f"{node}/transport", name)
    tree.set(f"{node}/nexthop", nexthop or None)


def brace_groups(words: list[str]) -> list[str]:
    """Postfix 3's ``{ text with spaces }``: the words from one starting with "{" to the one
    that balances it are one argument, without the outer braces and the whitespace inside
    them (master(5), pipe(8)); ``${name}`` inside stays balanced. An unclosed "{" stays as
    written."""
    grouped: list[str] = []
    index = 0
    while index < len(words):
        end = _group_end(words, index) if words[index].startswith("{") else -1
        if end < 0:
            grouped.append(words[index])
            index += 1
            continue
        grouped.append(" ".join(words[index : end + 1])[1:-1].strip())
        index = end + 1
    return grouped


def _group_end(words: list[str], start: int) -> int:
    """The index of the word whose "}" balances the "{" opening ``words[start]``, or -1."""
    depth = 0
    for index in range(start, len(words)):
        depth += words[index].count("{") - words[index].count("}")
        if depth <= 0:
            return index
    return -1


def _split_daemon_args(words: list[str]) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """Split ``flags=R user=x argv=/bin/prog -a b`` into attributes and the argv after argv=."""
    attributes: list[tuple[str, str]] = []
    for index, word in enumerate(words):
        key, sep, value = word.partition("=")
        if key == "argv" and sep:
            return tuple(attributes), (value, *words[index + 1 :])
        if sep:
            attributes.append((key, value))
        else:
            attributes.append((word, ""))
    return tuple(attributes), ()


def _node_name(node: str) -> str:
    """The parameter or service name of a main.cf or master.cf node: match gives "name[2]"
    for a name that labels several nodes (a parameter set twice, "smtp inet" and "smtp
    unix")."""
    return _unescape_label(re.sub(r"\[[0-9]+\]$", "", node.rsplit("/", 1)[1]))


def _unescape_label(label: str) -> str:
    return label.replace("\\", "")


def _quote(value: str) -> str:
    if "'" in value:
        return '"' + value + '"'
    return "'" + value + "'"
