"""Two lab hosts on one virtual-lda lab, one migrated and one still on the LDA: what check
and finalize are tried on (test helpers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from migrator.lab import lifecycle
from migrator.lab.roots import DEFAULT_RELEASE
from migrator.lab.state import Lab, LabHost

from .hostfiles import LabCli

RECIPIENT = "alice@example.test"


@dataclass(frozen=True)
class Pair:
    """Two virtual-lda hosts: ``migrated`` (planned and applied) and ``lda`` (untouched)."""

    lab: Lab
    cli: LabCli
    migrated: LabHost
    lda: LabHost


@contextmanager
def migrated_pair(prefix: str, plans_dir: Path, release: str = DEFAULT_RELEASE) -> Iterator[Pair]:
    """Bring up the pair on a release, the first host planned and applied (plans under
    plans_dir); the lab is torn down after, even when bringing it up or the apply fails."""
    name = f"{prefix}{os.getpid() % 10000}"
    try:
        lab = lifecycle.bring_up("virtual-lda", 2, name, release=release)
        cli = LabCli(lab, plans_dir)
        migrated, lda = lab.hosts
        cli.migrate(migrated, RECIPIENT)
        yield Pair(lab, cli, migrated, lda)
    finally:
        lifecycle.tear_down(name)
