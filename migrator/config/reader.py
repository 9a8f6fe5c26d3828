"""Reading and editing files through their lenses, each distinct content once per run.

A file's parse depends only on its content and lens, and an edit's result only on the file's
content and the edits, so a run over many hosts (a fleet shares its packages' stock files)
parses and edits each distinct content once: ``ParseCache`` holds the results, shared by
every host of a run and safe across threads; a ``Reader`` binds it to one host's tree.

Augeas has a fixed cost per load call and lens (~17 ms for the Dovecot lens on this kind of
machine, more than parsing a typical file), so a Reader parses what it needs in batches, one
load each, and edits and saves all of a plan's files at once.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

from migrator.config import dovecot, postfix
from migrator.config.dovecot import DovecotConfig, DovecotFile
from migrator.config.edits import Edit, apply_edits
from migrator.config.postfix import MainFile, MasterEntry, TransportEntry
from migrator.config.tree import ConfigTree
from migrator.errors import ConfigParseError
from migrator.transport.base import sha256

T = TypeVar("T")
Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Failure:
    """A content its lens cannot read: the message and line, for every host that has it."""

    message: str
    line: int | None


class ParseCache:
    """Values by key, each computed once even when threads ask for it at the same time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Key, object] = {}
        self._pending: dict[Key, threading.Lock] = {}
        self.computed = 0
        """How many keys were computed (the rest were answered from the cache)."""

    def get_many(
        self, keys: Sequence[Key], compute: Callable[[list[Key]], Mapping[Key, object]]
    ) -> dict[Key, object]:
        """The value of every key; ``compute`` gets the ones nobody computed yet, at once.

        Keys being computed by another thread are waited for (locks taken in sorted order,
        so two threads with overlapping batches cannot deadlock).
        """
        with self._lock:
            missing = sorted({k for k in keys if k not in self._values})
            locks = [self._pending.setdefault(k, threading.Lock()) for k in missing]
        if missing:
            with ExitStack() as stack:
                for lock in locks:
                    stack.enter_context(lock)
                with self._lock:
                    todo = [k for k in missing if k not in self._values]
                if todo:
                    computed = compute(todo)
                    with self._lock:
                        self._values.update(computed)
                        self.computed += len(computed)
                        for key in todo:
                            self._pending.pop(key, None)
        with self._lock:
            return {key: self._values[key] for key in keys}


_PARSERS: dict[str, Callable[[ConfigTree, str], Any]] = {
    postfix.MAIN_LENS: postfix.parse_main,
    postfix.MASTER_LENS: lambda tree, path: tuple(postfix.master_entries(tree, path)),
    postfix.TRANSPORT_LENS: lambda tree, path: tuple(postfix.transport_entries(tree, path)),
    dovecot.LENS: dovecot.parse_file,
}


