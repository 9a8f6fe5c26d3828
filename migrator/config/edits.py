"""Edits: one change to one file, each with the reason a person reads in the plan.

Rules produce these records; ``apply_edits`` is the only code that turns them into Augeas
operations, so every change to a file goes through its lens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from migrator.config import dovecot, postfix
from migrator.config.dovecot import Chain
from migrator.config.tree import ConfigTree


@dataclass(frozen=True, slots=True)
class SetMainParam:
    file: str
    name: str
    value: str
    reason: str

    def describe(self) -> str:
        return f"{self.file}: set {self.name} = {self.value}"


@dataclass(frozen=True, slots=True)
class RemoveMainParam:
    file: str
    name: str
    reason: str

    def describe(self) -> str:
        return f"{self.file}: remove {self.name}"


@dataclass(frozen=True, slots=True)
class SetTransportEntry:
    file: str
    pattern: str
    transport: str
    reason: str

    def describe(self) -> str:
        return f"{self.file}: {self.pattern} -> {self.transport}"


@dataclass(frozen=True, slots=True)
class SetDovecotSetting:
    file: str
    chain: Chain
    key: str
    value: str
    reason: str

    def describe(self) -> str:
        where = " / ".join(str(ref) for ref in self.chain)
        inside = f" in {where}" if where else ""
        return f"{self.file}: set {self.key} = {self.value}{inside}"


@dataclass(frozen=True, slots=True)
class RemoveMasterService:
    file: str
    name: str
    type: str
    reason: str

    def describe(self) -> str:
        return f"{self.file}: remove service {self.name} ({self.type})"


@dataclass(frozen=True, slots=True)
class AddMasterService:
    """A new master.cf service: name, type, the five flag columns and the command."""

    file: str
    name: str
    type: str
    columns: tuple[str, str, str, str, str]
    """private, unprivileged, chroot, wakeup, maxproc."""
    command: str
    reason: str

    def describe(self) -> str:
        return f"{self.file}: add service {self.name} ({self.type}) running {self.command}"


Edit = (
    SetMainParam
    | RemoveMainParam
    | SetTransportEntry
    | SetDovecotSetting
    | RemoveMasterService
    | AddMasterService
)


def apply_edits(tree: ConfigTree, edits: Sequence[Edit]) -> None:
    """Apply edits to the tree in order (nothing is saved here)."""
    for edit in edits:
        if isinstance(edit, SetMainParam):
            postfix.set_main_param(tree, edit.file, edit.name, edit.value)
        elif isinstance(edit, RemoveMainParam):
            postfix.remove_main_param(tree, edit.file, edit.name)
        elif isinstance(edit, SetTransportEntry):
            postfix.set_transport_entry(tree, edit.file, edit.pattern, edit.transport)
        elif isinstance(edit, RemoveMasterService):
            postfix.remove_master_service(tree, edit.file, edit.name, edit.type)
        elif isinstance(edit, AddMasterService):
            postfix.add_master_service(
                tree, edit.file, edit.name, (edit.type, *edit.columns), edit.command
            )
        else:
            dovecot.set_setting(tree, edit.file, edit.chain, edit.key, edit.value)
