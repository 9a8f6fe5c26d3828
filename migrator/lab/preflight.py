"""What this machine must have before a lab can be built: root, and the tools that build
hosts and their release roots (the daemons come from the roots, not from this machine)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from migrator.errors import LabError

# binary -> the Debian package that installs it
REQUIRED_BINARIES: Mapping[str, str] = {
    "/usr/bin/ssh-keygen": "openssh-client",
    "/usr/bin/nsenter": "util-linux",
    "/usr/bin/unshare": "util-linux",
    "/usr/bin/setpriv": "util-linux",
    "/usr/sbin/pivot_root": "util-linux",
    "/usr/bin/mount": "mount",
    "/usr/bin/dpkg-query": "dpkg",
    "/usr/bin/mmdebstrap": "mmdebstrap",
}


def check_root(euid: int | None = None) -> None:
    """Raise LabError unless running as root (namespaces and mounts need it)."""
    if (os.geteuid() if euid is None else euid) != 0:
        raise LabError("the lab needs root: it creates network namespaces and mounts")


def check_binaries(required: Mapping[str, str] = REQUIRED_BINARIES) -> None:
    """Raise LabError naming the first missing binary and the Debian package that has it."""
    for binary, package in required.items():
        if not Path(binary).exists():
            raise LabError(f"{binary} is missing: install the Debian package {package}")
