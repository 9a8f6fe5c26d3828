"""Lab profiles: files laid out like a host root (etc/, var/) plus a small manifest.

Files whose syntax differs between releases sit in layers inside a profile: `dovecot-2.3/`
and `dovecot-2.4/` (Dovecot's configuration in each syntax), `release-NAME/` (a release's
own stock files, such as its master.cf); a host gets the layers its root calls for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from migrator.errors import LabError

PROFILES_ENV = "MIGRATOR_PROFILES"
MANIFEST = "manifest.yaml"
# Layers inside a profile tree, picked by the host's root: Dovecot's syntax, the release.
LAYER = re.compile(r"^(dovecot|release)-[a-z0-9.]+$")


@dataclass(frozen=True, slots=True)
class Vmail:
    """The single system user owning every virtual mailbox."""

    user: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True, slots=True)
class Profile:
    """What a lab host is made of: files laid out like a host root, users, set-up commands."""

    name: str
    description: str
    domain: str
    users: tuple[str, ...]
    system_users: bool
    vmail: Vmail | None
    setup: tuple[tuple[str, ...], ...]
    trees: tuple[Path, ...]

    def files(self, layers: Sequence[str] = ()) -> dict[str, Path]:
        """Every file of the profile by its path relative to the host root.

        Each tree gives its common files, then those of each of the given layers it has
        (`dovecot-2.4/etc/...`); later trees and layers win.
        """
        found: dict[str, Path] = {}
        for tree in self.trees:
            found |= _tree_files(tree)
            for layer in layers:
                if (tree / layer).is_dir():
                    found |= _tree_files(tree / layer)
        return found

    def check_dovecot(self, series: str) -> None:
        """Raise LabError when the profile has Dovecot files, but none in the syntax of series."""
        wanted = f"dovecot-{series}"
        kinds = {p.name for tree in self.trees for p in tree.glob("dovecot-*") if p.is_dir()}
        if kinds and wanted not in kinds:
            raise LabError(
                f"profile {self.name!r} has no files for Dovecot {series} "
                f"(it has {', '.join(sorted(kinds))}/)",
                path=str(self.trees[-1]),
            )

    def addresses(self) -> tuple[str, ...]:
        """The mail addresses of the profile's users."""
        return tuple(f"{user}@{self.domain}" for user in self.users)


def profiles_dir() -> Path:
    """Where profiles live: $MIGRATOR_PROFILES, else the repository's fixtures/profiles."""
    configured = os.environ.get(PROFILES_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "fixtures" / "profiles"


def available_profiles(base: Path | None = None) -> list[str]:
    """Names of the profiles found under base."""
    root = base or profiles_dir()
    return sorted(p.parent.name for p in root.glob(f"*/{MANIFEST}"))


def load_profile(name: str, base: Path | None = None) -> Profile:
    """Read a profile and the profiles it extends. Raises LabError for an unknown profile."""
    root = base or profiles_dir()
    manifest_path = root / name / MANIFEST
    if not manifest_path.is_file():
        known = ", ".join(available_profiles(root)) or "none"
        raise LabError(f"unknown profile {name!r} (known: {known})", path=str(root))
    data = _read_manifest(manifest_path)
    trees: tuple[Path, ...] = (root / name,)
    parent = data.get("extends")
    if parent:
        trees = load_profile(str(parent), root).trees + trees
    vmail = data.get("vmail")
    return Profile(
        name=name,
        description=str(data.get("description", "")),
        domain=str(data["domain"]),
        users=tuple(str(u) for u in data.get("users", ())),
        system_users=bool(data.get("system_users", False)),
        vmail=Vmail(str(vmail["user"]), int(vmail["uid"]), int(vmail["gid"]), str(vmail["home"]))
        if vmail
        else None,
        setup=tuple(tuple(str(a) for a in cmd) for cmd in data.get("setup", ())),
        trees=trees,
    )


def _tree_files(tree: Path) -> dict[str, Path]:
    """The files of one tree or layer, leaving out the manifest and the layers inside it."""
    found: dict[str, Path] = {}
    for path in sorted(tree.rglob("*")):
        relative = path.relative_to(tree).as_posix()
        if relative == MANIFEST or LAYER.match(relative.split("/", 1)[0]):
            continue
        if path.is_file():
            found[relative] = path
    return found


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise LabError(f"bad manifest: {exc}", path=str(path), line=line) from exc
    if not isinstance(data, dict) or "domain" not in data:
        raise LabError("manifest must be a mapping with at least 'domain'", path=str(path))
    return data
