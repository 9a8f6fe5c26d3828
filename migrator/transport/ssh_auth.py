"""Public-key authentication the way ``ssh`` does it: the agent, then the identity files.

paramiko's built-in order drops the agent altogether when we must honour IdentitiesOnly; OpenSSH
keeps the agent's keys that match an IdentityFile (the usual "key in the agent, only
the .pub on disk" setup). Passwords and keyboard-interactive are never tried.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from pathlib import Path

import paramiko
from paramiko.auth_strategy import AuthSource, AuthStrategy, InMemoryPrivateKey, OnDiskPrivateKey
from paramiko.pkey import UnknownKeyType

from migrator.transport.control_files import read_control_file
from migrator.transport.ssh_config import HostSpec

MAX_KEY_BYTES = 64 * 1024  # an RSA 16384-bit private key in PEM is ~12 KiB


class KeyAuth(AuthStrategy):
    """Agent keys first (only those of the IdentityFiles with IdentitiesOnly), then the files."""

    def __init__(self, spec: HostSpec, agent: paramiko.Agent | None) -> None:
        super().__init__(ssh_config=paramiko.SSHConfig())  # resolution is ssh_config.py's job
        self.spec = spec
        self.agent = agent
        self.tried: list[str] = []
        self.skipped: list[str] = []

    def get_sources(self) -> Iterator[AuthSource]:
        user = self.spec.user
        wanted = {blob for path in self.spec.identity_files if (blob := _public_blob(path))}
        offered: set[bytes] = set()
        for agent_key in self.agent.get_keys() if self.agent else ():
            if self.spec.identities_only and agent_key.asbytes() not in wanted:
                continue
            offered.add(agent_key.asbytes())
            self.tried.append(f"agent {agent_key.get_name()}")
            yield InMemoryPrivateKey(user, agent_key)
        for path in self.spec.identity_files:
            key = self._load(path)
            if key is not None and key.asbytes() not in offered:
                offered.add(key.asbytes())
                self.tried.append(path)
                yield OnDiskPrivateKey(user, "ssh-config", Path(path), key)

    def summary(self) -> str:
        """One line: which keys were offered and which could not be used."""
        tried = ", ".join(self.tried) or "no key (no agent key or IdentityFile usable)"
        skipped = f"; skipped {', '.join(self.skipped)}" if self.skipped else ""
        return f"offered {tried}{skipped}"

    def _load(self, path: str) -> paramiko.PKey | None:
        if _key_text(path) is None:
            return None
        try:
            return paramiko.PKey.from_path(path)
        except (paramiko.PasswordRequiredException, TypeError):
            # cryptography says TypeError ("password was not provided") for an encrypted key.
            # Passphrase-protected: only usable through the agent, as in BatchMode ssh.
            self.skipped.append(f"{path} (needs a passphrase; add it to the agent)")
        except (paramiko.SSHException, UnknownKeyType, ValueError, OSError) as exc:
            self.skipped.append(f"{path} ({type(exc).__name__})")
        return None


def _public_blob(path: str) -> bytes | None:
    """The public key blob of identity PATH, from PATH.pub (or PATH itself if it is public)."""
    for candidate in (f"{path}.pub", path):
        text = _key_text(candidate)
        if text is None:
            continue
        fields = text.decode("ascii", "replace").split()
        if len(fields) >= 2 and not fields[0].startswith("-----"):
            try:
                return base64.b64decode(fields[1], validate=True)
            except (binascii.Error, ValueError):
                return None
    return None


def _key_text(path: str) -> bytes | None:
    """The bytes of key file PATH, or None if it is no regular file of a key's size."""
    try:
        return read_control_file(path, MAX_KEY_BYTES) or None
    except OSError:
        return None
