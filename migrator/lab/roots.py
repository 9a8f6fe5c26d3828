"""Release roots: one Debian root file system per release, cached, that lab hosts run from.

A root lives in `$MIGRATOR_LAB_ROOTS/NAME/` (default /var/cache/migrator-lab/roots): `fs/` is
the file system, `manifest.json` records the mirror, the package list it was built for and
every installed package's version. A root is used only once its manifest exists, and a
build goes to a temporary directory renamed into place, so a killed build is never used.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from migrator.errors import LabError
from migrator.lab import mirror, rootbuild
from migrator.lab.state import Versions, list_labs

ROOTS_ENV = "MIGRATOR_LAB_ROOTS"
DEFAULT_ROOTS_DIR = "/var/cache/migrator-lab/roots"
DEFAULT_RELEASE = "bookworm"
MANIFEST = "manifest.json"
# What a lab host runs (the daemons and their tools) and what migrator runs on a host:
# perl (the LMTP probe; Essential, listed to say so) and python3 with its standard library
# (the probe's twin, and what Ansible's modules need, as on a Debian server).
PACKAGES = (
    "postfix",
    "dovecot-core",
    "dovecot-imapd",
    "dovecot-lmtpd",
    "dovecot-sieve",
    "openssh-server",
    "sudo",
    "perl-base",
    "python3",
)
_RELEASE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
_SHOWN = {"dovecot": "dovecot-core", "postfix": "postfix", "openssh": "openssh-server"}

Progress = rootbuild.Progress


@dataclass(frozen=True, slots=True)
class Root:
    """A built release root: where it is, what it was built from and what it holds."""

    release: str
    directory: Path
    mirror: str
    packages: tuple[str, ...]
    installed: tuple[tuple[str, str], ...]
    built: str
    build_seconds: float

    @property
    def fs(self) -> Path:
        """The root file system, the lower layer of every host's overlay."""
        return self.directory / "fs"

    def version(self, package: str) -> str:
        """The Debian version of an installed package ("" when not installed)."""
        return dict(self.installed).get(package, "")

    @property
    def versions(self) -> Versions:
        """Upstream versions of Dovecot, Postfix and OpenSSH."""
        shown = {key: upstream_version(self.version(pkg)) for key, pkg in _SHOWN.items()}
        return Versions(**shown)

    @property
    def dovecot_series(self) -> str:
        """Dovecot's major.minor ("2.3", "2.4"): which profile syntax the root's hosts need."""
        return ".".join(self.versions.dovecot.split(".")[:2])

    @property
    def current(self) -> bool:
        """True while the root was built for today's package list."""
        return self.packages == PACKAGES


def upstream_version(debian: str) -> str:
    """The upstream part of a Debian version: 1:2.3.19.1+dfsg1-2.1 gives 2.3.19.1."""
    version = debian.split(":", 1)[-1]
    if "-" in version:
        version = version.rsplit("-", 1)[0]
    return re.split(r"[+~]", version, maxsplit=1)[0]


def roots_dir() -> Path:
    """Where roots are cached: $MIGRATOR_LAB_ROOTS, else /var/cache/migrator-lab/roots."""
    return Path(os.environ.get(ROOTS_ENV, DEFAULT_ROOTS_DIR))


def check_release(name: str) -> str:
    """Return name if it can name a Debian release (a path and a suite). Raises LabError."""
    if not _RELEASE.match(name):
        raise LabError(f"bad release name {name!r}: a Debian codename such as {DEFAULT_RELEASE}")
    return name


