"""Lab fixtures: real sandbox hosts (sshd, Postfix, Dovecot), always torn down."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import paramiko
import pytest

from migrator.lab import lifecycle
from migrator.lab.state import Lab, LabHost

LabFactory = Callable[..., Lab]
# The releases a fleet runs (Dovecot 2.3.13/2.3.19/2.4, Postfix 3.5/3.7/3.10, OpenSSH
# 8.4/9.2/10): plan, apply, rollback, the fault matrix and the load test run on each.
RELEASES = ("bullseye", "bookworm", "trixie")


def _unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 10000}"


@pytest.fixture
def make_lab() -> Iterator[LabFactory]:
    """Bring up labs on demand; every lab made is torn down, even when the test fails."""
    made: list[str] = []

    def factory(profile: str, hosts: int = 1, prefix: str = "t", release: str = "bookworm") -> Lab:
        name = _unique(f"{prefix}{len(made)}")[:8]
        made.append(name)
        return lifecycle.bring_up(profile, hosts, name, release=release)

    yield factory
    for name in made:
        lifecycle.tear_down(name)


def ssh_client(lab: Lab, host: LabHost) -> paramiko.SSHClient:
    """A paramiko client to a lab host with strict host-key checking (the lab's known_hosts)."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        host.address,
        username="root",
        key_filename=str(lab.client_key),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


def ssh_run(client: paramiko.SSHClient, command: str) -> tuple[int, str]:
    """Run a command over SSH; returns (exit status, stdout)."""
    _, stdout, _ = client.exec_command(command, timeout=20)
    out = stdout.read().decode()
    return stdout.channel.recv_exit_status(), out
