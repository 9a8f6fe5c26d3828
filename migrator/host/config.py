"""A host's configuration as parsed data: main.cf, master.cf, transport maps, Dovecot.

Read through a Reader (Augeas, each distinct content once); rules read this and never
touch Augeas paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from migrator.config.dovecot import DovecotConfig
from migrator.config.postfix import MainFile, MasterEntry, TransportEntry
from migrator.config.reader import Reader
from migrator.host.snapshot import Snapshot, snapshot_lenses


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
    programs: Mapping[str, bytes | None] = field(default_factory=dict)
    """The delivery programs read off the host (pipe and mailbox_command), None if missing."""
    real_files: Mapping[str, str] = field(default_factory=dict)
    """The config files that are symlinks: each path and the real file read (and written)
    through it."""


def read_host_config(
    reader: Reader, snapshot: Snapshot, contents: Mapping[str, bytes]
) -> HostConfig:
    """Parse the snapshot's files as ``contents`` has them (before or after the edits)."""
    lenses = snapshot_lenses(snapshot)
    reader.parse_all([(p, contents[p], lenses[p]) for p in lenses if _has(snapshot, p)])
    main = (
        reader.main(snapshot.main_cf, contents[snapshot.main_cf])
        if _has(snapshot, snapshot.main_cf)
        else MainFile({}, {})
    )
    master = (
        reader.master(snapshot.master_cf, contents[snapshot.master_cf])
        if _has(snapshot, snapshot.master_cf)
        else ()
    )
    maps = tuple(
        TransportMap(spec, path, reader.transport(path, contents[path]))
        for spec, path in snapshot.map_files
    )
    parsed = {path: reader.dovecot(path, contents[path]) for path in snapshot.dovecot_files}
    config = (
        reader.dovecot_config(parsed, snapshot.dovecot_root, snapshot.dovecot_listing)
        if snapshot.dovecot_files
        else DovecotConfig(snapshot.dovecot_root, (), (), ())
    )
    programs = {path: snapshot.files[path].content for path in snapshot.programs}
    return HostConfig(
        snapshot.main_cf,
        main.params,
        main.lines,
        snapshot.master_cf,
        master,
        maps,
        config,
        programs,
        {path: data.target for path, data in snapshot.files.items() if data.link and data.target},
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
