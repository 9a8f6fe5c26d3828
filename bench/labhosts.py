"""Shared by the benchmarks: make lab hosts differ where real hosts of one fleet differ, and
measure the CPU the hosts use."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from migrator.lab import sandbox
from migrator.lab.state import Lab


def distinct_hostnames(names: list[str], ssh_config: Path) -> None:
    """Give every host its own myhostname in main.cf (set by the host's own postconf), so
    main.cf differs from host to host while Dovecot's stock files do not. The file is then
    dated a minute back: Postfix commands nap while main.cf is younger than a second or two,
    which no host planned in real life is."""
    for name in names:
        command = f"postconf -e myhostname={name}.example.test"
        command += " && touch -d '1 minute ago' $(postconf -h config_directory)/main.cf"
        subprocess.run(["ssh", "-F", str(ssh_config), name, command], check=True)


def lab_cpu(lab: Lab) -> float:
    """CPU seconds the lab's hosts have used: utime+stime+cutime+cstime of every process in
    a host's mount namespace (sshd and its sessions, Postfix, Dovecot; an exited child's time
    is reaped into its parent's). On a machine shared with other work, the CPU a tool makes
    the hosts spend says more than wall time."""
    wanted = set()
    for host in lab.hosts:
        with contextlib.suppress(OSError):
            wanted.add(f"mnt:[{os.stat(sandbox.ns_file(lab, host, 'mnt')).st_ino}]")
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/ns/mnt") not in wanted:
                continue
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")
