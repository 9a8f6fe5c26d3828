"""Finalize a migrated host as a pure function: remove the LDA pipe services LMTP replaced.

After the switch the old pipe service stays in master.cf (mail queued for it must still be
delivered; rollback needs it). Once nothing is queued for it, ``finalize_edits`` removes it,
and the ``<service>_destination_recipient_limit`` line it needed. It never calls a transport:
whether mail is queued for the service is the ``host.queue`` fact, checked by the planner
and again by apply right before the write.
"""

from __future__ import annotations

from collections.abc import Iterator

from migrator.config.edits import Edit, RemoveMainParam, RemoveMasterService
from migrator.endpoint import Endpoint
from migrator.errors import RefusedError, UsageError
from migrator.host.config import HostConfig
from migrator.host.facts import Facts
from migrator.rules.delivery import Delivery, classify_hooks
from migrator.rules.hooks import LdaService, lda_services
from migrator.rules.switch import RuleResult, delivery_inventory, facts_warnings
from migrator.rules.syntax import dovecot_syntax


def finalize_edits(facts: Facts, config: HostConfig) -> RuleResult:
    """Remove every LDA pipe service no hook names any more; no edits when none is left.

    Raises RefusedError when a hook still runs the LDA or a program migrator cannot classify
    (the host is not migrated), when nothing delivers over LMTP, or when another parameter or
    master.cf option still names a pipe service (Postfix would defer that mail).
    """
    services = lda_services(config.master)
    delivery = classify_hooks(facts.host, config, {s.name: s for s in services}, config.programs)
    _refuse_not_migrated(facts.host, config, delivery)
    endpoint = _lmtp_endpoint(facts.host, config, delivery, facts.queue_directory)
    for service in services:
        _refuse_builtin(facts.host, config, service)
        _refuse_other_users(facts.host, config, service)
    edits: list[Edit] = []
    for service in services:
        edits.extend(_removal(config, service))
    warnings = [*facts_warnings(facts), *_leftovers(config, services)]
    if not services:
        warnings.append("no LDA pipe service is left in master.cf: nothing to finalize")
    inventory = delivery_inventory(
        config,
        services,
        list(delivery.lmtp),
        dovecot_syntax(facts, config.dovecot),
        facts.protocols_default,
    )
    names = tuple(s.name for s in services)
    return RuleResult(tuple(edits), (), endpoint, names, tuple(warnings), inventory)


def _refuse_not_migrated(host: str, config: HostConfig, delivery: Delivery) -> None:
    """A hook that still runs the LDA (or may) keeps its pipe service: refuse, naming it."""
    if delivery.lda:
        hook = delivery.lda[0]
        raise RefusedError(
            f"{hook.name} ({hook.value}) still delivers through the LDA: the host is not "
            "migrated, so its pipe service stays; run `migrator apply` first",
            host=host,
            path=hook.file,
            line=hook.line,
        )
    if delivery.unclassified:
        hook, program = delivery.unclassified[0]
        raise RefusedError(
            f"{hook.name} ({hook.value}) runs {program.path}, {program.kind.value}: it may "
            "need the LDA pipe service, and migrator will not guess",
            host=host,
            path=hook.file,
            line=hook.line,
        )


def _lmtp_endpoint(
    host: str, config: HostConfig, delivery: Delivery, queue_directory: str
) -> Endpoint:
    """The LMTP next hop the hooks name: finalize proves delivery over it."""
    for hook in delivery.lmtp:
        try:
            return Endpoint.from_postfix(hook.value, queue_directory)
        except UsageError:
            continue
    raise RefusedError(
        "no hook delivers over LMTP with a next hop: the host is not migrated",
        host=host,
        path=config.main_file,
    )


# Services Postfix names by default, whatever main.cf says: default_transport (smtp),
# relay_transport (relay), local_transport (local), virtual_transport (virtual), the lmtp of
# every lmtp: next hop, error/retry/discard, and the daemons of the *_service_name
# parameters. A pipe service by one of these names is still in use when no hook names it.
BUILTIN_SERVICES = frozenset(
    {
        *("smtp", "relay", "local", "virtual", "lmtp", "error", "retry", "discard"),
        *("bounce", "defer", "trace", "verify", "flush", "proxymap", "proxywrite"),
        *("rewrite", "cleanup", "qmgr", "pickup", "showq", "anvil", "scache", "tlsmgr"),
        *("postlog", "dnsblog", "tlsproxy", "postscreen", "smtpd", "oqmgr"),
    }
)


def _refuse_builtin(host: str, config: HostConfig, service: LdaService) -> None:
    """A pipe service named like a service Postfix's defaults use is never removed."""
    if service.name in BUILTIN_SERVICES:
        raise RefusedError(
            f"the LDA pipe service is named {service.name}, a service Postfix uses by default "
            "(a default transport or daemon): removing it could leave mail undeliverable; "
            "rename or remove it by hand",
            host=host,
            path=config.master_file,
            line=service.line,
        )


def _refuse_other_users(host: str, config: HostConfig, service: LdaService) -> None:
    """Any other main.cf parameter or master.cf option naming the service keeps it in use."""
    own = f"{service.name}_"
    for name, value in config.main.items():
        if not name.startswith(own) and _names(value, service.name):
            raise RefusedError(
                f"{name} = {value} still names the LDA pipe service {service.name}: removing "
                "it would leave that mail undeliverable",
                host=host,
                path=config.main_file,
                line=config.main_lines.get(name),
            )
    for entry in config.master:
        for key, value in entry.attributes:
            if entry.name != service.name and _names(value, service.name):
                raise RefusedError(
                    f"service {entry.name} sets {key}={value}, which names the LDA pipe "
                    f"service {service.name}: removing it would leave that mail undeliverable",
                    host=host,
                    path=config.master_file,
                    line=entry.line,
                )


def _names(value: str, service: str) -> bool:
    """Whether a Postfix value names the transport ``service`` (``service`` or ``service:x``)."""
    words = value.replace(",", " ").replace("=", " ").split()
    return any(word == service or word.startswith(f"{service}:") for word in words)


def _leftovers(config: HostConfig, services: list[LdaService]) -> list[str]:
    """Other per-transport parameters of the removed services: named, left to the admin."""
    return [
        f"{name} (main.cf line {config.main_lines.get(name)}) is a setting of the removed "
        f"service {service.name}: nothing uses it any more; remove it by hand if you like"
        for service in services
        for name in sorted(config.main)
        if name.startswith(f"{service.name}_")
        and name != f"{service.name}_destination_recipient_limit"
    ]


def _removal(config: HostConfig, service: LdaService) -> Iterator[Edit]:
    entry = next(e for e in config.master if e.name == service.name and e.program == "pipe")
    yield RemoveMasterService(
        config.master_file,
        service.name,
        entry.type,
        f"the LDA pipe service {service.name}: no hook names it since the switch to LMTP, "
        "and no mail is queued for it",
    )
    limit = f"{service.name}_destination_recipient_limit"
    if limit in config.main:
        yield RemoveMainParam(
            config.main_file,
            limit,
            f"the one-recipient-per-delivery limit the pipe service {service.name} needed",
        )
