"""Host-key checking against OpenSSH known_hosts files, strict by default.

paramiko's ``HostKeys`` skips ``@revoked``/``@cert-authority`` lines silently and matches
only exact or hashed names, so the files are read here: hashed (``|1|``) entries,
``[host]:port`` entries, comma lists and ``*``/``?``/``!`` patterns, as OpenSSH reads them.
A key is accepted when a known_hosts file lists it for the host. An unknown key is refused
unless accepting new keys was asked for (then it is appended to the first user file,
hashed if HashKnownHosts says so); a changed or revoked key is always refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.pkey import UnknownKeyType

from migrator.errors import HostKeyError
from migrator.transport.control_files import NotAFileError, read_control_file
from migrator.transport.ssh_config import HostSpec, StrictHostKeyChecking
from migrator.transport.ssh_config_file import match_pattern_list

# A known_hosts file larger than this is not one (a key is ~100 bytes a line: a million).
MAX_KNOWN_HOSTS_BYTES = 128 * 1024 * 1024

# Host-key algorithms that a known_hosts key type can be negotiated as.
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


@dataclass(frozen=True, slots=True)
class KnownKey:
    """One key line of a known_hosts file that names our host."""

    key: paramiko.PKey
    path: str
    line: int
    revoked: bool = False


def fingerprint(key: paramiko.PKey) -> str:
    """The key's SHA256 fingerprint as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class KnownHosts:
    """The known_hosts files in use for one host, and the check of the key it offers."""

    def __init__(self, spec: HostSpec, *, accept_new: bool = False) -> None:
        self.spec = spec
        mode = spec.strict_host_key_checking
        # "no" would let ssh connect past a changed key; migrator never does, so it is
        # treated like accept-new.
        self.accept_new = accept_new or mode in (
            StrictHostKeyChecking.ACCEPT_NEW,
            StrictHostKeyChecking.NO,
        )
        self.files = spec.known_hosts_files + spec.global_known_hosts_files
        self.entries = _load(self.files, spec.known_hosts_name)

    def preferred_algorithms(self, offered: tuple[str, ...]) -> tuple[str, ...]:
        """OFFERED reordered so algorithms of keys we know come first (as ssh orders them)."""
        known: list[str] = []
        for entry in self.entries:
            if not entry.revoked:
                name = entry.key.get_name()
                known.extend(a for a in _ALGORITHMS.get(name, (name,)) if a not in known)
        first = [a for a in known if a in offered]
        return tuple(first + [a for a in offered if a not in first])

    def verify(self, key: paramiko.PKey) -> None:
        """Accept KEY for this host, or raise HostKeyError; may add it (accept-new)."""
        name = self.spec.known_hosts_name
        offered = f"{key.get_name()} {fingerprint(key)}"
        for entry in self.entries:
            if entry.revoked and _same(entry.key, key):
                raise self._error(f"host key {offered} for {name} is REVOKED in {entry.path}")
        good = [e for e in self.entries if not e.revoked]
        if any(_same(entry.key, key) for entry in good):
            return
        if good:
            where = ", ".join(sorted({f"{e.path}:{e.line}" for e in good}))
            raise self._error(
                f"host key for {name} has CHANGED (server offers {offered}; known_hosts has "
                f"another at {where}); refusing to connect: remove the old entry if the "
                "change is expected"
            )
        if not self.accept_new:
            searched = ", ".join(self.files) or "no known_hosts file"
            raise self._error(
                f"unknown host key for {name} ({offered}), not in {searched}; check it and "
                "add it to known_hosts, or pass --accept-new-host-key"
            )
        self._add(key)

    def _add(self, key: paramiko.PKey) -> None:
        if not self.spec.known_hosts_files:
            raise self._error("cannot accept a new host key: UserKnownHostsFile is none")
        path = Path(self.spec.known_hosts_files[0])
        name = self.spec.known_hosts_name
        if self.spec.hash_known_hosts:
            name = paramiko.HostKeys.hash_host(name)
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a+b") as handle:
                handle.seek(0, os.SEEK_END)
                if handle.tell() and not _ends_with_newline(path):
                    line = "\n" + line
                handle.write(line.encode())
        except OSError as exc:
            raise self._error(f"cannot add the host key to {path}: {exc.strerror}") from exc
        self.entries = (*self.entries, KnownKey(key, str(path), 0))

    def _error(self, message: str) -> HostKeyError:
        return HostKeyError(message, host=self.spec.name)


def _same(a: paramiko.PKey, b: paramiko.PKey) -> bool:
    return a.get_name() == b.get_name() and a.asbytes() == b.asbytes()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _load(files: tuple[str, ...], name: str) -> tuple[KnownKey, ...]:
    entries: list[KnownKey] = []
    for path in files:
        try:
            text = read_control_file(path, MAX_KNOWN_HOSTS_BYTES).decode("utf-8", "replace")
        except FileNotFoundError:
            continue
        except NotAFileError as exc:
            raise HostKeyError(f"cannot read known_hosts file {exc}") from exc
        except OSError as exc:
            raise HostKeyError(f"cannot read known_hosts file {path}: {exc.strerror}") from exc
        for number, raw in enumerate(text.splitlines(), 1):
            entry = _parse(raw, name, path, number)
            if entry is not None:
                entries.append(entry)
    return tuple(entries)


def _parse(raw: str, name: str, path: str, number: int) -> KnownKey | None:
    fields = raw.split()
    if not fields or fields[0].startswith("#"):
        return None
    marker = fields.pop(0) if fields[0].startswith("@") else None
    if marker == "@cert-authority" or len(fields) < 3:
        return None  # host certificates are not used by migrator
    hosts, key_type, data = fields[:3]
    if not _names_match(hosts, name.lower()):
        return None
    try:
        key = paramiko.PKey.from_type_string(key_type, base64.b64decode(data))
    except (paramiko.SSHException, UnknownKeyType, binascii.Error, ValueError):
        return None  # a key type paramiko cannot use, or a damaged line: ssh skips it too
    return KnownKey(key, path, number, revoked=marker == "@revoked")


def _names_match(hosts: str, name: str) -> bool:
    if hosts.startswith("|1|"):
        return paramiko.HostKeys.hash_host(name, hosts) == hosts
    return match_pattern_list(name, hosts.lower().split(","))
