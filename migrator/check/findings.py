"""What a check found: one finding per check, a host's findings, and their worst status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class Status(IntEnum):
    """A check's outcome; the values are the Nagios plugin exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


# Worst last: a critical fault outranks not knowing, which outranks a warning (as Icinga).
_SEVERITY = (Status.OK, Status.WARNING, Status.UNKNOWN, Status.CRITICAL)


def severity(status: Status) -> int:
    """How serious a status is: OK 0, WARNING 1, UNKNOWN 2, CRITICAL 3."""
    return _SEVERITY.index(status)


def worst(statuses: Iterable[Status]) -> Status:
    """The most serious of statuses (OK when there are none)."""
    return max(statuses, key=_SEVERITY.index, default=Status.OK)


class Delivery(StrEnum):
    """How Postfix hands mail to Dovecot on a host, as its hooks say."""

    LDA = "lda"
    LMTP = "lmtp"
    MIXED = "mixed"
    NONE = "none"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result: its name, status, a one-line summary and any details."""

    check: str
    status: Status
    summary: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HostCheck:
    """Every finding for one host, how it delivers, and the numbers worth graphing."""

    host: str
    delivery: Delivery
    findings: tuple[Finding, ...]
    metrics: Mapping[str, float] = field(default_factory=dict)
    checked_at: float = 0.0

    @property
    def status(self) -> Status:
        return worst(f.status for f in self.findings)

    def problems(self) -> list[Finding]:
        """The findings that are not OK, most serious first."""
        bad = [f for f in self.findings if f.status is not Status.OK]
        return sorted(bad, key=lambda f: -severity(f.status))


def unreachable(host: str, error: str, checked_at: float = 0.0) -> HostCheck:
    """The HostCheck of a host that could not be checked at all (UNKNOWN)."""
    finding = Finding("reach", Status.UNKNOWN, error)
    return HostCheck(host, Delivery.UNKNOWN, (finding,), {}, checked_at)
