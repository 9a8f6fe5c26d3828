"""The store of saved plans: the one owner of the ``plans/<host>/<plan-id>.json`` layout.

Plans hold whole config files, secrets included: they are written mode 0600 (never through
a symlink) in directories of mode 0700; a host name becomes one directory name that cannot
climb out of the store (``safe_name``). With a key, a saved plan is signed. Reading a plan
checks its signature (``signature.verify``: against the key, or required) and then the plan
itself (``Plan.from_dict``): a hand-edited or forged plan, or another host's, is refused.
A plan to apply must be as private as the store writes it: a plan file, or a directory of
plans, that another user owns or may write is refused (they could plant a plan), and so is
a host directory that is a symlink (``save_plan`` would chmod and write through it).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from migrator.errors import PlanError
from migrator.plan.document import Plan
from migrator.plan.signature import PlanKey, PlanTrust, sign, verify

NO_TRUST = PlanTrust()
# No plan is this large (a plan holds a host's changed config files); /dev/zero would be.
MAX_PLAN_BYTES = 256 * 1024 * 1024


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
        _check_private(os.stat(plans_dir), plans_dir, plan.host)
        directory.mkdir(exist_ok=True, mode=0o700)
        _check_private(os.lstat(directory), directory, plan.host)
        os.chmod(directory, 0o700)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with os.fdopen(os.open(path, flags, 0o600), "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    except OSError as exc:
        raise PlanError(f"cannot save plan: {exc.strerror}", path=str(path)) from exc
    return path


def load_plan(
    path: Path, host: str | None = None, trust: PlanTrust = NO_TRUST, *, private: bool = True
) -> Plan:
    """Read a saved plan; check its signature, schema, checksum, hashes and (when given) host.

    Raises PlanError when the file is unreadable (not a regular file, larger than
    MAX_PLAN_BYTES), when ``private`` (a plan to apply) and it or its directory is another
    user's or writable by others, unsigned while a signature is required, signed with
    another key, forged, edited by hand, or for another host.
    """
    try:
        data = json.loads(_read_plan(path, host, private), object_pairs_hook=_unique_keys)
    except (OSError, ValueError, RecursionError) as exc:
        # RecursionError: JSON nested deeper than the decoder goes.
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise PlanError(f"cannot read plan: {reason}", host=host, path=str(path)) from exc
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


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different. Raises ValueError on a key given twice:
    json takes the last, while whoever reviews the file (or jq, or a diff in the ops
    repository) may read the first, so the plan applied would not be the plan reviewed."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"key {key!r} appears twice in one object")
        data[key] = value
    return data


def _read_plan(path: Path, host: str | None, private: bool) -> str:
    """The text of the plan file PATH, never blocking on a FIFO. Raises PlanError, OSError,
    ValueError (not UTF-8)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    with os.fdopen(fd, "rb") as handle:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise PlanError("cannot read plan: not a regular file", host=host, path=str(path))
        if private:
            _check_private(found, path, host)
            _check_private(os.stat(path.parent), path.parent, host)
        data = handle.read(MAX_PLAN_BYTES + 1)
    if len(data) > MAX_PLAN_BYTES:
        raise PlanError(f"plan is larger than {MAX_PLAN_BYTES} bytes", host=host, path=str(path))
    return data.decode("utf-8")


def _check_private(found: os.stat_result, path: Path, host: str | None) -> None:
    """Raises PlanError when PATH (its stat FOUND) is a symlink, or another user's than
    root or this one, or writable by group or others (a directory: by others, unless
    sticky): whoever can write a plan can change the host it names."""
    mode = found.st_mode
    if stat.S_ISLNK(mode):
        raise PlanError(
            "is a symlink: plans are never written through one", host=host, path=str(path)
        )
    sticky = stat.S_ISDIR(mode) and mode & stat.S_ISVTX
    if found.st_uid not in (0, os.geteuid()):
        problem = f"is owned by uid {found.st_uid}, not by you or root"
    elif mode & 0o020 or (mode & 0o002 and not sticky):
        problem = (
            f"is writable by {'group' if mode & 0o020 else 'others'} (mode {mode & 0o7777:04o})"
        )
    else:
        return
    raise PlanError(
        f"{problem}: whoever can write plans can change the mail hosts they name; "
        "chmod go-w (and chown) it",
        host=host,
        path=str(path),
    )
