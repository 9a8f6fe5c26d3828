"""The Debian mirror lab roots are built from: the one this machine's apt already uses.

Read from apt's sources (deb822 `.sources` files and one-line `sources.list`), so a machine
behind a local mirror or proxy builds from it too; `$MIGRATOR_LAB_MIRROR` overrides.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from migrator.errors import LabError

MIRROR_ENV = "MIGRATOR_LAB_MIRROR"
APT_DIR = Path("/etc/apt")
_TIMEOUT = 15.0


def debian_mirror(apt_dir: Path = APT_DIR) -> str:
    """The first `deb` URI in apt's sources that is not a security or updates archive.

    Raises LabError when apt's sources name no such mirror (and the env does not set one).
    """
    configured = os.environ.get(MIRROR_ENV)
    if configured:
        return configured.rstrip("/")
    for uri, suite in _deb_sources(apt_dir):
        if "security" not in uri and "security" not in suite and "-" not in suite:
            return uri.rstrip("/")
    raise LabError(
        f"no Debian mirror in apt's sources (set ${MIRROR_ENV})", path=str(apt_dir / "sources.list")
    )


def check_served(mirror: str, release: str) -> None:
    """Raise LabError in one line unless the mirror serves dists/RELEASE (http and https only)."""
    if not mirror.startswith(("http://", "https://")):
        return
    url = f"{mirror}/dists/{release}/InRelease"
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT):
            return
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise LabError(
                f"release {release!r} is not on the mirror {mirror} (no dists/{release}): "
                "it is archived or not a Debian release"
            ) from exc
        raise LabError(f"mirror {mirror}: {url} answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LabError(f"mirror {mirror} unreachable: {reason}") from exc


def _deb_sources(apt_dir: Path) -> Iterable[tuple[str, str]]:
    """(URI, suite) pairs of every `deb` entry, sources.list first, then sources.list.d."""
    one_line = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in one_line:
        yield from _one_line_entries(_read(path))
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        yield from _deb822_entries(_read(path))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _one_line_entries(text: str) -> Iterable[tuple[str, str]]:
    for line in text.splitlines():
        words = [w for w in line.split("#", 1)[0].split() if not w.startswith("[")]
        if len(words) >= 3 and words[0] == "deb":
            yield words[1], words[2]


def _deb822_entries(text: str) -> Iterable[tuple[str, str]]:
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield uri, suite
