"""Which family of operating system a host is, and what that changes for the switch: where
Dovecot's LMTP binary lives and which package brings it, named in refusals."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OsFamily(StrEnum):
    """The families whose packaging migrator knows."""

    DEBIAN = "debian"
    RHEL = "rhel"
    FREEBSD = "freebsd"


@dataclass(frozen=True, slots=True)
class Packaging:
    """Where a family's Dovecot keeps the LMTP binary, and how to get it."""

    lmtp_binary: str
    install: str  # the command an admin runs


PACKAGING = {
    OsFamily.DEBIAN: Packaging("/usr/lib/dovecot/lmtp", "apt install dovecot-lmtpd"),
    OsFamily.RHEL: Packaging("/usr/libexec/dovecot/lmtp", "dnf install dovecot"),
    OsFamily.FREEBSD: Packaging("/usr/local/libexec/dovecot/lmtp", "pkg install dovecot"),
}

_LIKE = {
    "debian": OsFamily.DEBIAN,
    "ubuntu": OsFamily.DEBIAN,
    "rhel": OsFamily.RHEL,
    "fedora": OsFamily.RHEL,
    "centos": OsFamily.RHEL,
    "freebsd": OsFamily.FREEBSD,
}


def detect_family(uname: str, os_release: str) -> OsFamily | None:
    """The family from ``uname -s`` and /etc/os-release's text (pure); None when neither
    names a known one."""
    if uname.strip() == "FreeBSD":
        return OsFamily.FREEBSD
    words: list[str] = []
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("ID", "ID_LIKE"):
            words.extend(value.strip().strip("\"'").lower().split())
    for word in words:
        if word in _LIKE:
            return _LIKE[word]
    return None


def lmtp_missing(family: OsFamily | None) -> str:
    """The refusal for a host without Dovecot's LMTP binary: where it was looked for and
    the package that brings it, for the host's family (all three when it is unknown)."""
    known = [PACKAGING[family]] if family else list(PACKAGING.values())
    where = " or ".join(p.lmtp_binary for p in known)
    how = "; ".join(f"`{p.install}`" for p in known)
    label = f" ({family.value})" if family else " (Debian; RHEL; FreeBSD)"
    return f"Dovecot's LMTP binary is missing ({where}): install it first{label}: {how}"
