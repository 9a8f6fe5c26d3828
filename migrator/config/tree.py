"""One Augeas instance over a private temp root holding a snapshot of a host's files.

Augeas is opened with no automatic lenses and loads only the files it is given, each with its
lens; every load and save is followed by a check of ``/augeas//error``.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from bisect import bisect_right
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import augeas

from migrator.errors import ConfigParseError
from migrator.lenses import POSTFIX_MAIN_LENS, POSTFIX_MASTER_LENS

LENS_DIR = Path(__file__).resolve().parent.parent / "lenses"

PROJECT_LENSES = {"Postfix_Master": POSTFIX_MASTER_LENS, "Postfix_Main": POSTFIX_MAIN_LENS}
"""Stock lenses replaced by the project's own (in LENS_DIR): the stock Postfix_Master cannot
read Debian 13's stock master.cf, nor comment lines inside a service; the stock Postfix_Main
cannot read comment or blank lines inside a continued value; Postfix accepts all of them."""

AUGEAS_LOCK = threading.RLock()
"""Held by every libaugeas call in this process (see ``Serialised``)."""


class Serialised:
    """A handle whose every method call holds ``AUGEAS_LOCK``.

    libaugeas is not safe to call from two threads at once, even on separate handles: it
    compiles lens regexes lazily and sets gnulib regex's process-global syntax option around
    each compile, so a compile in one thread can run with the syntax another thread just
    restored. Measured without this lock: 10 threads planning at once (plan -i) failed,
    about one run in 25, to parse a file that parses fine alone; a race that makes a parse
    fail can as well make one wrong. Each host's tree stays its own; only the calls queue.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._handle, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with AUGEAS_LOCK:
                return method(*args, **kwargs)

        return call


