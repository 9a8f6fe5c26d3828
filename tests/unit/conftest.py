"""Fixtures shared by the unit tests that run migrator's remote scripts on this machine."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def base() -> Iterator[Path]:
    """A journal base whose parents are root's alone (/run, not the world-writable /tmp)."""
    top = Path(tempfile.mkdtemp(prefix="migrator-unit-", dir="/run"))
    top.chmod(0o755)
    yield top / "migrator"
    shutil.rmtree(top)
