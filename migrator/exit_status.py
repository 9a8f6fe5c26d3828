"""Exit codes of the migrator command, one table (the README shows the same)."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """What the process exit code tells a caller or a CI job."""

    SUCCESS = 0
    ERROR = 1
    CHANGES = 2
    ROLLED_BACK = 3
    NEEDS_ATTENTION = 4
    USAGE = 64  # sysexits' EX_USAGE: the command line itself is wrong
    INTERRUPTED = 130
