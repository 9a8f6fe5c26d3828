"""Reading a host's files: main.cf, master.cf, transport maps and Dovecot's include graph.

At most three ``read_files`` round trips (plus one fact script on a live host): the known
files and every file under Dovecot's config directories, then whatever the include graph or
main.cf names outside them.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from migrator.config import postfix
from migrator.config.dovecot import LENS as DOVECOT_LENS
from migrator.config.dovecot import expand_include, includes
from migrator.config.postfix import MasterEntry
from migrator.config.reader import Reader
from migrator.errors import FactError
from migrator.host.facts import (
    DOVECOT_DIRS,
    FactOverrides,
    Facts,
    directory_facts,
    read_live_facts,
    with_group,
)
from migrator.host.platform import OsFamily, detect_family
from migrator.transport.base import FileData, Transport

CONFIG_SUFFIXES = (".conf", ".ext", ".protocol")
POSTFIX_DIRS = ("/etc/postfix", "/usr/local/etc/postfix")
HASHED_MAP_TYPES = frozenset({"hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash"})
# The largest config file planning parses. Stock Dovecot's biggest file is ~20 KiB and a
# large main.cf ~100 KiB; Augeas takes ~0.5 ms a line, so a 17 MB file (a log pasted into
# conf.d, or a file made to stall a fleet) would hold a plan for minutes.
MAX_CONFIG_BYTES = 1 << 20


@runtime_checkable
class FileLister(Protocol):
    """A transport that can list a directory without running commands (a directory root)."""

    def list_files(self, directory: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The files planning reads, as they are on the host, and which role each plays."""

    host: str
    files: Mapping[str, FileData]
    main_cf: str
    master_cf: str
    dovecot_root: str
    dovecot_files: tuple[str, ...]
    dovecot_listing: tuple[str, ...]
    map_files: tuple[tuple[str, str], ...]
    """(map spec as written in main.cf, source file path) for every transport map read."""
    programs: tuple[str, ...] = ()
    """The programs pipe services and mailbox_command run (read to tell a wrapper script)."""

    def content(self, path: str) -> bytes:
        data = self.files[path].content
        assert data is not None, path
        return data


def read_host(
    transport: Transport,
    recipient: str | None,
    overrides: FactOverrides | None = None,
    *,
    reader: Reader,
) -> tuple[Facts, Snapshot]:
    """Read a host's facts and config snapshot without changing anything on it.

    Files are parsed through ``reader`` (so planning finds them parsed already); a parse
    error counts only for main.cf and the files Dovecot's include graph reaches.

    Raises FactError, TransportError or ConfigParseError (naming file and line).
    """
    live_facts = read_live_facts(transport, recipient) if transport.live else None
    listing, main_cf, master_cf, dovecot_root = _where(transport, live_facts)
    # Config-looking files only: never pull keys (private/) or other data off a host.
    prefetch = [f for f in listing if f.endswith(CONFIG_SUFFIXES) and "/private/" not in f]
    first = [main_cf, master_cf, "/etc/passwd", "/etc/group", dovecot_root, *prefetch]
    # The programs the host's postconf -M named come in the same round trip; any that
    # planning does not need (decided from the parsed master.cf below) are dropped.
    hints = [p for p in (live_facts.programs if live_facts else ()) if p not in first]
    files = dict(transport.read_files(list(dict.fromkeys([*first, *hints]))))
    # One Augeas load for every file read so far that planning may parse; Dovecot files the
    # include graph does not reach are parsed too (cheaper than a load per include level),
    # but only a reachable file's parse error counts.
    lenses = _lenses([main_cf, master_cf], [dovecot_root, *prefetch])
    _check_size(transport.host, files, [main_cf, master_cf])
    parsed = [p for p in lenses if _has(files, p) and _small(files[p])]
    reader.parse_all([(p, _content(files, p), lenses[p]) for p in parsed])
    params = reader.main(main_cf, _content(files, main_cf)).params if _has(files, main_cf) else {}
    group = _primary_group(files, params.get("mail_owner", "postfix"))
    if live_facts is not None:
        facts = with_group(live_facts, group)
    else:
        where = posixpath.dirname(main_cf)
        facts = directory_facts(
            transport.host, params, listing, group, overrides, dovecot_root, where
        )
        facts = facts if facts.os_family else replace(facts, os_family=_root_family(transport))
    maps = transport_map_sources(params.get("transport_maps", ""))
    programs = _read_maps_and_programs(transport, reader, files, params, master_cf, maps)
    _check_nul(transport.host, files, [path for _, path in maps])
    for path in set(hints) - set(programs) - {p for _, p in maps}:
        del files[path]
    dovecot_files = _include_graph(transport, reader, files, dovecot_root, listing)
    snapshot = Snapshot(
        host=transport.host,
        files=files,
        main_cf=main_cf,
        master_cf=master_cf,
        dovecot_root=dovecot_root,
        dovecot_files=tuple(dovecot_files),
        dovecot_listing=tuple(listing),
        map_files=tuple((spec, path) for spec, path in maps if files[path].exists),
        programs=tuple(programs),
    )
    return facts, snapshot


