"""A host's configuration as parsed data: main.cf, master.cf, transport maps, Dovecot.

Read from an Augeas tree of a snapshot; rules read this and never touch Augeas paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from migrator.config import postfix
from migrator.config.dovecot import DovecotConfig, read_config
from migrator.config.postfix import MasterEntry, TransportEntry
from migrator.config.tree import ConfigTree
from migrator.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class TransportMap:
    spec: str
    path: str
    entries: tuple[TransportEntry, ...]


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Everything planning reads from a host's files, parsed."""

    main_file: str
    main: Mapping[str, str]
    main_lines: Mapping[str, int]
    master_file: str
    master: tuple[MasterEntry, ...]
    maps: tuple[TransportMap, ...]
    dovecot: DovecotConfig


def read_host_config(tree: ConfigTree, snapshot: Snapshot) -> HostConfig:
    """Parse the snapshot's files from their Augeas tree (after edits, if any were made)."""
    main = postfix.main_params(tree, snapshot.main_cf) if _has(snapshot, snapshot.main_cf) else {}
    master = (
        postfix.master_entries(tree, snapshot.master_cf)
        if _has(snapshot, snapshot.master_cf)
        else []
    )
    maps = tuple(
        TransportMap(spec, path, tuple(postfix.transport_entries(tree, path)))
        for spec, path in snapshot.map_files
    )
    config = (
        read_config(tree, snapshot.dovecot_root, snapshot.dovecot_listing)
        if snapshot.dovecot_files
        else DovecotConfig(snapshot.dovecot_root, (), (), ())
    )
    lines = postfix.main_param_lines(tree, snapshot.main_cf) if main else {}
    return HostConfig(
        snapshot.main_cf, main, lines, snapshot.master_cf, tuple(master), maps, config
    )


def settings_view(config: HostConfig) -> dict[str, dict[str, str]]:
    """The parsed settings as plain data, for a settings diff before/after."""
    dovecot: dict[str, str] = {}
    for setting in config.dovecot.settings:
        where = " / ".join(str(ref) for ref in setting.chain)
        dovecot[f"{where} / {setting.key}" if where else setting.key] = setting.value
    master = {f"{e.name}/{e.type}": " ".join(e.command.split()) for e in config.master}
    maps = {
        f"{m.path} {e.pattern}": f"{e.transport}:{e.nexthop}"
        for m in config.maps
        for e in m.entries
    }
    return {
        "postfix_main": dict(config.main),
        "postfix_master": master,
        "postfix_transport_maps": maps,
        "dovecot": dovecot,
    }


def _has(snapshot: Snapshot, path: str) -> bool:
    data = snapshot.files.get(path)
    return data is not None and data.exists
