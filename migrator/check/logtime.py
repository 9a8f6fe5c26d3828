"""When a log line was written (pure): syslog's ``Dec  2 01:46:11`` in the host's zone, or
the ISO 8601 stamps of ``journalctl -o short-iso`` and RFC 5424 syslog."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

_ISO = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:[.,]\d+)?(Z|[+-]\d\d:?\d\d)?")
_SYSLOG = re.compile(r"^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d:\d\d:\d\d)")
_DAY = 86400.0


def log_time(line: str, year: int, utc_offset: int) -> float | None:
    """The line's time as a Unix timestamp, or None when it starts with no known stamp.

    A stamp without a zone is in the host's (``utc_offset`` seconds east of UTC); syslog's
    has no year either, so ``year`` is the host's.
    """
    zone = timezone(timedelta(seconds=utc_offset))
    iso = _ISO.match(line)
    if iso:
        offset = iso[2] or ""
        if offset and offset != "Z":
            offset = f"{offset[:3]}:{offset[-2:]}"
        stamp = datetime.fromisoformat(iso[1].replace(" ", "T") + offset.replace("Z", "+00:00"))
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=zone)).timestamp()
    old = _SYSLOG.match(line)
    if old is None:
        return None
    try:
        stamp = datetime.strptime(f"{year} {old[1]} {old[2]} {old[3]}", "%Y %b %d %H:%M:%S")
    except ValueError:
        return None
    return stamp.replace(tzinfo=zone).timestamp()


def recent(
    lines: Sequence[str], now: float | None, year: int, utc_offset: int, window: float
) -> list[str]:
    """The lines written in the last ``window`` seconds before ``now`` (the host's clock).

    A line without a stamp is kept (better a warning too many than an error unseen); with
    no ``now`` every line is.
    """
    if now is None:
        return list(lines)
    kept = []
    for line in lines:
        written = log_time(line, year, utc_offset)
        if written is not None and written > now + _DAY:  # December's lines read in January
            written = log_time(line, year - 1, utc_offset)
        if written is None or written >= now - window:
            kept.append(line)
    return kept
