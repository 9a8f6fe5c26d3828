"""SSH material of a lab: a client key, one host key per host, known_hosts and ssh_config."""

from __future__ import annotations

import subprocess
from pathlib import Path

from migrator.errors import LabError
from migrator.lab.state import Lab, LabHost


def generate_key(path: Path, comment: str) -> Path:
    """Create an ed25519 key pair at path (no passphrase); returns the private key's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise LabError(f"ssh-keygen failed: {done.stderr.strip()}", path=str(path))
    return path


def host_key_dir(lab: Lab, host: LabHost) -> Path:
    """A fresh directory holding the host's ed25519 host key pair."""
    directory = lab.directory / "hostkeys" / host.name
    generate_key(directory / "ssh_host_ed25519_key", f"root@{host.name}")
    return directory


def write_client_files(lab: Lab) -> None:
    """Write known_hosts (every host's key, by name and address) and the OpenSSH client config."""
    lines = []
    for host in lab.hosts:
        public = (lab.directory / "hostkeys" / host.name / "ssh_host_ed25519_key.pub").read_text()
        key_type, key = public.split()[:2]
        lines.append(f"{host.name},{host.address} {key_type} {key}\n")
    lab.known_hosts.write_text("".join(lines))
    blocks = [f"# migrator lab {lab.name!r}: use with ssh -F {lab.ssh_config} HOST\n"]
    for host in lab.hosts:
        blocks.append(
            f"Host {host.name}\n"
            f"    HostName {host.address}\n"
            "    User root\n"
            f"    IdentityFile {lab.client_key}\n"
            "    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {lab.known_hosts}\n"
            "    StrictHostKeyChecking yes\n"
            "    BatchMode yes\n"
        )
    lab.ssh_config.write_text("\n".join(blocks))
