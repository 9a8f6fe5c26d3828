"""Reading a host's files: main.cf, master.cf, transport maps and Dovecot's include graph.

At most three ``read_files`` round trips (plus one fact script on a live host): the known
files and every file under Dovecot's config directories, then whatever the include graph or
main.cf names outside them.
"""

from __future__ import annotations

import contextlib
import posixpath
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from migrator.config import postfix
from migrator.config.dovecot import LENS as DOVECOT_LENS
from migrator.config.dovecot import expand_include, includes
from migrator.config.params import MainParams
from migrator.config.postfix import MasterEntry
from migrator.config.reader import Reader
from migrator.errors import FactError, RefusedError
from migrator.host.config_limits import check_nul, check_size, parsable_size
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
# Postfix reads these from the source file itself: postmap refuses them ("does not support
# bulk-mode creation"); a reload is all a change needs.
TEXT_MAP_TYPES = frozenset({"texthash"})


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
    instances: tuple[str, ...] = ()
    """The other Postfix instances' config directories (multi_instance_directories), whose
    main.cf and master.cf were read too (never edited)."""

    def content(self, path: str) -> bytes:
        data = self.files[path].content
        assert data is not None, path
        return data


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a host keeps its configs: Dovecot's files, main.cf, master.cf, dovecot.conf."""

    listing: list[str]
    main_cf: str
    master_cf: str
    dovecot_root: str

    @property
    def prefetch(self) -> list[str]:
        """Dovecot's config-looking files: never pull keys (private/) or other data off a host."""
        return [f for f in self.listing if f.endswith(CONFIG_SUFFIXES) and "/private/" not in f]


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
    layout = _where(transport, live_facts)
    files, hints = _read_first(transport, reader, layout, live_facts)
    params = _main_params(reader, files, layout.main_cf)
    facts = _facts(transport, live_facts, layout, files, params, overrides)
    maps = transport_map_sources(params, layout.main_cf)
    instances = instance_directories(params)
    others = [f"{d}/{name}" for d in instances for name in ("main.cf", "master.cf")]
    programs = _read_maps_and_programs(
        transport, reader, files, params, layout.master_cf, maps, others
    )
    check_nul(transport.host, files, [path for _, path in maps])
    for path in set(hints) - set(programs) - {p for _, p in maps}:
        del files[path]
    dovecot_files = _include_graph(transport, reader, files, layout.dovecot_root, layout.listing)
    return facts, Snapshot(
        host=transport.host,
        files=files,
        main_cf=layout.main_cf,
        master_cf=layout.master_cf,
        dovecot_root=layout.dovecot_root,
        dovecot_files=tuple(dovecot_files),
        dovecot_listing=tuple(layout.listing),
        map_files=tuple((spec, path) for spec, path in maps if files[path].exists),
        programs=tuple(programs),
        instances=tuple(instances),
    )


def _read_first(
    transport: Transport, reader: Reader, layout: _Layout, live_facts: Facts | None
) -> tuple[dict[str, FileData], list[str]]:
    """The first round trip: the known files and Dovecot's, parsed in one Augeas load; with
    the programs postconf -M named (``hints``), which the caller drops if planning does not
    need them (decided from the parsed master.cf)."""
    first = [
        layout.main_cf,
        layout.master_cf,
        "/etc/passwd",
        "/etc/group",
        layout.dovecot_root,
        *layout.prefetch,
    ]
    hints = [p for p in (live_facts.programs if live_facts else ()) if p not in first]
    files = dict(transport.read_files(list(dict.fromkeys([*first, *hints]))))
    # One Augeas load for every file read so far that planning may parse; Dovecot files the
    # include graph does not reach are parsed too (cheaper than a load per include level),
    # but only a reachable file's parse error counts.
    lenses = _lenses([layout.main_cf, layout.master_cf], [layout.dovecot_root, *layout.prefetch])
    check_size(transport.host, files, [layout.main_cf, layout.master_cf])
    parsed = [p for p in lenses if _has(files, p) and parsable_size(files[p])]
    reader.parse_all([(p, _content(files, p), lenses[p]) for p in parsed])
    return files, hints


def _main_params(reader: Reader, files: Mapping[str, FileData], main_cf: str) -> Mapping[str, str]:
    """main.cf's parameters as written (none when there is no main.cf)."""
    return reader.main(main_cf, _content(files, main_cf)).params if _has(files, main_cf) else {}


