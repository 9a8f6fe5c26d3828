"""The plan a migrator.mail.lmtp task applies: a reviewed one given, or a fresh one.

Shared by ``state=migrated`` and ``state=finalized``: a given plan is verified (signature,
schema, host) and must be of the state's kind; a fresh plan is saved under ``plans_dir``,
signed with ``plan_key`` when given, as migrator's ``plan`` and ``finalize`` save theirs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migrator.errors import UsageError
from migrator.plan.build import build_plan
from migrator.plan.document import Plan
from migrator.plan.signature import PlanKey, PlanTrust, read_key
from migrator.plan.store import load_plan, save_plan
from migrator.rules.switch import Options
from migrator.transport.base import Transport


def plan_key(args: dict[str, Any], host: str) -> PlanKey | None:
    """The key of ``plan_key``, if given. Raises UsageError (a bad key file, or
    ``require_signature`` without a key to check with)."""
    if args["require_signature"] and not args["plan_key"]:
        raise UsageError("require_signature needs plan_key", host=host)
    return read_key(Path(args["plan_key"])) if args["plan_key"] else None


def given_plan(args: dict[str, Any], key: PlanKey | None, host: str, *, finalize: bool) -> Plan:
    """The reviewed plan ``plan`` names, verified, and of the state's kind.

    Raises PlanError (unreadable, untrusted, another host's), UsageError (a migration plan
    given to ``state=finalized``, or a finalize plan to ``state=migrated``).
    """
    trust = PlanTrust(key, args["require_signature"])
    plan = load_plan(Path(args["plan"]), host=host, trust=trust)
    if plan.has_changes and bool(plan.finalizes) != finalize:
        kind, state = ("finalize", "finalized") if plan.finalizes else ("migration", "migrated")
        raise UsageError(f"{args['plan']} is a {kind} plan: apply it with state={state}", host=host)
    return plan


def fresh_plan(
    transport: Transport,
    args: dict[str, Any],
    key: PlanKey | None,
    options: Options,
    *,
    finalize: bool,
) -> Plan:
    """Plan the host now; save the plan (signed with KEY) under plans_dir if it has
    changes. Raises FactError, TransportError, ConfigParseError, RefusedError, PlanError."""
    plan = build_plan(transport, options, finalize=finalize)
    if args["plans_dir"] and plan.has_changes:
        save_plan(plan, Path(args["plans_dir"]), key)
    return plan


def applied(transport: Transport, plan: Plan) -> bool:
    """True when every file of the plan already has its planned content (one read)."""
    current = transport.read_files([f.path for f in plan.files])
    return all(current[f.path].sha256 == f.sha256_after for f in plan.files)
