"""Ansible variables with where each was set, and the ``group_vars/``/``host_vars/`` files
beside an inventory, read as Ansible's ``host_group_vars`` plugin reads them.

For a group or host NAME, Ansible takes the first of ``NAME`` (a file, or a directory whose
files, sorted and recursively, are read in turn), ``NAME.yml``, ``NAME.yaml``, ``NAME.json``;
in a directory, hidden files, ``~`` backups and files with another extension are skipped (by
Ansible too). Each file is a YAML mapping; a later file's key replaces an earlier one's.
Pure apart from reading the files.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from migrator.errors import UsageError

EXTENSIONS = (".yml", ".yaml", ".json")
VAULT_HEADER = "$ANSIBLE_VAULT"
# A whole vars file Ansible Vault encrypted: migrator cannot know what it sets.
VAULT_FILE = "__vault_file__"


@dataclass(frozen=True, slots=True)
class Vault:
    """A value migrator cannot read: encrypted with Ansible Vault."""


@dataclass(frozen=True, slots=True)
class Var:
    """One variable's value (as YAML gives it: str, int, bool, list ...) and ``file:line``."""

    value: object
    where: str


Vars = dict[str, Var]


class _Loader(yaml.SafeLoader):
    """SafeLoader that knows Ansible's ``!vault`` (unreadable) and ``!unsafe`` (a string)."""


_Loader.add_constructor("!vault", lambda loader, node: Vault())
_Loader.add_constructor(
    "!unsafe",
    lambda loader, node: (
        str(loader.construct_scalar(node)) if isinstance(node, yaml.ScalarNode) else ""
    ),
)


