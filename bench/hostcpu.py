"""Shared by the apply benchmarks: the CPU a lab host's processes have used, split by who
used it.

A host's processes are those in its mount namespace. Each is put in a group by its tree:
  ssh       sshd's own time (the listener and the session: key exchange, ciphers, channels)
  commands  what the sessions ran (the shells, their children, all reaped into the session)
  postfix   master's tree (showq, cleanup, qmgr, local and the LDA it pipes to, lmtp, ...)
  dovecot   dovecot's tree (lmtp, auth, config, log, ...)
  other     anything else (the host's init)
An exited child's time is reaped into its parent's cutime/cstime, so the sum keeps it; a
process that exits between two samples moves its time from its own group to its parent's,
which is the same group unless it was a session (then "commands" grows what "ssh" loses:
rare, the session lives through the whole apply).
"""

from __future__ import annotations

import os
from collections import defaultdict

from migrator.lab import sandbox
from migrator.lab.state import Lab

TICK = os.sysconf("SC_CLK_TCK")
GROUPS = ("ssh", "commands", "postfix", "dovecot", "other")


class HostCpu:
    """Samples hosts' CPU by group; remembers which PID lives in which host."""

    def __init__(self, lab: Lab) -> None:
        self.inodes: dict[str, str] = {}
        for host in lab.hosts:
            inode = os.stat(sandbox.ns_file(lab, host, "mnt")).st_ino
            self.inodes[f"mnt:[{inode}]"] = host.name
        self.where: dict[int, str | None] = {}  # pid -> host name (None: not a lab host's)

    def _host_of(self, pid: int) -> str | None:
        if pid not in self.where:
            try:
                self.where[pid] = self.inodes.get(os.readlink(f"/proc/{pid}/ns/mnt"))
            except OSError:
                return None
        return self.where[pid]

    def sample(self, name: str) -> dict[str, float]:
        """CPU seconds by group of host NAME's live processes and what they reaped."""
        procs: dict[int, tuple[str, int, int, int]] = {}  # pid -> comm, ppid, self, children
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or self._host_of(int(entry.name)) != name:
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    head, _, tail = stat.read().rpartition(")")
            except OSError:
                self.where.pop(int(entry.name), None)
                continue
            fields = tail.split()
            own, children = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
            procs[int(entry.name)] = (head.partition("(")[2], int(fields[1]), own, children)
        totals: dict[str, float] = defaultdict(float)
        for pid, (comm, _, own, children) in procs.items():
            top = _top(pid, procs)
            if top.startswith("sshd"):
                mine = "ssh" if comm.startswith("sshd") else "commands"
                totals[mine] += own / TICK
                totals["commands"] += children / TICK
            else:
                group = {"master": "postfix", "dovecot": "dovecot"}.get(top, "other")
                totals[group] += (own + children) / TICK
        return {group: totals[group] for group in GROUPS}


def _top(pid: int, procs: dict[int, tuple[str, int, int, int]]) -> str:
    """The comm of PID's oldest ancestor in the same host (sshd, master, dovecot, ...)."""
    seen = 0
    while procs[pid][1] in procs and seen < 64:
        pid, seen = procs[pid][1], seen + 1
    return procs[pid][0]
