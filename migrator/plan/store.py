"""The store of saved plans: the one owner of the ``plans/<host>/<plan-id>.json`` layout.

Plans are written mode 0600 in directories of mode 0700; a host name becomes one directory
name that cannot climb out of the store (``safe_name``). Reading a plan checks it
(``Plan.from_dict``): a hand-edited plan, or another host's, is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from migrator.errors import PlanError
from migrator.plan.document import Plan


def safe_name(host: str) -> str:
    """The directory name of host's plans: no '/', no '..', never empty."""
    return host.replace("/", "_").replace("..", "_") or "_"


def host_dir(plans_dir: Path, host: str) -> Path:
    """Where host's plans are saved under plans_dir."""
    return plans_dir / safe_name(host)


def save_plan(plan: Plan, plans_dir: Path) -> Path:
    """Write plan to ``plans_dir/<host>/<plan-id>.json`` with mode 0600; return the path."""
    directory = host_dir(plans_dir, plan.host)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{plan.plan_id}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(plan.to_json())
    os.chmod(path, 0o600)
    return path


def load_plan(path: Path, host: str | None = None) -> Plan:
    """Read a saved plan; check its checksum, hashes and (when given) its host.

    Raises PlanError when the file is unreadable, edited by hand, or for another host.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read plan: {exc}", host=host, path=str(path)) from exc
    return Plan.from_dict(data, host=host, source=str(path))


def saved_plan_ids(plans_dir: Path, host: str) -> list[str]:
    """Plan ids saved for host under plans_dir, oldest first (ids sort by time)."""
    directory = host_dir(plans_dir, host)
    return sorted(p.stem for p in directory.glob("*.json")) if directory.is_dir() else []


def latest_plan(plans_dir: Path, host: str) -> Plan:
    """The newest plan saved for host under plans_dir.

    Raises PlanError when there is none, or it is unreadable or for another host.
    """
    ids = saved_plan_ids(plans_dir, host)
    if not ids:
        directory = host_dir(plans_dir, host)
        raise PlanError(f"no saved plan under {directory}: run plan -i first", host=host)
    return load_plan(host_dir(plans_dir, host) / f"{ids[-1]}.json", host=host)