# libyaml when present: composing a 5000-host ansible-inventory JSON takes 15x less time.
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Bounds on what a document may become once read: nesting (the readers and the constructor
# recurse) and the nodes aliases add (a "billion laughs" document is small until expanded).
MAX_DEPTH = 64
MAX_ALIASED_NODES = 100_000
# A file larger than this is not an inventory or a vars file (/dev/zero, a log pointed at).
MAX_FILE_BYTES = 256 * 1024 * 1024


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of the regular file PATH, never blocking on a FIFO or a device.

    Raises UsageError naming WHAT and PATH (unreadable, not a regular file, too large, not
    UTF-8 with the line of the first bad byte).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {what} {path}: {_reason(exc)}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"cannot read {what} {path}: not a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read {what} {path}: {_reason(exc)}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"cannot read {what} {path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"{path}:{line}: {what} is not UTF-8 ({exc.reason})") from exc


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def compose(text: str, source: str) -> yaml.Node | None:
    """The YAML node tree of TEXT. Raises UsageError naming SOURCE and the line, also for a
    document nested deeper than MAX_DEPTH or whose aliases add more than MAX_ALIASED_NODES."""
    try:
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{where}: not valid YAML: {problem}") from exc
    if root is not None:
        sizes: dict[int, int] = {}
        expanded = _expanded_size(root, sizes, (), source)
        if expanded - len(sizes) > MAX_ALIASED_NODES:
            raise UsageError(
                f"{source}:1: YAML aliases expand the document to {expanded} nodes "
                f"(at most {MAX_ALIASED_NODES} more than written): an alias bomb?"
            )
    return root


def _expanded_size(
    node: yaml.Node, sizes: dict[int, int], path: tuple[int, ...], source: str
) -> int:
    """NODE's node count with every alias expanded, memoised, so linear in what was written.

    Raises UsageError for nesting deeper than MAX_DEPTH and for an alias inside itself.
    """
    key = id(node)
    if key in sizes:
        return sizes[key]
    line = node.start_mark.line + 1
    if key in path:
        raise UsageError(f"{source}:{line}: a YAML alias refers to a node containing it")
    if len(path) >= MAX_DEPTH:
        raise UsageError(f"{source}:{line}: nested deeper than {MAX_DEPTH} levels")
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [item for pair in node.value for item in pair]
    inner = (*path, key)
    sizes[key] = 1 + sum(_expanded_size(child, sizes, inner, source) for child in children)
    return sizes[key]


def value(node: yaml.Node, source: str) -> object:
    """The Python value of NODE, as Ansible's loader makes it. Raises UsageError."""
    try:
        return _tagged(_Loader("").construct_object(node, deep=True))
    except (yaml.YAMLError, ValueError) as exc:
        # ValueError: an integer longer than Python converts (sys.get_int_max_str_digits).
        line = node.start_mark.line + 1
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{source}:{line}: cannot read value: {problem}") from exc


def _tagged(found: object) -> object:
    """``ansible-inventory`` JSON spells ``!unsafe``/``!vault`` as one-key mappings."""
    if isinstance(found, dict):
        if len(found) == 1 and isinstance(found.get("__ansible_unsafe"), str):
            return found["__ansible_unsafe"]
        if len(found) == 1 and "__ansible_vault" in found:
            return Vault()
        return {key: _tagged(item) for key, item in found.items()}
    if isinstance(found, list):
        return [_tagged(item) for item in found]
    return found


def pairs(node: yaml.MappingNode, source: str) -> list[tuple[yaml.Node, yaml.Node]]:
    """NODE's key/value pairs with YAML merge keys (``<<: *base``) applied, as Ansible's
    loader applies them (a key written beats a merged one).

    Raises UsageError naming both lines when a key is written twice in one mapping (YAML
    would silently keep only the last), and for a malformed merge.
    """
    seen: dict[str, int] = {}
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
            line = key.start_mark.line + 1
            if key.value in seen:
                raise UsageError(
                    f"{source}:{line}: {key.value!r} is set twice in one mapping (also line "
                    f"{seen[key.value]}): YAML would keep only the last; keep one"
                )
            seen[key.value] = line
    merged = yaml.MappingNode(node.tag, list(node.value), node.start_mark, node.end_mark)
    try:
        _Loader("").flatten_mapping(merged)
    except yaml.YAMLError as exc:
        line = node.start_mark.line + 1
        raise UsageError(
            f"{source}:{line}: bad YAML merge key: {str(exc).splitlines()[0]}"
        ) from exc
    latest: dict[object, tuple[yaml.Node, yaml.Node]] = {}
    for key, item in merged.value:
        latest.pop(key.value if isinstance(key, yaml.ScalarNode) else id(key), None)
        latest[key.value if isinstance(key, yaml.ScalarNode) else id(key)] = (key, item)
    return list(latest.values())


def mapping_vars(node: yaml.Node | None, source: str, what: str) -> Vars:
    """The variables of a YAML mapping node, each with its line. Raises UsageError."""
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return {}
    if not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1
        raise UsageError(f"{source}:{line}: {what} must be a mapping of variables")
    found: Vars = {}
    for key, item in pairs(node, source):
        if not isinstance(key, yaml.ScalarNode):
            line = key.start_mark.line + 1
            raise UsageError(f"{source}:{line}: a variable name must be a plain name")
        found[str(key.value)] = Var(value(item, source), f"{source}:{key.start_mark.line + 1}")
    return found


def adjacent_vars(base: Path, kind: str, name: str) -> Vars:
    """The variables ``base/kind/name`` sets (kind ``group_vars`` or ``host_vars``).

    Raises UsageError naming the file (and line) for an unreadable or malformed file.
    """
    found: Vars = {}
    for path in _vars_files(base / kind, name):
        found.update(_read_vars_file(path))
    return found


def _vars_files(directory: Path, name: str) -> list[Path]:
    """The files that set NAME's variables. Raises UsageError for a candidate that exists
    but is neither a regular file nor a directory (a FIFO, a device: never read, never
    skipped in silence), for a symlink loop, and for a directory that cannot be listed."""
    if _kind(directory) != "dir" or name in ("", ".", "..") or "/" in name:
        return []
    for candidate in (directory / name, *(directory / f"{name}{ext}" for ext in EXTENSIONS)):
        kind = _kind(candidate)
        if kind == "dir":
            return list(_dir_files(candidate, frozenset()))
        if kind == "file":
            return [candidate]
        if kind == "other":
            raise UsageError(f"cannot read vars file {candidate}: not a regular file")
        if os.path.islink(candidate):
            raise UsageError(f"cannot read vars file {candidate}: a symlink to nothing")
    return []


def _kind(path: Path) -> str:
    """ "dir", "file", "other" (FIFO, socket, device) or "" (nothing there), symlinks
    followed. Raises UsageError for a symlink loop or an unreadable parent directory."""
    try:
        mode = os.stat(path).st_mode
    except ValueError:
        return ""  # a NUL byte in a name: no such file can exist
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
            return ""
        raise UsageError(f"cannot read vars file {path}: {_reason(exc)}") from exc
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def _dir_files(directory: Path, seen: frozenset[str]) -> Iterator[Path]:
    real = os.path.realpath(directory)
    if real in seen:
        raise UsageError(f"cannot read vars directory {directory}: a symlink loop")
    try:
        entries = sorted(directory.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise UsageError(f"cannot read vars directory {directory}: {_reason(exc)}") from exc
    for entry in entries:
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        kind = _kind(entry)
        if kind == "dir" and not entry.suffix:
            yield from _dir_files(entry, seen | {real})
        elif kind != "dir" and (not entry.suffix or entry.suffix in EXTENSIONS):
            if kind == "other":
                raise UsageError(f"cannot read vars file {entry}: not a regular file")
            yield entry


def _read_vars_file(path: Path) -> Vars:
    text = read_text(path, "vars file")
    if text.lstrip().startswith(VAULT_HEADER):
        return {VAULT_FILE: Var(Vault(), f"{path}:1")}
    return mapping_vars(compose(text, str(path)), str(path), "a vars file")
