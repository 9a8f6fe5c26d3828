"""Files the SSH transport reads on the control node: identity files, known_hosts.

Whatever a config or an inventory names is read only if it is a regular file of a bounded
size (``/dev/null`` reads as empty, the idiom for "no known_hosts"): /dev/zero would be read
forever and a FIFO would block every connection. Opened without blocking; the type is told
from the open descriptor, so nothing swapped in after a check is read.
"""

from __future__ import annotations

import os
import stat


class NotAFileError(OSError):
    """The path is there but is no regular file, or is larger than any such file is."""


def read_control_file(path: str, limit: int) -> bytes:
    """The bytes of the regular file PATH, at most LIMIT of them.

    Raises FileNotFoundError, NotAFileError (not a regular file, larger than LIMIT) or
    another OSError (unreadable).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        found = os.fstat(fd)
        if stat.S_ISCHR(found.st_mode) and found.st_rdev == os.stat(os.devnull).st_rdev:
            return b""
        if not stat.S_ISREG(found.st_mode):
            raise NotAFileError(f"{path}: not a regular file")
        if found.st_size > limit:
            raise NotAFileError(f"{path}: larger than {limit} bytes")
        return os.read(fd, limit + 1)
    finally:
        os.close(fd)
