"""The LDA pipe service's own queue-manager limits in main.cf, carried to Postfix's LMTP client.

Postfix reads per-transport limits as ``<service>_<name>`` (``dovecot_destination_concurrency_
limit = 1``, which the Dovecot documentation recommends against lock contention in the LDA;
i-MSCP sets 2). They name the pipe service, so after the switch they limit nothing and
LMTP runs with Postfix's defaults (20 at once). Each is carried to ``<lmtp>_<name>``: with
the plan's one recipient per LMTP transaction (``equivalence._recipient_limit``), a
destination is one recipient for both, so the limit means what it meant. Limits only the
pipe(8) agent reads (``<service>_time_limit``) have no LMTP counterpart: a warning.
``<service>_destination_recipient_limit`` is equivalence's. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from migrator.config.edits import SetMainParam
from migrator.errors import RefusedError
from migrator.host.config import HostConfig
from migrator.rules.hooks import LdaService

# qmgr(8)'s per-transport parameters (postconf(5), "transport_..."), recipient limit aside.
CARRIED = (
    "destination_concurrency_limit",
    "initial_destination_concurrency",
    "destination_rate_delay",
    "destination_concurrency_failed_cohort_limit",
    "destination_concurrency_negative_feedback",
    "destination_concurrency_positive_feedback",
    "transport_rate_delay",
    "extra_recipient_limit",
    "recipient_limit",
    "recipient_refill_limit",
    "recipient_refill_delay",
    "delivery_slot_cost",
    "delivery_slot_discount",
    "delivery_slot_loan",
    "minimum_delivery_slots",
)
PIPE_ONLY = ("time_limit",)


def carried_limits(
    host: str, config: HostConfig, services: Sequence[LdaService], transport: str
) -> tuple[list[SetMainParam], list[str]]:
    """The ``<transport>_*`` settings to plan for the LDA services' own limits, and warnings
    for those LMTP has no use for. Raises RefusedError when two services disagree."""
    edits: list[SetMainParam] = []
    for name in CARRIED:
        said = _said(host, config, services, name, transport)
        if said is None:
            continue
        (service, value), target = said, f"{transport}_{name}"
        if config.main.get(target) != value:
            had = f" (it was {config.main[target]})" if target in config.main else ""
            edits.append(
                SetMainParam(
                    config.main_file,
                    target,
                    value,
                    f"the LDA service had {service}_{name} = {value}; it names the pipe "
                    f"service, so LMTP gets the same limit{had}",
                )
            )
    warnings = [
        f"{s.name}_{name} = {config.main[f'{s.name}_{name}']} limited the pipe(8) LDA only; "
        "Postfix's LMTP client has no such limit (left as is, it now limits nothing)"
        for s in services
        for name in PIPE_ONLY
        if f"{s.name}_{name}" in config.main
    ]
    return edits, warnings


def _said(
    host: str, config: HostConfig, services: Sequence[LdaService], name: str, transport: str
) -> tuple[str, str] | None:
    """The service that sets ``<service>_<name>`` and its value; None when none does.
    Raises RefusedError when two services set different values."""
    said = {
        s.name: config.main[f"{s.name}_{name}"]
        for s in services
        if f"{s.name}_{name}" in config.main
    }
    if len(set(said.values())) > 1:
        first, other = list(said)[:2]
        raise RefusedError(
            f"{first}_{name} = {said[first]} and {other}_{name} = {said[other]}: the LDA "
            f"services disagree, and one LMTP client ({transport}_{name}) cannot keep both",
            host=host,
            path=config.main_file,
            line=config.main_lines.get(f"{other}_{name}"),
        )
    return next(iter(said.items()), None)
