"""Timing and reporting of the steps apply and rollback take, for progress and reports."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StepEvent:
    """A step starting (seconds None) or ending, for progress display."""

    host: str
    action: str
    description: str
    seconds: float | None = None
    ok: bool = True
    detail: str = ""
    skipped: str = ""  # why the step did not run (it ended at once, ok)


@dataclass(frozen=True, slots=True)
class StepTiming:
    """A finished step: what, how long, whether it worked."""

    action: str
    description: str
    seconds: float
    ok: bool
    skipped: str = ""  # why the step did not run


Notify = Callable[[StepEvent], None]


def ignore(event: StepEvent) -> None:
    """A Notify that shows nothing."""


class StepLog:
    """Collects the timings of one host's steps and tells ``notify`` as they go."""

    def __init__(self, host: str, notify: Notify = ignore) -> None:
        self.host = host
        self.notify = notify
        self.timings: list[StepTiming] = []

    @contextmanager
    def step(self, action: str, description: str) -> Iterator[None]:
        """Time the body as one step; a raised error marks it failed and propagates."""
        self.notify(StepEvent(self.host, action, description))
        started = time.monotonic()
        try:
            yield
        except BaseException as exc:
            self._done(action, description, started, False, str(exc))
            raise
        self._done(action, description, started, True, "")

    def skip(self, action: str, description: str, why: str) -> None:
        """Record a step that does not run (ok, no time), saying why; never raises."""
        self.timings.append(StepTiming(action, description, 0.0, True, why))
        self.notify(StepEvent(self.host, action, description, 0.0, True, skipped=why))

    def _done(self, action: str, description: str, started: float, ok: bool, detail: str) -> None:
        seconds = time.monotonic() - started
        self.timings.append(StepTiming(action, description, seconds, ok))
        self.notify(StepEvent(self.host, action, description, seconds, ok, detail))
