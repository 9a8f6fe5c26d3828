"""Building one release root with mmdebstrap, into a temporary directory renamed into place.

mmdebstrap runs in a mount namespace of its own (its proc, sys and dev mounts die with it)
and is killed when the building process dies, so a killed build leaves only a `.NAME.build-*`
directory, which no host uses and the next build of that release removes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from migrator.errors import LabError
from migrator.lab import mirror

_TAIL = 3


def build(
    base: Path, release: str, packages: Sequence[str], progress: Callable[[str], None]
) -> Path:
    """Build the release's root under base/RELEASE (replacing an old one); returns its path.

    Raises LabError in one line when mmdebstrap is missing, the mirror does not serve the
    release, or the build fails. The caller holds the release's lock.
    """
    if shutil.which("mmdebstrap") is None:
        raise LabError("mmdebstrap is missing: install the Debian package mmdebstrap")
    source = mirror.debian_mirror()
    mirror.check_served(source, release)
    work = base / f".{release}.build-{os.getpid()}"
    work.mkdir(parents=True)
    progress(f"root {release}: building from {source} (once per machine)")
    start = time.monotonic()
    _mmdebstrap(release, source, packages, work / "fs", progress)
    seconds = time.monotonic() - start
    manifest = {
        "release": release,
        "mirror": source,
        "packages": list(packages),
        "installed": installed_versions(work / "fs"),
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 1),
    }
    (work / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    target = base / release
    old = base / f".{release}.old-{os.getpid()}"
    if target.exists():
        target.rename(old)
    work.rename(target)
    if old.exists():
        remove_tree(old)
    progress(f"root {release}: ready in {seconds:.0f} s ({target})")
    return target


def _mmdebstrap(
    release: str, source: str, packages: Sequence[str], fs: Path, progress: Callable[[str], None]
) -> None:
    argv = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "setpriv",
        "--pdeathsig",
        "KILL",
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        f"--include={','.join(packages)}",
        release,
        str(fs),
        source,
    ]
    start = time.monotonic()
    lines: list[str] = []
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    ) as child:
        assert child.stdout is not None
        for raw in child.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line:
                lines.append(line)
                progress(f"root {release}: [{time.monotonic() - start:3.0f} s] {line}")
    if child.returncode != 0:
        errors = [line for line in lines if line.startswith("E:")] or lines
        tail = " | ".join(errors[-_TAIL:])
        raise LabError(
            f"building the {release} root failed (mmdebstrap exit {child.returncode}): {tail}"
        )


def installed_versions(fs: Path) -> list[tuple[str, str]]:
    """(package, version) of every package installed in a root, read from its dpkg database."""
    done = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={fs / 'var/lib/dpkg'}",
            "-W",
            "-f",
            "${Package}\t${Version}\t${db:Status-Abbrev}\n",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise LabError(f"dpkg-query on the new root failed: {done.stderr.strip()}", path=str(fs))
    rows = (line.split("\t") for line in done.stdout.splitlines())
    return sorted((row[0], row[1]) for row in rows if len(row) == 3 and row[2].startswith("ii"))


def clear_leftovers(base: Path, release: str) -> None:
    """Remove what killed builds of the release left (the caller holds its lock)."""
    if not base.is_dir():
        return
    for path in base.iterdir():
        if path.name.startswith((f".{release}.build-", f".{release}.old-")):
            remove_tree(path)


def remove_tree(path: Path) -> None:
    """Delete a root's directory, first detaching anything still mounted inside it."""
    inside = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as info:
        mounts = [line.split()[4] for line in info]
    for mount in sorted((m for m in mounts if m.startswith(inside)), reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
    shutil.rmtree(path)