def load_root(release: str) -> Root | None:
    """The cached root of a release, or None when none was built (or its build never ended)."""
    directory = roots_dir() / check_release(release)
    try:
        data = json.loads((directory / MANIFEST).read_text())
        return Root(
            release=str(data["release"]),
            directory=directory,
            mirror=str(data["mirror"]),
            packages=tuple(data["packages"]),
            installed=tuple((str(p), str(v)) for p, v in data["installed"]),
            built=str(data["built"]),
            build_seconds=float(data["build_seconds"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabError(f"unreadable root manifest: {exc}", path=str(directory / MANIFEST)) from exc


def list_roots() -> list[Root]:
    """Every cached root, by release name."""
    base = roots_dir()
    if not base.is_dir():
        return []
    found = (load_root(p.name) for p in sorted(base.iterdir()) if _RELEASE.match(p.name))
    return [root for root in found if root is not None]


def ensure_root(release: str, progress: Progress = lambda line: None) -> Root:
    """The release's root, built (or rebuilt, when its package list changed) if needed.

    Raises LabError in one line when the mirror does not serve the release or the build fails;
    never replaces a root that a lab host runs on.
    """
    check_release(release)
    cached = load_root(release)
    if cached is not None and cached.current:
        return cached
    # Asked before any file is made: a release the mirror lacks leaves nothing behind.
    source = mirror.debian_mirror()
    mirror.check_served(source, release)
    with _locked(release, progress):
        root = load_root(release)
        if root is not None and root.current:
            return root
        if root is not None:
            _refuse_in_use(release, "its package list changed; it needs a rebuild")
            progress(f"root {release}: package list changed, rebuilding")
        rootbuild.clear_leftovers(roots_dir(), release)
        rootbuild.build(roots_dir(), release, source, PACKAGES, progress)
    built = load_root(release)
    if built is None:
        raise LabError(f"root {release}: built, but its manifest is missing", path=str(roots_dir()))
    return built


def ensure_roots(releases: Sequence[str], progress: Progress = lambda line: None) -> list[Root]:
    """ensure_root for several releases, built side by side (downloads overlap with unpacking).

    Raises the first release's LabError once every build has ended.
    """
    for release in releases:
        check_release(release)
    with ThreadPoolExecutor(max_workers=max(1, len(releases))) as pool:
        futures = [pool.submit(ensure_root, release, progress) for release in releases]
    return [future.result() for future in futures]


def remove_root(release: str) -> bool:
    """Delete a cached root; returns whether one existed. Raises LabError while a lab uses it."""
    directory = roots_dir() / check_release(release)
    with _locked(release, lambda line: None):
        _refuse_in_use(release, "lab hosts run on it")
        rootbuild.clear_leftovers(roots_dir(), release)
        if not directory.exists():
            return False
        rootbuild.remove_tree(directory)
    return True


def _refuse_in_use(release: str, why: str) -> None:
    fs = roots_dir() / release / "fs"
    users = sorted({lab.name for lab in list_labs() for h in lab.hosts if h.root == str(fs)})
    if users:
        labs = ", ".join(users)
        raise LabError(f"root {release}: {why}, but labs {labs} use it (migrator lab down first)")
    hosts = hosts_running_on(fs)
    if hosts:
        raise LabError(
            f"root {release}: {why}, but {hosts} lab hosts of another lab directory "
            f"($MIGRATOR_LAB_DIR) run on it (migrator lab down there first)"
        )


def hosts_running_on(fs: Path) -> int:
    """How many mount namespaces on this machine have fs as an overlay's lower layer: the lab
    hosts running on a root, whichever lab directory recorded them."""
    wanted = f"lowerdir={fs}"
    checked: set[str] = set()
    using: set[str] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            namespace = os.readlink(f"/proc/{entry.name}/ns/mnt")
            if namespace in checked:
                continue
            with open(f"/proc/{entry.name}/mountinfo") as info:
                if any(_lower_is(line, wanted) for line in info):
                    using.add(namespace)
            checked.add(namespace)
        except OSError:
            continue
    return len(using)


def _lower_is(line: str, wanted: str) -> bool:
    at = line.find(wanted)
    return at >= 0 and line[at + len(wanted) : at + len(wanted) + 1] in (",", ":", "\n", "")


@contextlib.contextmanager
def _locked(release: str, progress: Progress) -> Iterator[None]:
    """Hold the release's lock: one build (or removal) of a root at a time on this machine."""
    base = roots_dir()
    base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base / f".{release}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"root {release}: waiting for another build of it to end")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
