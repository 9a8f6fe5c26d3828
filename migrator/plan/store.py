"""The store of saved plans: the one owner of the ``plans/<host>/<plan-id>.json`` layout.

Plans hold whole config files, secrets included: they are written mode 0600 (never through
a symlink) in directories of mode 0700; a host name becomes one directory name that cannot
climb out of the store (``safe_name``). With a key, a saved plan is signed. Reading a plan
checks its signature (``signature.verify``: against the key, or required) and then the plan
itself (``Plan.from_dict``): a hand-edited or forged plan, or another host's, is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from migrator.errors import PlanError
from migrator.plan.document import Plan
from migrator.plan.signature import PlanKey, PlanTrust, sign, verify

NO_TRUST = PlanTrust()


def safe_name(host: str) -> str:
    """The directory name of host's plans: no '/', no '..', never empty."""
    return host.replace("/", "_").replace("..", "_") or "_"


def host_dir(plans_dir: Path, host: str) -> Path:
    """Where host's plans are saved under plans_dir."""
    return plans_dir / safe_name(host)


def save_plan(plan: Plan, plans_dir: Path, key: PlanKey | None = None) -> Path:
    """Write plan to ``plans_dir/<host>/<plan-id>.json`` (0600, in 0700 directories), signed
    when a key is given; return the path. Raises PlanError when it cannot be written."""
    directory = host_dir(plans_dir, plan.host)
    data = plan.to_dict()
    if key is not None:
        data["signature"] = sign(data, key)
    path = directory / f"{plan.plan_id}.json"
    try:
        plans_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        directory.mkdir(exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with os.fdopen(os.open(path, flags, 0o600), "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    except OSError as exc:
        raise PlanError(f"cannot save plan: {exc.strerror}", path=str(path)) from exc
    return path


def load_plan(path: Path, host: str | None = None, trust: PlanTrust = NO_TRUST) -> Plan:
    """Read a saved plan; check its signature, schema, checksum, hashes and (when given) host.

    Raises PlanError when the file is unreadable, unsigned while a signature is required,
    signed with another key, forged, edited by hand, or for another host.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read plan: {exc}", host=host, path=str(path)) from exc
    if isinstance(data, dict):
        verify(data, trust, host, str(path))
    return Plan.from_dict(data, host=host, source=str(path))


def saved_plan_ids(plans_dir: Path, host: str) -> list[str]:
    """Plan ids saved for host under plans_dir, oldest first (ids sort by time)."""
    directory = host_dir(plans_dir, host)
    return sorted(p.stem for p in directory.glob("*.json")) if directory.is_dir() else []


def latest_plan(plans_dir: Path, host: str, trust: PlanTrust = NO_TRUST) -> Plan:
    """The newest plan saved for host under plans_dir, checked as ``load_plan`` does.

    Raises PlanError when there is none, or it is unreadable, untrusted or for another host.
    """
    ids = saved_plan_ids(plans_dir, host)
    if not ids:
        directory = host_dir(plans_dir, host)
        raise PlanError(f"no saved plan under {directory}: run plan -i first", host=host)
    return load_plan(host_dir(plans_dir, host) / f"{ids[-1]}.json", host=host, trust=trust)
