"""A fixture for probes that could block (a FIFO, an alias bomb): the test fails after 20 s
instead of hanging the suite. Use it with ``pytestmark = pytest.mark.usefixtures("no_hang")``
after ``from tests.unit.no_hang import no_hang``."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pytest


@pytest.fixture
def no_hang() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise AssertionError("the probe hung (more than 20 s)")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