def _root_family(transport: Transport) -> OsFamily | None:
    """What a directory laid out like a host says it is, in its /etc/os-release."""
    release = transport.read_files(["/etc/os-release"])["/etc/os-release"].content
    return detect_family("", (release or b"").decode("utf-8", "replace"))


def _where(transport: Transport, live: Facts | None) -> tuple[list[str], str, str, str]:
    """Dovecot's files, main.cf, master.cf and dovecot.conf: from the host, else defaults."""
    if live is not None:
        return list(live.dovecot_files), live.main_cf, live.master_cf, live.dovecot_config
    lister = transport if isinstance(transport, FileLister) else None
    listing = [f for d in DOVECOT_DIRS for f in (lister.list_files(d) if lister else [])]
    roots = [f"{d}/dovecot.conf" for d in DOVECOT_DIRS if f"{d}/dovecot.conf" in listing]
    root = roots[0] if roots else "/etc/dovecot/dovecot.conf"
    # As for Dovecot: where the platform keeps Postfix (FreeBSD: /usr/local/etc/postfix).
    postfix_dirs = [d for d in POSTFIX_DIRS if lister and f"{d}/main.cf" in lister.list_files(d)]
    config_dir = postfix_dirs[0] if postfix_dirs else POSTFIX_DIRS[0]
    return listing, f"{config_dir}/main.cf", f"{config_dir}/master.cf", root


def transport_map_sources(value: str) -> list[tuple[str, str]]:
    """The source files of hashed transport maps named in a ``transport_maps`` value."""
    found = []
    for spec in value.replace(",", " ").split():
        kind, sep, path = spec.partition(":")
        if sep and kind in HASHED_MAP_TYPES and path.startswith("/"):
            found.append((spec, path))
    return found


def _read_maps_and_programs(
    transport: Transport,
    reader: Reader,
    files: dict[str, FileData],
    params: Mapping[str, str],
    master_cf: str,
    maps: list[tuple[str, str]],
) -> list[str]:
    """Read (in one batch) the transport maps' sources and the delivery programs not read yet;
    the programs' paths."""
    master = reader.master(master_cf, _content(files, master_cf)) if _has(files, master_cf) else ()
    programs = delivery_programs(params, master)
    missing = [path for path in [*(p for _, p in maps), *programs] if path not in files]
    if missing:
        files.update(transport.read_files(missing))
    return programs


def delivery_programs(params: Mapping[str, str], master: Sequence[MasterEntry]) -> list[str]:
    """The absolute paths that pipe services and mailbox_command run or hand mail to."""
    argvs = [list(e.argv) for e in master if e.program == "pipe"]
    command = params.get("mailbox_command", "")
    try:
        argvs.append(shlex.split(command))
    except ValueError:  # unbalanced quotes: Postfix's sh would fail too; read the words
        argvs.append(command.split())
    words = (w for argv in argvs for w in argv if w.startswith("/") and "$" not in w)
    return list(dict.fromkeys(words))


def snapshot_lenses(snapshot: Snapshot) -> dict[str, str]:
    """The lens for every file planning loads into Augeas."""
    return _lenses(
        [snapshot.main_cf, snapshot.master_cf],
        list(snapshot.dovecot_files),
        [path for _, path in snapshot.map_files],
    )


