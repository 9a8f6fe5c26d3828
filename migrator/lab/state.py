"""What a lab is, as recorded on disk: its name, network, hosts, and how to reach them."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from migrator.errors import LabError

LAB_DIR_ENV = "MIGRATOR_LAB_DIR"
DEFAULT_LAB_DIR = "/run/migrator-lab"
STATE_FILE = "lab.json"
_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")


@dataclass(frozen=True, slots=True)
class Versions:
    """Upstream versions of a host's daemons, read from its root's package database."""

    dovecot: str = ""
    postfix: str = ""
    openssh: str = ""


@dataclass(frozen=True, slots=True)
class LabHost:
    """One sandbox host: its name, address, profile, kernel objects, and the Debian release
    root (its file system's path) it runs from."""

    name: str
    index: int
    address: str
    profile: str
    netns: str
    veth: str
    release: str = ""
    versions: Versions = Versions()
    root: str = ""


@dataclass(frozen=True, slots=True)
class Lab:
    """A set of sandbox hosts sharing one bridge and one private /24."""

    name: str
    subnet: str
    bridge: str
    owner_pid: int
    status: str
    hosts: tuple[LabHost, ...] = field(default=())

    @property
    def directory(self) -> Path:
        return labs_root() / self.name

    @property
    def gateway(self) -> str:
        return f"{self.subnet}.1"

    @property
    def ssh_config(self) -> Path:
        return self.directory / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def client_key(self) -> Path:
        return self.directory / "id_ed25519"

    def host(self, name: str) -> LabHost:
        """The host called name. Raises LabError when the lab has none."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabError(f"no host {name!r} in lab {self.name!r}", host=name)


def labs_root() -> Path:
    """Where labs keep their state: $MIGRATOR_LAB_DIR, else /run/migrator-lab."""
    return Path(os.environ.get(LAB_DIR_ENV, DEFAULT_LAB_DIR))


def check_name(name: str) -> str:
    """Return name if it can name a lab (it ends up in interface names). Raises LabError."""
    if not _NAME.match(name):
        raise LabError(f"bad lab name {name!r}: 1 to 8 of a-z and 0-9, starting with a letter")
    return name


def host_name(lab: str, index: int) -> str:
    """The name of the index-th host (1-based) of a lab."""
    return f"{lab}-{index:02d}"


def save_lab(lab: Lab) -> None:
    """Write the lab's state file (atomically)."""
    lab.directory.mkdir(parents=True, exist_ok=True)
    tmp = lab.directory / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(lab), indent=2) + "\n")
    tmp.replace(lab.directory / STATE_FILE)


def load_lab(name: str) -> Lab | None:
    """The lab's recorded state, or None when there is no lab of that name."""
    path = labs_root() / name / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabError(f"unreadable lab state: {exc}", path=str(path)) from exc
    try:
        hosts = tuple(_host(h) for h in data.pop("hosts", ()))
        return Lab(hosts=hosts, **data)
    except TypeError as exc:
        raise LabError(f"unreadable lab state: {exc}", path=str(path)) from exc


def _host(data: dict[str, Any]) -> LabHost:
    # Keys a newer migrator added are left out: one lab's state never hides every other lab.
    known = {name for name in LabHost.__dataclass_fields__ if name != "versions"}
    versions = Versions(**data.pop("versions", None) or {})
    return LabHost(versions=versions, **{k: v for k, v in data.items() if k in known})


def list_labs() -> list[Lab]:
    """Every lab with a state file on this machine."""
    root = labs_root()
    if not root.is_dir():
        return []
    labs = (load_lab(p.name) for p in sorted(root.iterdir()) if (p / STATE_FILE).is_file())
    return [lab for lab in labs if lab is not None]


def find_host(name: str, lab_name: str | None = None) -> tuple[Lab, LabHost]:
    """The lab host called name, in lab_name or in any lab. Raises LabError when none."""
    labs = [load_lab(lab_name)] if lab_name else list_labs()
    for lab in labs:
        if lab is None:
            continue
        for host in lab.hosts:
            if host.name == name:
                return lab, host
    raise LabError(f"no lab host called {name!r} (see `migrator lab ls`)", host=name)
