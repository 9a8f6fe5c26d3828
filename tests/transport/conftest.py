"""A real OpenSSH sshd on 127.0.0.1 for transport tests, with its own keys and config.

Everything lives under the test's tmp_path; sshd runs in the foreground (``-D -e``) as a
child of the test and is stopped by its PID. The only thing outside tmp_path is sshd's
privilege-separation directory /run/sshd, which Debian's init would otherwise create.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"

needs_sshd = pytest.mark.skipif(
    not (os.path.exists(SSHD) and os.geteuid() == 0 and shutil.which("ssh-keygen")),
    reason="needs root, /usr/sbin/sshd and ssh-keygen",
)


@dataclass(frozen=True)
class Sshd:
    """A running test sshd and the client-side files that reach it."""

    port: int
    pid: int
    dir: Path
    host_key_pub: Path
    client_key: Path
    known_hosts: Path
    ssh_config: Path

    def known_hosts_line(self, name: str | None = None) -> str:
        key_type, key = self.host_key_pub.read_text().split()[:2]
        return f"{name or f'[127.0.0.1]:{self.port}'} {key_type} {key}\n"

    def trust(self) -> None:
        """Put the server's key in the client's known_hosts."""
        self.known_hosts.write_text(self.known_hosts_line())

    def session_pids(self) -> list[int]:
        """PIDs of the per-connection sshd processes (children of the listener)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.pid:
                found.append(int(entry.name))
        return found


def keygen(path: Path, comment: str, key_type: str = "ed25519", passphrase: str = "") -> None:
    """Make a key pair with ssh-keygen at PATH (and PATH.pub)."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", comment, "-f", str(path)],
        check=True,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sshd did not start listening")


def client_config(sshd_dir: Path, port: int, client_key: Path, known_hosts: Path) -> str:
    """An OpenSSH client config naming the test sshd several ways."""
    common = (
        f"  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {client_key}\n"
        f"  IdentitiesOnly yes\n  UserKnownHostsFile {known_hosts}\n"
        "  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
    )
    return (
        f"Host target hop1 hop2\n{common}"
        f"Host jumped\n  ProxyJump target\n{common}"
        f"Host chained\n  ProxyJump hop1,hop2\n{common}"
        # Shell syntax on purpose: ssh runs ProxyCommand through sh, and so must we.
        f"Host proxied\n  ProxyCommand ssh -F {sshd_dir / 'ssh_config'} -W %h:%p target"
        f" 2>/dev/null\n{common}"
    )


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """Start sshd on a free loopback port; stop it (and its session children) by PID."""
    if not (os.path.exists(SSHD) and os.geteuid() == 0):
        pytest.skip("needs root and /usr/sbin/sshd")
    base = tmp_path / "sshd"
    base.mkdir()
    keygen(base / "host_ed25519", "test-host")
    keygen(base / "host_ecdsa", "test-host", "ecdsa")
    keygen(base / "client_ed25519", "test-client")
    # sshd puts bin/ first on the session PATH: tests drop fake commands there (sudo).
    (base / "bin").mkdir()
    shutil.copy(base / "client_ed25519.pub", base / "authorized_keys")
    port = _free_port()
    config = base / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_ed25519'}\n"
        f"HostKey {base / 'host_ecdsa'}\nSetEnv PATH={base / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"PidFile {base / 'sshd.pid'}\nAuthorizedKeysFile {base / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "AllowTcpForwarding yes\nLogLevel ERROR\nMaxStartups 50\nMaxSessions 50\n"
    )
    known_hosts = base / "known_hosts"
    known_hosts.touch()
    (base / "ssh_config").write_text(
        client_config(base, port, base / "client_ed25519", known_hosts)
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    proc = subprocess.Popen(
        [SSHD, "-f", str(config), "-D", "-e"], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    server = Sshd(
        port=port,
        pid=proc.pid,
        dir=base,
        host_key_pub=base / "host_ed25519.pub",
        client_key=base / "client_ed25519",
        known_hosts=known_hosts,
        ssh_config=base / "ssh_config",
    )
    try:
        _wait_for_port(port, proc)
        yield server
    finally:
        for pid in server.session_pids():
            _kill(pid)
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