def _include_graph(
    transport: Transport,
    reader: Reader,
    files: dict[str, FileData],
    root: str,
    listing: list[str],
) -> list[str]:
    """Every Dovecot file reachable from root, reading (in one batch per level) any not read.

    Raises ConfigParseError for a reachable file its lens cannot read.
    """
    reachable: list[str] = []
    seen = {root}
    frontier = [root]
    while frontier:
        unread = [f for f in frontier if f not in files]
        if unread:
            files.update(transport.read_files(unread))
        frontier = [f for f in frontier if files[f].exists]
        _check_size(transport.host, files, frontier)
        reader.parse_all([(f, _content(files, f), DOVECOT_LENS) for f in frontier])
        reachable.extend(frontier)
        targets = []
        for path in frontier:
            for target, _ in includes(path, reader.dovecot(path, _content(files, path))):
                _check_listed(transport.host, target, path)
                targets.append(target)
        wanted = [f for t in targets for f in expand_include(t, listing) if f not in seen]
        seen.update(wanted)
        frontier = list(dict.fromkeys(wanted))
    return reachable


def _check_listed(host: str, pattern: str, source: str) -> None:
    """A glob include outside the directories migrator lists cannot be followed: say so."""
    if not any(ch in pattern for ch in "*?["):
        return
    directory = posixpath.dirname(pattern)
    if not any(directory == d or directory.startswith(f"{d}/") for d in DOVECOT_DIRS):
        raise FactError(
            f"!include {pattern}: migrator lists Dovecot files only under "
            f"{', '.join(DOVECOT_DIRS)}, so it cannot know which files this includes",
            host=host,
            path=source,
        )


def _small(data: FileData) -> bool:
    return len(data.content or b"") <= MAX_CONFIG_BYTES


def _check_size(host: str, files: Mapping[str, FileData], paths: Sequence[str]) -> None:
    """Raise FactError for the first of PATHS too large to be parsed as a config file, or
    holding a NUL byte."""
    for path in paths:
        if path in files and not _small(files[path]):
            raise FactError(
                f"{len(files[path].content or b'')} bytes: more than the {MAX_CONFIG_BYTES} "
                "bytes migrator parses in a config file (Augeas would take minutes); nothing "
                "was planned",
                host=host,
                path=path,
            )
    _check_nul(host, files, paths)


def _check_nul(host: str, files: Mapping[str, FileData], paths: Sequence[str]) -> None:
    """Raise FactError for the first of PATHS holding a NUL byte: Augeas (as Postfix and
    Dovecot) reads a line only up to it, so an edit would drop the rest of that line."""
    for path in paths:
        content = files[path].content if path in files else None
        if content is not None and b"\x00" in content:
            line = content.count(b"\n", 0, content.index(b"\x00")) + 1
            detail = "holds a NUL byte: Augeas reads its line only up to it, and an edit "
            detail += "would drop the rest; remove it first"
            raise FactError(detail, host=host, path=path, line=line)


def _has(files: Mapping[str, FileData], path: str) -> bool:
    return path in files and files[path].content is not None


def _content(files: Mapping[str, FileData], path: str) -> bytes:
    content = files[path].content
    assert content is not None, path
    return content


def _lenses(
    postfix_files: list[str], dovecot: list[str], maps: list[str] | None = None
) -> dict[str, str]:
    lenses = {}
    for path in postfix_files:
        lenses[path] = (
            postfix.MASTER_LENS if posixpath.basename(path) == "master.cf" else postfix.MAIN_LENS
        )
    for path in dovecot:
        lenses[path] = DOVECOT_LENS
    for path in maps or []:
        lenses[path] = postfix.TRANSPORT_LENS
    return lenses


def _primary_group(files: Mapping[str, FileData], user: str) -> str | None:
    passwd = files.get("/etc/passwd")
    group = files.get("/etc/group")
    if passwd is None or group is None or passwd.content is None or group.content is None:
        return None
    gid = None
    for line in passwd.content.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) > 3 and fields[0] == user:
            gid = fields[3]
    for line in group.content.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2] == gid:
            return fields[0]
    return None
