"""What a lab may leave on this machine: checked after every teardown."""

from __future__ import annotations

import os

from migrator.lab import network, sandbox
from migrator.lab.state import labs_root


def lab_leftovers(name: str, pids: set[int] | frozenset[int] = frozenset()) -> list[str]:
    """Everything of lab `name` still present: namespaces, links, mounts, processes, files."""
    left = [f"netns {ns}" for ns in network.lab_netns(name)]
    left += [f"link {link}" for link in network.lab_links(name)]
    directory = str(labs_root() / name)
    with open("/proc/self/mountinfo") as info:
        left += [f"mount {line.split()[4]}" for line in info if directory in line]
    left += [f"process {pid}" for pid in pids if sandbox.is_alive(pid)]
    if os.path.exists(directory):
        left.append(f"directory {directory}")
    return left
