"""The errors migrator raises: one root, one subclass per failure a user can act on.

Each error carries the host it concerns, and the file and line when it has them, and its
``str()`` is the one-line message shown to the user.
"""

from __future__ import annotations


class MigratorError(Exception):
    """Root of every error migrator reports to a user."""

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.host = host
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
        prefix = ": ".join(part for part in (self.host, where) if part)
        return f"{prefix}: {self.message}" if prefix else self.message


class UsageError(MigratorError):
    """The command line or an input file asks for something that cannot be done."""


class TransportError(MigratorError):
    """A host could not be reached, or a command or file operation on it failed."""


class HostKeyError(TransportError):
    """The host's SSH key is unknown or differs from the one in known_hosts."""


class FactError(MigratorError):
    """A fact about a host could not be read or makes no sense."""


class ConfigParseError(MigratorError):
    """A configuration file cannot be parsed (or written) through its Augeas lens."""


class RefusedError(MigratorError):
    """The host is in a shape migrator will not migrate (e.g. a wrapped LDA)."""


class PlanError(MigratorError):
    """A plan file is unreadable, edited by hand, or for another host."""


class PlanDriftError(PlanError):
    """A file on the host no longer matches the plan's recorded sha256."""


class JournalError(MigratorError):
    """The remote journal is missing, locked by another apply, or inconsistent."""


class ValidationError(MigratorError):
    """The host's own binaries rejected a configuration."""


class DeliveryError(MigratorError):
    """A probe or test message was not delivered as expected."""


class LabError(MigratorError):
    """A lab (sandbox hosts on this machine) could not be built, reached or removed."""


class ServiceError(MigratorError):
    """A daemon could not be reloaded, or did not come back as expected."""
