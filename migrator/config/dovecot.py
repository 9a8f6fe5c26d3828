"""Typed access to Dovecot's configuration through its lens: settings, blocks, includes.

Dovecot reads its files in include order and a later setting wins, so reading flattens the
include graph into one ordered list of settings and blocks, each knowing its file.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from migrator.config import DOVECOT_LENS
from migrator.config.tree import ConfigTree
from migrator.errors import ConfigParseError

LENS = DOVECOT_LENS
_BLOCK_NAMES = frozenset(
    {
        *("dict", "userdb", "passdb", "protocol", "service", "plugin", "namespace", "map"),
        *("fields", "unix_listener", "fifo_listener", "inet_listener", "mailbox", "local"),
        *("remote", "local_name", "metric", "key"),
    }
)
_INCLUDES = frozenset({"include", "include_try"})


@dataclass(frozen=True, slots=True)
class BlockRef:
    """One level of block nesting: ``service lmtp`` is BlockRef("service", "lmtp")."""

    name: str
    arg: str | None = None

    def __str__(self) -> str:
        return f"{self.name} {self.arg}" if self.arg else self.name


Chain = tuple[BlockRef, ...]


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``key = value`` line: the file it is in and the blocks around it."""

    file: str
    chain: Chain
    key: str
    value: str
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Block:
    """One occurrence of a block (its chain ends with itself) in a file."""

    file: str
    chain: Chain
    line: int | None = None


@dataclass(frozen=True, slots=True)
class DovecotConfig:
    """Dovecot's settings and blocks in the order Dovecot reads them."""

    root: str
    files: tuple[str, ...]
    settings: tuple[Setting, ...]
    blocks: tuple[Block, ...]

    def value(self, key: str, chain: Chain = ()) -> str | None:
        """The last value set for ``key`` directly inside blocks matching ``chain``."""
        found = [s.value for s in self.settings if s.key == key and s.chain == chain]
        return found[-1] if found else None

    def block_settings(self, chain: Chain) -> dict[str, str]:
        """Every setting of every block matching ``chain``, later ones winning."""
        return {s.key: s.value for s in self.settings if s.chain == chain}

    def files_with(self, chain: Chain) -> list[str]:
        """Files holding a block matching ``chain``, in read order, without repeats."""
        return list(dict.fromkeys(b.file for b in self.blocks if b.chain == chain))

    def files_setting(self, key: str, chain: Chain = ()) -> list[str]:
        return list(
            dict.fromkeys(s.file for s in self.settings if s.key == key and s.chain == chain)
        )


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One line of one Dovecot file that matters to Dovecot, with the blocks around it
    counted from the file's top: a setting, a block, or an ``!include``/``!include_try``.

    A file's entries depend only on its content, so identical files parse once per run.
    """

    kind: str
    """"setting", "block", "include" or "include_try"."""
    chain: Chain
    key: str = ""
    value: str = ""
    """A setting's value as Dovecot sees it; an include's target as written."""
    line: int | None = None


DovecotFile = tuple[FileEntry, ...]


def parse_file(tree: ConfigTree, path: str) -> DovecotFile:
    """The entries of one file loaded in ``tree`` (at ``path``), in document order."""
    entries: list[FileEntry] = []
    kids = _children(tree, tree.file_node(path))

    def walk(parent: str, chain: Chain) -> None:
        for node in kids.get(parent, []):
            label = _label(node)
            if label.startswith("#"):
                continue
            if label in _INCLUDES:
                target = _unquote(tree.get(node) or "")
                entries.append(FileEntry(label, chain, value=target, line=tree.line(node)))
                continue
            children = [c for c in kids.get(node, []) if _label(c) != "#comment"]
            if children or label in _BLOCK_NAMES:
                arg = tree.get(node)
                here = (*chain, BlockRef(label, _unquote(arg) if arg is not None else None))
                entries.append(FileEntry("block", here, line=tree.line(node)))
                walk(node, here)
                continue
            value = normalise(tree.get(node) or "")
            entries.append(FileEntry("setting", chain, label, value, tree.line(node)))

    walk(tree.file_node(path), ())
    return tuple(entries)


def includes(path: str, entries: DovecotFile) -> list[tuple[str, bool]]:
    """The ``!include``/``!include_try`` targets of one file, resolved against its directory."""
    return [
        (posixpath.join(posixpath.dirname(path), entry.value), entry.kind == "include")
        for entry in entries
        if entry.kind in _INCLUDES
    ]


def expand_include(pattern: str, available: Sequence[str]) -> list[str]:
    """The files an include pattern names, in Dovecot's (sorted) order."""
    if not any(ch in pattern for ch in "*?["):
        return [pattern]
    return sorted(p for p in available if fnmatch.fnmatchcase(p, pattern))


