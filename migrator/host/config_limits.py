"""What a config file must be for planning to parse it: not too large, no NUL byte."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from migrator.errors import FactError
from migrator.transport.base import FileData

# The largest config file planning parses. Stock Dovecot's biggest file is ~20 KiB and a
# large main.cf ~100 KiB; Augeas takes ~0.5 ms a line, so a 17 MB file (a log pasted into
# conf.d, or a file made to stall a fleet) would hold a plan for minutes.
MAX_CONFIG_BYTES = 1 << 20


def parsable_size(data: FileData) -> bool:
    """True when DATA is small enough to be parsed as a config file."""
    return len(data.content or b"") <= MAX_CONFIG_BYTES


def check_size(host: str, files: Mapping[str, FileData], paths: Sequence[str]) -> None:
    """Raise FactError for the first of PATHS too large to be parsed as a config file, or
    holding a NUL byte."""
    for path in paths:
        if path in files and not parsable_size(files[path]):
            raise FactError(
                f"{len(files[path].content or b'')} bytes: more than the {MAX_CONFIG_BYTES} "
                "bytes migrator parses in a config file (Augeas would take minutes); nothing "
                "was planned",
                host=host,
                path=path,
            )
    check_nul(host, files, paths)


def check_nul(host: str, files: Mapping[str, FileData], paths: Sequence[str]) -> None:
    """Raise FactError for the first of PATHS holding a NUL byte: Augeas (as Postfix and
    Dovecot) reads a line only up to it, so an edit would drop the rest of that line."""
    for path in paths:
        content = files[path].content if path in files else None
        if content is not None and b"\x00" in content:
            line = content.count(b"\n", 0, content.index(b"\x00")) + 1
            detail = "holds a NUL byte: Augeas reads its line only up to it, and an edit "
            detail += "would drop the rest; remove it first"
            raise FactError(detail, host=host, path=path, line=line)
