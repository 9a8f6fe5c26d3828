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


CHECK_UNKNOWN = 3
"""``check``'s exit code when an error ended it (bad input such as a missing inventory):
the Nagios plugin API's UNKNOWN, as ``check`` exits with the Nagios codes in every format."""

_ERROR_STATUS = {"check": CHECK_UNKNOWN}


def error_status(command: str | None) -> int:
    """The exit code of ``command`` when one of migrator's errors ends it: ERROR (1), but
    ``check``'s is CHECK_UNKNOWN (3), never a WARNING. Never raises."""
    return _ERROR_STATUS.get(command or "", ExitStatus.ERROR)
