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
    """Every parameter set in main.cf, continuation lines joined by one space."""
    params: dict[str, str] = {}
    for node in tree.match(f"{tree.file_node(path)}/*"):
        label = node.rsplit("/", 1)[1]
        if label.startswith("#"):
            continue
        params[label] = " ".join((tree.get(node) or "").split())
    return params


def main_param_lines(tree: ConfigTree, path: str) -> dict[str, int]:
    """The line of main.cf where each parameter is (last) set."""
    lines = {}
    for node in tree.match(f"{tree.file_node(path)}/*[label() != '#comment']"):
        line = tree.line(node)
        if line is not None:
            lines[node.rsplit("/", 1)[1]] = line
    return lines


def set_main_param(tree: ConfigTree, path: str, name: str, value: str) -> None:
    """Set a parameter in place (its last line, the one Postfix uses), or append it."""
    found = tree.match(f"{tree.file_node(path)}/{name}")
    tree.set(found[-1] if found else f"{tree.file_node(path)}/{name}", value)


def remove_main_param(tree: ConfigTree, path: str, name: str) -> None:
    """Remove every line that sets ``name``."""
    tree.remove(f"{tree.file_node(path)}/{name}")


def remove_master_service(tree: ConfigTree, path: str, name: str, kind: str) -> None:
    """Remove the master.cf service ``name`` of type ``kind`` (its continuation lines too).

    Raises ConfigParseError unless exactly one service has that name and type.
    """
    nodes = [
        node
        for node in tree.match(f"{tree.file_node(path)}/*[type = {_quote(kind)}]")
        if _unescape_label(_service_label(node)) == name
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
        name = _service_label(node)
        # A comment line inside a service splits its command into several nodes (the lens
        # keeps the comment where it is); the command Postfix runs is all of them in order.
        command = " ".join(tree.get(part) or "" for part in tree.match(f"{node}/command"))
        try:
            words = shlex.split(command, posix=True)
        except ValueError as exc:
            raise ConfigParseError(
                f"service {name}: cannot split command: {exc}", host=tree.host, path=path
            ) from exc
        program = words[0] if words else ""
        attributes, argv = _split_daemon_args(words[1:])
        entries.append(
            MasterEntry(
                name=_unescape_label(name),
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


def _service_label(node: str) -> str:
    """A master.cf service's label without Augeas's position: two services of one name
    (``smtp inet`` and ``smtp unix``) match as ``smtp`` and ``smtp[2]``, and ``smtp[2]`` is no
    service Postfix knows (a queue check for it would miss mail queued for ``smtp``)."""
    return re.sub(r"(?<!\\)\[\d+\]$", "", node.rsplit("/", 1)[1])


def _unescape_label(label: str) -> str:
    return label.replace("\\", "")


def _quote(value: str) -> str:
    if "'" in value:
        return '"' + value + '"'
    return "'" + value + "'"
