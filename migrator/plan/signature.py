"""Who made a plan: an HMAC-SHA256 over the plan's canonical JSON, with a key only planners hold.

A plan's checksum only says the file is whole: anyone can recompute it. A signature says the
plan was made (or approved) by someone holding the key. The key is a file of at least 32
random bytes, readable by its owner only; its id (the first 16 hex digits of its sha256)
names it in the plan without giving it away. A plan signs as
``{"algorithm": "hmac-sha256", "key_id": ..., "mac": ...}`` in its ``signature`` field, the
MAC taken over every other field (the checksum included), as canonical JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.errors import PlanError, UsageError

ALGORITHM = "hmac-sha256"
MIN_KEY_BYTES = 32
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_MAC = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class PlanKey:
    """A signing key and its public id. The secret never appears in a repr."""

    key_id: str
    secret: bytes = field(repr=False)

    @classmethod
    def from_secret(cls, secret: bytes) -> PlanKey:
        """A key from its bytes. Raises UsageError when it is shorter than 32 bytes."""
        if len(secret) < MIN_KEY_BYTES:
            raise UsageError(f"a plan key needs at least {MIN_KEY_BYTES} random bytes")
        return cls(hashlib.sha256(secret).hexdigest()[:16], secret)


@dataclass(frozen=True, slots=True)
class PlanTrust:
    """What a reader of plans checks: the key to verify with, and whether one must sign."""

    key: PlanKey | None = None
    require_signature: bool = False


def read_key(path: Path) -> PlanKey:
    """Read a plan key file (not following a symlink).

    Raises UsageError naming the file when it is unreadable, not a regular file, readable
    or writable by group or others, or shorter than 32 bytes.
    """
    try:
        # O_NONBLOCK: a FIFO planted as the key must not hang the run.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise UsageError(f"cannot read plan key: {exc.strerror}", path=str(path)) from exc
    try:
        _check_key_mode(os.fstat(fd).st_mode, path)
        secret = os.read(fd, 1 << 16)
    except OSError as exc:
        raise UsageError(f"cannot read plan key: {exc.strerror}", path=str(path)) from exc
    finally:
        os.close(fd)
    try:
        return PlanKey.from_secret(secret)
    except UsageError as exc:
        raise UsageError(exc.message, path=str(path)) from exc


def _check_key_mode(mode: int, path: Path) -> None:
    if not stat.S_ISREG(mode):
        raise UsageError("plan key is not a regular file", path=str(path))
    if mode & 0o077:
        raise UsageError(
            f"plan key has mode {stat.S_IMODE(mode):04o}: group and others must have no "
            "access (chmod 600)",
            path=str(path),
        )


def sign(data: Mapping[str, Any], key: PlanKey) -> dict[str, str]:
    """The signature of a plan's JSON data (everything but a signature)."""
    return {"algorithm": ALGORITHM, "key_id": key.key_id, "mac": _mac(data, key)}


def verify(data: Mapping[str, Any], trust: PlanTrust, host: str | None, source: str | None) -> None:
    """Check a plan's signature against the trusted key, when there is one.

    An unsigned plan passes unless ``trust.require_signature``; a signed one is checked
    when a key is given (its shape always). Raises PlanError naming the file.
    """
    signature = data.get("signature")
    if signature is None:
        if trust.require_signature:
            raise PlanError(
                "signature: plan is not signed, and a signature is required", host=host, path=source
            )
        return
    _check_shape(signature, host, source)
    if trust.key is None:
        return
    if signature["key_id"] != trust.key.key_id:
        raise PlanError(
            f"signature: signed with key {signature['key_id']}, not with the given key "
            f"{trust.key.key_id}",
            host=host,
            path=source,
        )
    unsigned = {k: v for k, v in data.items() if k != "signature"}
    if not hmac.compare_digest(signature["mac"], _mac(unsigned, trust.key)):
        raise PlanError(
            "signature: does not match: the plan was changed after it was signed",
            host=host,
            path=source,
        )


def _check_shape(signature: Any, host: str | None, source: str | None) -> None:
    fields = {"algorithm", "key_id", "mac"}
    if not isinstance(signature, dict) or set(signature) != fields:
        raise PlanError("signature: must be {algorithm, key_id, mac}", host=host, path=source)
    if signature["algorithm"] != ALGORITHM:
        raise PlanError(f"signature.algorithm: must be {ALGORITHM!r}", host=host, path=source)
    for name, pattern in (("key_id", _KEY_ID), ("mac", _MAC)):
        if not isinstance(signature[name], str) or not pattern.fullmatch(signature[name]):
            raise PlanError(f"signature.{name}: malformed", host=host, path=source)


def _mac(data: Mapping[str, Any], key: PlanKey) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key.secret, canonical, hashlib.sha256).hexdigest()
