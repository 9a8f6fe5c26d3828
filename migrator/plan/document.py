"""The Plan document: what apply will change on one host, and why, as checkable data.

A plan is a record and its JSON, nothing more: no Augeas, no transport. ``build`` makes
plans, ``store`` keeps them under ``plans/``; apply and rollback read only this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from migrator.endpoint import Endpoint
from migrator.errors import PlanError
from migrator.transport.base import sha256

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file apply will rewrite: where, who owns it, and its content before and after."""

    path: str
    owner: str
    group: str
    mode: str
    sha256_before: str
    sha256_after: str
    content_before: str
    content_after: str
    diff: str


@dataclass(frozen=True, slots=True)
class Change:
    """One semantic change, as shown to the user: what, in which file, and why."""

    file: str
    summary: str
    reason: str


@dataclass(frozen=True, slots=True)
class Step:
    """One step apply takes, in order. ``action`` names what apply runs; ``args`` its inputs."""

    action: str
    description: str
    args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Plan:
    """A host's planned LDA -> LMTP switch (empty ``files`` means no changes)."""

    format_version: int
    plan_id: str
    host: str
    created: str
    migrator_version: str
    facts: Mapping[str, Any]
    endpoint: str
    lda_services: tuple[str, ...]
    changes: tuple[Change, ...]
    files: tuple[FileChange, ...]
    settings_diff: Mapping[str, Any]
    steps: tuple[Step, ...]
    warnings: tuple[str, ...]

    @property
    def has_changes(self) -> bool:
        return bool(self.files)

    @property
    def lmtp_endpoint(self) -> Endpoint:
        """The LMTP endpoint Postfix will use (a relative socket under the queue directory)."""
        return Endpoint.from_postfix(self.endpoint, str(self.facts.get("queue_directory", "")))

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data, with a checksum over everything else."""
        data = asdict(self)
        data["checksum"] = _checksum(data)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, host: str | None = None, source: str | None = None) -> Plan:
        """Validate and rebuild a plan from its JSON data (see ``load``)."""
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise PlanError("not a migrator plan of format version 1", host=host, path=source)
        data = dict(data)
        recorded = data.pop("checksum", None)
        if recorded != _checksum(data):
            raise PlanError("plan was edited by hand (checksum mismatch)", host=host, path=source)
        if host is not None and data.get("host") != host:
            raise PlanError(f"plan is for host {data.get('host')!r}", host=host, path=source)
        try:
            plan = cls(
                format_version=data["format_version"],
                plan_id=data["plan_id"],
                host=data["host"],
                created=data["created"],
                migrator_version=data["migrator_version"],
                facts=data["facts"],
                endpoint=data["endpoint"],
                lda_services=tuple(data["lda_services"]),
                changes=tuple(Change(**c) for c in data["changes"]),
                files=tuple(FileChange(**f) for f in data["files"]),
                settings_diff=data["settings_diff"],
                steps=tuple(Step(**s) for s in data["steps"]),
                warnings=tuple(data["warnings"]),
            )
        except (KeyError, TypeError) as exc:
            raise PlanError(f"plan is missing a field: {exc}", host=host, path=source) from exc
        for change in plan.files:
            before = sha256(change.content_before.encode("utf-8", "surrogateescape"))
            after = sha256(change.content_after.encode("utf-8", "surrogateescape"))
            if (before, after) != (change.sha256_before, change.sha256_after):
                raise PlanError("file content does not match its sha256", host=host, path=source)
        return plan


def _checksum(data: Mapping[str, Any]) -> str:
    return sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
