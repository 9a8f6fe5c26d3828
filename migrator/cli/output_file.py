"""Files the command line writes where the user says (--log, --report-json, --report-junit).

A FIFO is fine (``--log >(jq .)``), but opened for writing while no process reads it, it
would block the run before it starts, or after a whole fleet was applied; it is refused
instead. Other files are created 0600 (they name hosts and errors).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def open_output(path: Path, *, append: bool) -> int:
    """A descriptor writing to PATH (appending, or replacing what it held), in blocking mode.

    Raises OSError; for a FIFO no process reads, one whose strerror says so.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY
    flags |= os.O_APPEND if append else os.O_TRUNC
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(exc.errno, "a FIFO no process reads") from exc
        raise
    os.set_blocking(descriptor, True)
    return descriptor


def write_output(path: Path, text: str) -> None:
    """Write TEXT to PATH, replacing what it held. Raises OSError as open_output does."""
    with os.fdopen(open_output(path, append=False), "w", encoding="utf-8") as stream:
        stream.write(text)