class ConfigTree:
    """A snapshot's files loaded through their lenses; edits change only the private copy."""

    def __init__(self, host: str, files: Mapping[str, bytes], lenses: Mapping[str, str]) -> None:
        """Load ``files`` (host path -> content), each through ``lenses[path]``.

        Raises ConfigParseError naming the file and line when a lens cannot read a file.
        """
        self.host = host
        self._dir = Path(tempfile.mkdtemp(prefix="migrator-aug-"))
        self._paths: list[str] = []
        self._lens_nodes: dict[str, str] = {}
        self._line_offsets: dict[str, list[int]] = {}
        loadpath = str(LENS_DIR) if LENS_DIR.is_dir() else None
        flags = augeas.Augeas.NO_MODL_AUTOLOAD | augeas.Augeas.NO_LOAD | augeas.Augeas.ENABLE_SPAN
        with AUGEAS_LOCK:
            handle = augeas.Augeas(root=str(self._dir), loadpath=loadpath, flags=flags)
        self._aug = Serialised(handle)
        self.add_files(files, lenses)

    def add_files(
        self, files: Mapping[str, bytes], lenses: Mapping[str, str], *, strict: bool = True
    ) -> None:
        """Load more files into the tree (files already loaded are not parsed again); with
        ``strict=False`` errors wait for ``check_errors`` (for files that may not matter)."""
        for path, content in files.items():
            local = self._local(path)
            self._line_offsets.pop(str(local), None)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(content)
            lens = PROJECT_LENSES.get(lenses[path], lenses[path])
            if lens not in self._lens_nodes:
                node = f"/augeas/load/L{len(self._lens_nodes)}"
                self._aug.set(f"{node}/lens", f"{lens}.lns")
                self._lens_nodes[lens] = node
            self._aug.set(f"{self._lens_nodes[lens]}/incl[last()+1]", path)
        self._paths = sorted({*self._paths, *files})
        self._aug.load()
        if strict:
            self._check_errors()

    def check_errors(self, paths: Collection[str]) -> None:
        """Raise ConfigParseError for the first file among ``paths`` its lens could not read."""
        self._check_errors(frozenset(paths))

    def __enter__(self) -> ConfigTree:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Drop Augeas and the private root."""
        self._aug.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    # Paths below are Augeas paths; only modules of this package call these.
    def get(self, path: str) -> str | None:
        try:
            value: str | None = self._aug.get(path)
        except ValueError as exc:  # several nodes match: the file has a shape we do not read
            found = self.match(path)
            raise ConfigParseError(
                f"{len(found)} nodes match {path} where one was expected",
                host=self.host,
                line=self.line(found[0]) if found else None,
            ) from exc
        return value

    def match(self, path: str) -> list[str]:
        found: list[str] = self._aug.match(path)
        return found

    def set(self, path: str, value: str | None) -> None:
        try:
            self._aug.set(path, value)
        except ValueError as exc:  # no match, or several: a bug here, said plainly
            raise ConfigParseError(f"cannot set {path}: {exc}", host=self.host) from exc

    def remove(self, path: str) -> int:
        removed: int = self._aug.remove(path)
        return removed

    def insert(self, path: str, label: str, *, before: bool) -> None:
        try:
            self._aug.insert(path, label, before)
        except ValueError as exc:
            raise ConfigParseError(f"cannot insert at {path}: {exc}", host=self.host) from exc

    def one(self, path: str) -> str:
        """The single node ``path`` matches; ConfigParseError when it matches none or many."""
        found = self.match(path)
        if len(found) != 1:
            raise ConfigParseError(
                f"expected exactly one node at {path}, found {len(found)}", host=self.host
            )
        return found[0]

    def line(self, path: str) -> int | None:
        """The 1-based line where the node at ``path`` starts in its file (None if unknown)."""
        try:
            filename, *_, start, _end = self._aug.span(path)
        except ValueError:
            return None
        starts = self._line_starts(str(filename))
        return bisect_right(starts, start) if starts is not None else None

    def _line_starts(self, filename: str) -> list[int] | None:
        """Offsets where each line of a loaded file starts (read once per file)."""
        if filename not in self._line_offsets:
            try:
                content = Path(filename).read_bytes()
            except OSError:
                return None
            starts = [0]
            index = content.find(b"\n")
            while index >= 0:
                starts.append(index + 1)
                index = content.find(b"\n", index + 1)
            self._line_offsets[filename] = starts
        return self._line_offsets[filename]

    def file_node(self, host_path: str) -> str:
        return "/files" + host_path

    def save(self, check: Collection[str] | None = None) -> dict[str, bytes]:
        """Write the edits to the private root; return every file's content after them.

        Raises ConfigParseError when a lens cannot write a changed tree back (put_failed),
        or when any loaded file (or, given ``check``, any of those) has an error.
        """
        only = frozenset(check) if check is not None else None
        try:
            self._aug.save()
        except OSError as exc:
            self._check_errors(only)
            raise ConfigParseError(f"augeas save failed: {exc}", host=self.host) from exc
        self._check_errors(only)
        self._line_offsets.clear()
        return {path: self._local(path).read_bytes() for path in self._paths}

    def _local(self, host_path: str) -> Path:
        return self._dir / host_path.lstrip("/")

    def _check_errors(self, only: frozenset[str] | None = None) -> None:
        for err in self.match("/augeas//error"):
            file_path = err.removeprefix("/augeas/files").rsplit("/error", 1)[0]
            if only is not None and file_path not in only:
                continue
            line = self.get(f"{err}/line")
            detail = self.get(f"{err}/message") or self.get(err) or "parse error"
            lens = (self.get(f"/augeas/files{file_path}/lens") or "").lstrip("@")
            lens = lens.removesuffix(".lns")
            message = (
                f"the {lens or 'Augeas'} lens cannot read this ({detail}); migrator will not "
                "rewrite a file its lens cannot represent"
            )
            raise ConfigParseError(
                message,
                host=self.host,
                path=file_path if file_path.startswith("/") else None,
                line=int(line) if line and line.isdigit() else None,
            )
