"""The plan-signing options: ``--plan-key FILE`` (plan signs, apply verifies) and
``--require-signature`` (apply refuses an unsigned plan), each also from the environment."""

from __future__ import annotations

from pathlib import Path

import click

from migrator.errors import UsageError
from migrator.plan.signature import PlanKey, PlanTrust, read_key

KEY_ENV = "MIGRATOR_PLAN_KEY_FILE"
REQUIRE_ENV = "MIGRATOR_REQUIRE_SIGNATURE"

plan_key_option = click.option(
    "--plan-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=KEY_ENV,
    help=f"A file of >= 32 random bytes, mode 0600 (or ${KEY_ENV}): sign the plans made, "
    "verify the plans read.",
)
require_signature_option = click.option(
    "--require-signature",
    is_flag=True,
    envvar=REQUIRE_ENV,
    help=f"Refuse a plan not signed with --plan-key (or ${REQUIRE_ENV}=1).",
)


def signing_key(plan_key: Path | None) -> PlanKey | None:
    """The key to sign with, if one is given. Raises UsageError for a bad key file."""
    return None if plan_key is None else read_key(plan_key)


def plan_trust(plan_key: Path | None, require_signature: bool) -> PlanTrust:
    """What reading a plan checks. Raises UsageError for a bad key file, or a signature
    required with no key to check it."""
    if require_signature and plan_key is None:
        raise UsageError(f"--require-signature needs --plan-key FILE (or ${KEY_ENV})")
    return PlanTrust(signing_key(plan_key), require_signature)