class Reader:
    """One host's view of a run's cache: what the cache lacks is parsed in ``tree``.

    Every content is loaded at a path of its own (``/f/N``), never at the host path, so a
    parse never meets an edit and edits are applied to a copy made for them.
    """

    def __init__(self, tree: ConfigTree, cache: ParseCache | None = None) -> None:
        self.tree = tree
        self.cache = cache if cache is not None else ParseCache()
        self._loaded = 0
        self._unedited: dict[Key, str] = {}
        """(lens, sha256) -> where that content sits in the tree, still unedited."""

    def parse_all(self, files: Sequence[tuple[str, bytes, str]]) -> None:
        """Make sure every (path, content, lens) is parsed: one Augeas load for the lot."""
        self._parsed(files)

    def main(self, path: str, content: bytes) -> MainFile:
        """main.cf's parameters. Raises ConfigParseError (file, line) if the lens fails."""
        return cast(MainFile, self._one(path, content, postfix.MAIN_LENS))

    def master(self, path: str, content: bytes) -> tuple[MasterEntry, ...]:
        return cast(tuple[MasterEntry, ...], self._one(path, content, postfix.MASTER_LENS))

    def transport(self, path: str, content: bytes) -> tuple[TransportEntry, ...]:
        return cast(tuple[TransportEntry, ...], self._one(path, content, postfix.TRANSPORT_LENS))

    def dovecot(self, path: str, content: bytes) -> DovecotFile:
        return cast(DovecotFile, self._one(path, content, dovecot.LENS))

    def dovecot_config(
        self, files: Mapping[str, DovecotFile], root: str, listing: Sequence[str]
    ) -> DovecotConfig:
        """``dovecot.read_config`` of parsed files, flattened once per run for each distinct
        include graph (a fleet's hosts mostly share their Dovecot files, before and after the
        edits). Raises ConfigParseError as read_config does, naming this host.
        """
        # Parsed files are the cache's own objects, kept for the whole run: their ids name
        # their contents (each distinct content is parsed once).
        graph = tuple(f"{path}\0{id(files[path])}" for path in sorted(files))
        key: Key = ("dovecot-config", root, *listing, "\0", *graph)

        def compute(todo: list[Key]) -> dict[Key, object]:
            try:
                return {key: dovecot.read_config(self.tree.host, files, root, listing)}
            except ConfigParseError as exc:
                return {key: exc}

        found = self.cache.get_many([key], compute)[key]
        if isinstance(found, ConfigParseError):
            raise ConfigParseError(
                found.message, host=self.tree.host, path=found.path, line=found.line
            ) from found
        return cast(DovecotConfig, found)

    def edit_files(
        self, contents: Mapping[str, bytes], lenses: Mapping[str, str], edits: Sequence[Edit]
    ) -> dict[str, bytes]:
        """Every file's content after ``edits``, saved through its lens (files no edit names
        come back as they are). Raises ConfigParseError when a lens cannot write a tree back.
        """
        by_file: dict[str, list[Edit]] = {}
        for edit in edits:
            by_file.setdefault(edit.file, []).append(edit)
        keys = {
            _edit_key(path, lenses[path], contents[path], e): path for path, e in by_file.items()
        }

        def compute(todo: list[Key]) -> dict[Key, object]:
            paths = [keys[key] for key in todo]
            return dict(zip(todo, self._edit(paths, contents, lenses, by_file), strict=True))

        done = self.cache.get_many(list(keys), compute)
        after = dict(contents)
        for key, path in keys.items():
            after[path] = cast(bytes, done[key])
        return after

    def _one(self, path: str, content: bytes, lens: str) -> object:
        value = self._parsed([(path, content, lens)])[0]
        if isinstance(value, _Failure):
            raise ConfigParseError(value.message, host=self.tree.host, path=path, line=value.line)
        return value

    def _parsed(self, files: Sequence[tuple[str, bytes, str]]) -> list[object]:
        keys: list[Key] = [(lens, sha256(content)) for _, content, lens in files]
        by_key: dict[Key, bytes] = {
            key: content for key, (_, content, _) in zip(keys, files, strict=True)
        }
        found = self.cache.get_many(keys, lambda todo: self._parse(todo, by_key))
        return [found[key] for key in keys]

    def _parse(self, todo: list[Key], contents: Mapping[Key, bytes]) -> dict[Key, object]:
        where = {key: self._place(key) for key in todo}
        self.tree.add_files(
            {where[key]: contents[key] for key in todo},
            {where[key]: key[0] for key in todo},
            strict=False,
        )
        parsed: dict[Key, object] = {}
        for key in todo:
            try:
                self.tree.check_errors([where[key]])
                parsed[key] = _PARSERS[key[0]](self.tree, where[key])
            except ConfigParseError as exc:
                parsed[key] = _Failure(exc.message, exc.line)
        return parsed

    def _place(self, key: Key) -> str:
        self._loaded += 1
        where = f"/f/{self._loaded}"
        self._unedited[key] = where
        return where

    def _edit(
        self,
        paths: list[str],
        contents: Mapping[str, bytes],
        lenses: Mapping[str, str],
        by_file: Mapping[str, list[Edit]],
    ) -> list[bytes]:
        """Edit copies of ``paths`` in the tree and save them all at once."""
        keys = {path: (lenses[path], sha256(contents[path])) for path in paths}
        copies = {path: self._unedited.pop(keys[path], None) for path in paths}
        unloaded = [path for path in paths if copies[path] is None]
        for path in unloaded:
            copies[path] = self._place(keys[path])
            del self._unedited[keys[path]]
        if unloaded:
            # Only these copies' errors count: the tree may hold a file that failed to parse
            # and that no host needs (a conf.d file nothing includes).
            self.tree.add_files(
                {cast(str, copies[p]): contents[p] for p in unloaded},
                {cast(str, copies[p]): lenses[p] for p in unloaded},
                strict=False,
            )
        real = {cast(str, copies[path]): path for path in paths}
        self._said_of_host_files(real, lambda: self.tree.check_errors(list(real)))
        for where, path in real.items():
            edits = [dataclasses.replace(e, file=where) for e in by_file[path]]
            self._said_of_host_files({where: path}, partial(apply_edits, self.tree, edits))
        saved = self._said_of_host_files(real, lambda: self.tree.save(check=list(real)))
        return [saved[where] for where in real]

    @staticmethod
    def _said_of_host_files(real: Mapping[str, str], action: Callable[[], T]) -> T:
        """Run ``action``; an error it raises about a copy is said of the host's file."""
        try:
            return action()
        except ConfigParseError as exc:
            path = real.get(exc.path or "", exc.path)
            if path is None and len(real) == 1:
                path = next(iter(real.values()))
            message = exc.message
            for where, host_path in real.items():
                message = message.replace(f"/files{where}/", f"/files{host_path}/")
            raise ConfigParseError(message, host=exc.host, path=path, line=exc.line) from exc


def _edit_key(path: str, lens: str, content: bytes, edits: Sequence[Edit]) -> Key:
    """What decides an edited file's content: file, lens, content, the edits (not reasons)."""
    parts = tuple(repr(dataclasses.replace(edit, reason="")) for edit in edits)
    return ("edit", path, lens, sha256(content), *parts)
