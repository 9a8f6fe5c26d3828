"""Fixture hosts (fixtures/hosts/<shape>/) for tests: load, plan, write out, validate."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import augeas
import yaml

from migrator.config.reader import ParseCache
from migrator.host.fact_overrides import overrides_from_mapping
from migrator.lenses import DOVECOT_LENS, LENS_DIR
from migrator.plan.build import build_plan
from migrator.plan.document import Plan
from migrator.rules.switch import Options
from migrator.transport.local import LocalTransport

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
FIXED_NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FixtureHost:
    name: str
    root: Path
    spec: dict[str, Any]

    def options(self) -> Options:
        return Options(**self.spec.get("options", {}))

    def plan(self, root: Path | None = None, cache: ParseCache | None = None) -> Plan:
        overrides = overrides_from_mapping(self.spec.get("facts", {}))
        transport = LocalTransport(root or self.root, self.name)
        return build_plan(
            transport, self.options(), overrides=overrides, now=FIXED_NOW, cache=cache
        )

    def copy_to(self, target: Path) -> Path:
        """A copy of the fixture's root at target, to change before planning it; target."""
        shutil.copytree(self.root, target)
        return target


def replace_in(path: Path, old: str, new: str) -> None:
    """The file with old (which must be there: an edit that misses is a test that lies)
    replaced by new."""
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new))


def append_to(path: Path, text: str) -> None:
    """The file with text added at its end."""
    path.write_text(path.read_text() + text)


def variant(host: FixtureHost, root: Path, edits: dict[str, tuple[str, str]]) -> Plan:
    """Plan a copy of HOST at ROOT, each file (path relative to the root) edited first: its
    text OLD replaced by NEW, or NEW appended when OLD is "" (a file missing is created)."""
    shutil.copytree(host.root, root)
    for path, (old, new) in edits.items():
        target = root / path
        text = target.read_text() if target.exists() else ""
        assert not old or old in text, (path, old)
        target.write_text(text.replace(old, new) if old else text + new)
    return host.plan(root)


def fixture_hosts() -> list[FixtureHost]:
    return [
        FixtureHost(d.name, d, yaml.safe_load((d / "expected.yaml").read_text()))
        for d in sorted(HOSTS.iterdir())
        if (d / "expected.yaml").is_file()
    ]


def write_out(host: FixtureHost, plan: Plan, target: Path) -> Path:
    """A copy of the fixture with the plan's files written: the host as apply would leave it."""
    shutil.copytree(host.root, target)
    for change in plan.files:
        (target / change.path.lstrip("/")).write_text(change.content_after)
    # Postfix waits (0.3 s a try) before reading a main.cf modified within the last seconds.
    old = time.time() - 60
    for path in target.rglob("*"):
        os.utime(path, (old, old))
    return target


def confine_includes(root: Path, conf: str = "etc/dovecot/dovecot.conf", seen_as: str = "") -> None:
    """Point the tree's absolute Dovecot includes into the tree itself, through the lens.

    A fixture's dovecot.conf says ``!include_try /usr/share/dovecot/protocols.d/*.protocol``;
    checked as it is, ``doveconf -c`` would read the packages of wherever it runs there.
    ``seen_as`` is where the checking doveconf sees the tree (``/mnt`` inside a release root).
    """
    flags = augeas.Augeas.NO_MODL_AUTOLOAD | augeas.Augeas.NO_LOAD
    directory = "/" + str(Path(conf).parent)
    aug = augeas.Augeas(root=str(root), loadpath=str(LENS_DIR), flags=flags)
    try:
        for pattern in ("*.conf", "*.conf.ext", "conf.d/*.conf", "conf.d/*.conf.ext"):
            aug.transform(DOVECOT_LENS, f"{directory}/{pattern}")
        aug.load()
        for node in aug.match(f"/files{directory}//*[label() =~ regexp('include(_try)?')]"):
            target = aug.get(node) or ""
            if target.startswith("/") and not target.startswith(seen_as or str(root)):
                aug.set(node, f"{seen_as or root}{target}")
        aug.save()
    finally:
        aug.close()


RELEASE_ROOTS = Path(os.environ.get("MIGRATOR_LAB_ROOTS", "/var/cache/migrator-lab/roots"))
MOUNT = "/mnt"
"""Where a tree under check appears inside a release root."""


@dataclass(frozen=True)
class ReleaseTools:
    """Postfix's and Dovecot's own tools of one Debian release (the lab's release root),
    run on a tree bind-mounted at /mnt: the check never depends on this machine's packages."""

    release: str
    tree: Path

    @property
    def root(self) -> Path:
        """The release root's file system (its /etc holds the release's stock configs)."""
        fs = RELEASE_ROOTS / self.release / "fs"
        assert (fs / "usr/sbin/postconf").is_file(), (
            f"no {self.release} root under {RELEASE_ROOTS}: scripts/setup builds it "
            f"(migrator lab roots --build {self.release})"
        )
        return fs

    def command(self, argv: list[str]) -> list[str]:
        """argv to run inside the release root, with the tree at /mnt."""
        script = 'mount --bind "$1" "$2/mnt" && root=$2 && shift 2 && exec chroot "$root" "$@"'
        wrapped = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
        return [*wrapped, str(self.tree), str(self.root), *argv]

    def run(self, argv: list[str]) -> str:
        """Run argv in the release root; its stdout. Asserts it exits 0."""
        return run(self.command(argv))

    def attempt(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Run argv in the release root, whatever its exit status."""
        return subprocess.run(self.command(argv), capture_output=True, text=True, check=False)

    def attempt_many(
        self, commands: Mapping[str, list[str]]
    ) -> dict[str, subprocess.CompletedProcess[str]]:
        """Run each argv in the release root, whatever its exit status, all in one chroot and
        at once: one namespace and bind mount for the lot (each costs more than a postconf
        run). The outputs go to files in a directory of the tree, removed after."""
        out = self.tree / ".batch"
        out.mkdir()
        lines = [
            f"{shlex.join(argv)} >{MOUNT}/.batch/{n}.out 2>{MOUNT}/.batch/{n}.err </dev/null;"
            f" echo $? >{MOUNT}/.batch/{n}.rc"
            for n, argv in enumerate(commands.values())
        ]
        # in parallel: a run that fails sleeps a second before it exits (Postfix's msg_fatal)
        (out / "script").write_text("".join(f"({line}) &\n" for line in lines) + "wait\n")
        run(self.command(["sh", f"{MOUNT}/.batch/script"]))
        done = {}
        for n, (key, argv) in enumerate(commands.items()):
            rc = int((out / f"{n}.rc").read_text())
            stdout, stderr = (
                (out / f"{n}.{s}").read_text(errors="replace") for s in ("out", "err")
            )
            done[key] = subprocess.CompletedProcess(argv, rc, stdout, stderr)
        shutil.rmtree(out)
        return done


def run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} failed: {done.stderr}"
    return done.stdout
