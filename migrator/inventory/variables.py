"""Ansible variables with where each was set, and the ``group_vars/``/``host_vars/`` files
beside an inventory, read as Ansible's ``host_group_vars`` plugin reads them.

For a group or host NAME, Ansible takes the first of ``NAME`` (a file, or a directory whose
files, sorted and recursively, are read in turn), ``NAME.yml``, ``NAME.yaml``, ``NAME.json``;
in a directory, hidden files, ``~`` backups and files with another extension are skipped (by
Ansible too). Each file is a YAML mapping; a later file's key replaces an earlier one's.
Pure apart from reading the files.
"""

from __future__ import annotations

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


def compose(text: str, source: str) -> yaml.Node | None:
    """The YAML node tree of TEXT. Raises UsageError naming SOURCE and the line."""
    try:
        return yaml.compose(text, Loader=_COMPOSER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{where}: not valid YAML: {problem}") from exc


def value(node: yaml.Node, source: str) -> object:
    """The Python value of NODE, as Ansible's loader makes it. Raises UsageError."""
    try:
        return _tagged(_Loader("").construct_object(node, deep=True))
    except yaml.YAMLError as exc:
        line = node.start_mark.line + 1
        raise UsageError(f"{source}:{line}: cannot read value: {exc}") from exc


def _tagged(found: object) -> object:
    """``ansible-inventory`` JSON spells ``!unsafe``/``!vault`` as one-key mappings."""
    if isinstance(found, dict):
        if len(found) == 1 and "__ansible_unsafe" in found:
            return str(found["__ansible_unsafe"])
        if len(found) == 1 and "__ansible_vault" in found:
            return Vault()
        return {key: _tagged(item) for key, item in found.items()}
    if isinstance(found, list):
        return [_tagged(item) for item in found]
    return found


def mapping_vars(node: yaml.Node | None, source: str, what: str) -> Vars:
    """The variables of a YAML mapping node, each with its line. Raises UsageError."""
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return {}
    if not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1
        raise UsageError(f"{source}:{line}: {what} must be a mapping of variables")
    found: Vars = {}
    for key, item in node.value:
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
    if not directory.is_dir() or name in ("", ".", "..") or "/" in name:
        return []
    for candidate in (directory / name, *(directory / f"{name}{ext}" for ext in EXTENSIONS)):
        if candidate.is_dir():
            return list(_dir_files(candidate))
        if candidate.is_file():
            return [candidate]
    return []


def _dir_files(directory: Path) -> Iterator[Path]:
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.suffix:
            yield from _dir_files(entry)
        elif entry.is_file() and (not entry.suffix or entry.suffix in EXTENSIONS):
            yield entry


def _read_vars_file(path: Path) -> Vars:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if text.lstrip().startswith(VAULT_HEADER):
        return {VAULT_FILE: Var(Vault(), f"{path}:1")}
    return mapping_vars(compose(text, str(path)), str(path), "a vars file")
