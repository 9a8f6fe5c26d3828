"""Augeas on files copied under a temporary root, for the lens tests: open one lens on them,
read its errors and trees, and make it write a file back whole."""

from __future__ import annotations

import json
from pathlib import Path

from augeas import Augeas

from migrator.lenses import LENS_DIR

PROBE = "migrator probe"
"""The comment ``rewrite`` adds and removes again."""


def open_lens(root: Path, lens: str, incl: str) -> Augeas:
    """An Augeas at root with no lens but ``lens`` (one of LENS_DIR's or a stock one), loaded
    on the files the glob ``incl`` names."""
    aug = Augeas(root=str(root), loadpath=str(LENS_DIR), flags=Augeas.NO_MODL_AUTOLOAD)
    aug.set("/augeas/load/Lens/lens", f"{lens}.lns")
    aug.set("/augeas/load/Lens/incl", incl)
    aug.load()
    return aug


def errors(aug: Augeas) -> list[tuple[str, str | None, str | None]]:
    """Each error node Augeas holds, with its message and line."""
    return [(e, aug.get(f"{e}/message"), aug.get(f"{e}/line")) for e in aug.match("/augeas//error")]


def tree(aug: Augeas, path: str) -> list[tuple[str, str | None]]:
    """Every node under path, depth first, as (relative path, value)."""
    nodes: list[tuple[str, str | None]] = []

    def walk(at: str) -> None:
        for child in aug.match(f"{at}/*"):
            nodes.append((child[len(path) + 1 :], aug.get(child)))
            walk(child)

    walk(path)
    return nodes


def tree_text(aug: Augeas, path: str) -> str:
    """``tree`` as the text of a ``.tree`` sample: a node a line, ``path = "value"``."""
    lines = [rel if val is None else f"{rel} = {json.dumps(val)}" for rel, val in tree(aug, path)]
    return "\n".join(lines) + "\n"


def write_in(root: Path, as_path: str, text: str | bytes) -> Path:
    """Write text as the file ``as_path`` under root (its directories made); return it."""
    dest = root / as_path.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(text.encode() if isinstance(text, str) else text)
    return dest


def copy_in(src: Path, root: Path, as_path: str) -> Path:
    """Copy src to ``as_path`` under root (its directories made); return where it went."""
    return write_in(root, as_path, src.read_bytes())


def rewrite(aug: Augeas, fpath: str) -> None:
    """Make Augeas put the whole file back: add a comment, save, remove it, save; with no
    error."""
    aug.set(f"/files{fpath}/#comment[last()+1]", PROBE)
    aug.save()
    aug.remove(f"/files{fpath}/#comment[. = '{PROBE}']")
    aug.save()
    assert errors(aug) == []


def assert_reads_as_sampled(aug: Augeas, src: Path, dest: Path, fpath: str) -> None:
    """aug (the project's lens on dest, a copy of the sample src at fpath) reads it with no
    error, as the sample's ``.tree`` file says, and writes it back byte-identical."""
    assert errors(aug) == []
    assert tree_text(aug, f"/files{fpath}") == src.with_name(src.name + ".tree").read_text()
    rewrite(aug, fpath)
    assert dest.read_bytes() == src.read_bytes()