def _facts(
    transport: Transport,
    live_facts: Facts | None,
    layout: _Layout,
    files: Mapping[str, FileData],
    params: Mapping[str, str],
    overrides: FactOverrides | None,
) -> Facts:
    """The live host's facts with Postfix's group, else those its files (and overrides) tell."""
    group = _primary_group(files, params.get("mail_owner", "postfix"))
    if live_facts is not None:
        return with_group(live_facts, group)
    where = posixpath.dirname(layout.main_cf)
    facts = directory_facts(
        transport.host, params, layout.listing, group, overrides, layout.dovecot_root, where
    )
    return facts if facts.os_family else replace(facts, os_family=_root_family(transport))


def _root_family(transport: Transport) -> OsFamily | None:
    """What a directory laid out like a host says it is, in its /etc/os-release."""
    release = transport.read_files(["/etc/os-release"])["/etc/os-release"].content
    return detect_family("", (release or b"").decode("utf-8", "replace"))


def _where(transport: Transport, live: Facts | None) -> _Layout:
    """Dovecot's files, main.cf, master.cf and dovecot.conf: from the host, else defaults."""
    if live is not None:
        return _Layout(list(live.dovecot_files), live.main_cf, live.master_cf, live.dovecot_config)
    lister = transport if isinstance(transport, FileLister) else None
    listing = [f for d in DOVECOT_DIRS for f in (lister.list_files(d) if lister else [])]
    roots = [f"{d}/dovecot.conf" for d in DOVECOT_DIRS if f"{d}/dovecot.conf" in listing]
    root = roots[0] if roots else "/etc/dovecot/dovecot.conf"
    # As for Dovecot: where the platform keeps Postfix (FreeBSD: /usr/local/etc/postfix).
    postfix_dirs = [d for d in POSTFIX_DIRS if lister and f"{d}/main.cf" in lister.list_files(d)]
    config_dir = postfix_dirs[0] if postfix_dirs else POSTFIX_DIRS[0]
    return _Layout(listing, f"{config_dir}/main.cf", f"{config_dir}/master.cf", root)


def transport_map_sources(params: Mapping[str, str], main_cf: str) -> list[tuple[str, str]]:
    """The hashed transport maps with a source file, as ``(spec, source)``: each word of
    ``transport_maps`` as Postfix reads it (``$config_directory/transport`` expanded), with
    ``proxy:`` dropped (proxymap reads the same table; ``postmap`` rebuilds it by its type)."""
    found = []
    for word in transport_map_words(params, main_cf):
        spec = hashed_map_spec(word)
        if spec is not None:
            found.append((spec, spec.partition(":")[2]))
    return found


def transport_map_words(params: Mapping[str, str], main_cf: str) -> list[str]:
    """``transport_maps`` split into its tables, ``$name`` references expanded as Postfix
    does (``config_directory`` defaults to where main.cf is); as written when the value
    uses a form migrator does not expand (the words then name no table it reads)."""
    value = params.get("transport_maps", "")
    if "$" in value:
        values = {"config_directory": posixpath.dirname(main_cf), **params}
        with contextlib.suppress(RefusedError):
            value = MainParams(values, main_cf).expand("transport_maps")
    return value.replace(",", " ").split()


def needs_postmap(spec: str) -> bool:
    """Whether a changed map's table must be rebuilt with postmap (not a text table)."""
    return spec.partition(":")[0] not in TEXT_MAP_TYPES


def instance_directories(params: Mapping[str, str]) -> list[str]:
    """The other Postfix instances' config directories, as postmulti(1) lists them."""
    value = params.get("multi_instance_directories", "")
    return [d.rstrip("/") for d in value.replace(",", " ").split() if d.startswith("/")]


def hashed_map_spec(word: str) -> str | None:
    """``type:/path`` for a hashed map (behind ``proxy:`` or not) with an absolute source
    path; None for any other table (SQL, LDAP, regexp...)."""
    kind, sep, path = word.removeprefix("proxy:").partition(":")
    if sep and kind in HASHED_MAP_TYPES and path.startswith("/") and "$" not in path:
        return f"{kind}:{path}"
    return None


def _read_maps_and_programs(
    transport: Transport,
    reader: Reader,
    files: dict[str, FileData],
    params: Mapping[str, str],
    master_cf: str,
    maps: list[tuple[str, str]],
    others: list[str],
) -> list[str]:
    """Read (in one batch) the transport maps' sources, the delivery programs and ``others``
    not read yet; the programs' paths."""
    master = reader.master(master_cf, _content(files, master_cf)) if _has(files, master_cf) else ()
    programs = delivery_programs(params, master)
    wanted = [*(p for _, p in maps), *programs, *others]
    missing = [path for path in dict.fromkeys(wanted) if path not in files]
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
        check_size(transport.host, files, frontier)
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