def read_config(
    host: str, files: Mapping[str, DovecotFile], root: str, available: Sequence[str]
) -> DovecotConfig:
    """Flatten the include graph under ``root`` into settings and blocks in read order.

    ``files`` holds the parsed files that exist; a file included twice is read twice, as
    Dovecot does. Raises ConfigParseError when an ``!include`` (not ``!include_try``) names a
    missing file, or for a loop: a file that includes itself through the current chain.
    """
    settings: list[Setting] = []
    blocks: list[Block] = []
    order: dict[str, None] = {}  # files in first-read order
    chain_of_files: list[str] = []

    def walk_file(path: str, prefix: Chain) -> None:
        if path in chain_of_files:
            loop = " -> ".join([*chain_of_files[chain_of_files.index(path) :], path])
            raise ConfigParseError(f"include loop: {loop}", host=host, path=path)
        order.setdefault(path)
        chain_of_files.append(path)
        for entry in files[path]:
            chain = (*prefix, *entry.chain)
            if entry.kind == "setting":
                settings.append(Setting(path, chain, entry.key, entry.value, entry.line))
            elif entry.kind == "block":
                blocks.append(Block(path, chain, entry.line))
            else:
                target = posixpath.join(posixpath.dirname(path), entry.value)
                for included in expand_include(target, available):
                    if included in files:
                        walk_file(included, chain)
                    elif entry.kind == "include":
                        raise ConfigParseError(
                            f"!include {included}: file not found", host=host, path=path
                        )
        chain_of_files.pop()

    walk_file(root, ())
    return DovecotConfig(root, tuple(order), tuple(settings), tuple(blocks))


def normalise(value: str) -> str:
    """A value as Dovecot sees it: no end-of-line comment, no surrounding quotes."""
    text = value
    if not text.startswith('"'):
        text = text.split(" #", 1)[0].split("\t#", 1)[0]
    return _unquote(text.strip())


def set_setting(tree: ConfigTree, path: str, chain: Chain, key: str, value: str) -> None:
    """Set ``key`` inside the last block matching ``chain`` in file ``path``.

    Missing blocks are created first, each in its own step, at the end of their parent, so no
    half-made node is ever left behind by a nested set. A missing block without an argument
    (2.4's ``mail_plugins {``, ``protocols {``) is made together with its first setting: the
    lens writes a node with no value as a block only once it has a child.
    """
    parent, unmade = _ensure_chain(tree, path, chain)
    if unmade:
        tree.set(f"{parent}{unmade}/{key}", value)
        made = unmade.replace("[last()+1]", "[last()]")
        _empty_if(tree, f"{parent}{made}", key, -1, value)
        return
    existing = [n for n in tree.match(f"{parent}/{key}") if not _is_block(tree, n, key)]
    if existing:
        tree.set(existing[-1], value)
        _empty_if(tree, parent, key, tree.match(f"{parent}/{key}").index(existing[-1]), value)
        return
    # An admin reads a new setting best right below its commented-out default, if any.
    commented = tree.match(f"{parent}/#comment[. =~ regexp('{key}[ \t]*=.*')]")
    if commented:
        tree.insert(commented[-1], key, before=False)
        if value:  # a node just inserted has no value: "key =" as it is
            tree.set(tree.one(f"{commented[-1]}/following-sibling::*[1]"), value)
    else:
        tree.set(f"{parent}/{key}[last()+1]", value)
        _empty_if(tree, parent, key, -1, value)


def _empty_if(tree: ConfigTree, parent: str, key: str, index: int, value: str) -> None:
    """Make the INDEXth ``key`` under PARENT a setting with no value when VALUE is "".

    Augeas's set() stores "" (which the lens cannot write, as for any value it cannot
    represent), never "no value"; a node freshly inserted has none, so the node is replaced
    by one inserted in its place. Raises ConfigParseError when the tree refuses the edit.
    """
    if value:
        return
    nodes = tree.match(f"{parent}/{key}")
    position = index % len(nodes)
    tree.insert(nodes[position], key, before=True)
    tree.remove(f"{parent}/{key}[{position + 2}]")


def _ensure_chain(tree: ConfigTree, path: str, chain: Chain) -> tuple[str, str]:
    """The node of the last block matching ``chain`` (made if missing), and the path below it
    of blocks without an argument still to make with their first child ("" when none)."""
    node = tree.file_node(path)
    unmade = ""
    for ref in chain:
        found = None if unmade else _find_block(tree, node, ref)
        if found is not None:
            node = found
        elif ref.arg is None:
            unmade += f"/{ref.name}" if unmade else f"/{ref.name}[last()+1]"
        else:
            tree.set(f"{node}{unmade}/{ref.name}[last()+1]", ref.arg)
            made = unmade.replace("[last()+1]", "[last()]")
            node, unmade = tree.one(f"{node}{made}/{ref.name}[last()]"), ""
    return node, unmade


def _find_block(tree: ConfigTree, parent: str, ref: BlockRef) -> str | None:
    matches = [
        node for node in tree.match(f"{parent}/{ref.name}") if _arg(tree.get(node)) == ref.arg
    ]
    return matches[-1] if matches else None


def _children(tree: ConfigTree, file_node: str) -> dict[str, list[str]]:
    """Every node of a file by its parent, in document order, from one match (speed)."""
    kids: dict[str, list[str]] = {}
    for node in tree.match(f"{file_node}//*"):
        kids.setdefault(node.rsplit("/", 1)[0], []).append(node)
    return kids


def _is_block(tree: ConfigTree, node: str, label: str) -> bool:
    """A block has children other than comments, or is an (empty) block by name.

    The project's lens keeps a setting's trailing "# note" as a #comment child, so a comment
    child alone does not make a block.
    """
    children = tree.match(f"{node}/*[label() != '#comment']")
    return bool(children) or label in _BLOCK_NAMES


def _arg(value: str | None) -> str | None:
    return _unquote(value) if value is not None else None


def _label(node: str) -> str:
    label = node.rsplit("/", 1)[1]
    return label.split("[", 1)[0]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value
