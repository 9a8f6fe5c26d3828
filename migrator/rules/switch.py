"""The LDA -> LMTP switch as a pure function: facts + parsed config -> edits with reasons.

Never calls a transport or Augeas; ``plan.py`` applies the edits through the lenses.
Refusals raise RefusedError naming host, file and (where known) line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from migrator.config.edits import (
    Edit,
    RemoveMainParam,
    SetMainParam,
    SetTransportEntry,
)
from migrator.config.params import MainParams
from migrator.endpoint import Endpoint
from migrator.errors import FactError, RefusedError, UsageError
from migrator.host.config import HostConfig
from migrator.host.facts import Facts
from migrator.host.platform import lmtp_missing
from migrator.host.snapshot import needs_postmap
from migrator.rules.delivery import (
    Delivery,
    classify_hooks,
    delivery_notes,
    refuse_foreign_endpoint,
    refuse_unread_maps,
)
from migrator.rules.dovecot import (
    PROTOCOL_LDA,
    PROTOCOL_LMTP,
    DovecotRules,
)
from migrator.rules.equivalence import equivalence
from migrator.rules.generated import generated_warnings, refuse_store_files
from migrator.rules.hooks import (
    Destination,
    Hook,
    HookKind,
    LdaService,
    lda_services,
)
from migrator.rules.lda_options import refuse_command_options, refuse_service_options
from migrator.rules.lmtp_service import lmtp_service
from migrator.rules.lmtp_use import lmtp_in_use
from migrator.rules.syntax import DovecotSyntax, dovecot_syntax, effective_protocols
from migrator.rules.transport_limits import carried_limits
from migrator.rules.unswitched import instance_notes, refuse_unswitched
from migrator.rules.userdb import refuse_unknown_system_users


@dataclass(frozen=True, slots=True)
class Options:
    """What the user asked for: the LMTP endpoint and the recipient used to test delivery."""

    lmtp: str = "unix"
    allow_remote_lmtp: bool = False
    test_recipient: str | None = None


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The edits to make, what apply must run for maps, and what the user must know."""

    edits: tuple[Edit, ...]
    postmaps: tuple[str, ...]
    endpoint: Endpoint
    lda_services: tuple[str, ...]
    warnings: tuple[str, ...]
    inventory: Mapping[str, Any]
    """How the host delivers today, as plain data (for the plan's facts)."""
    proof_accepts: tuple[str, ...] = ()
    """Differences the warnings announce, which the A/B proof is not to fail on."""
    lmtp_in_use: str = ""
    """Why LMTP deliveries may be in flight when apply reloads Dovecot ("" if none can be)."""


def plan_edits(facts: Facts, config: HostConfig, options: Options) -> RuleResult:
    """Every edit that switches this host from LDA to LMTP; none for a switched host.

    Raises RefusedError for hosts migrator will not migrate, UsageError for bad options.
    """
    syntax = dovecot_syntax(facts, config.dovecot)
    endpoint = Endpoint.from_option(
        options.lmtp, facts.queue_directory, allow_remote=options.allow_remote_lmtp
    )
    services = {s.name: s for s in lda_services(config.master)}
    delivery = classify_hooks(facts.host, config, services, config.programs)
    lda_hooks, lmtp_hooks = _with_homes(facts.host, config, list(delivery.lda)), list(delivery.lmtp)
    notes = [
        *delivery_notes(config, delivery, facts.queue_directory),
        *instance_notes(facts.host, config),
    ]
    refuse_unread_maps(facts.host, config, services)
    refuse_unswitched(facts.host, config, services)
    if not lda_hooks:
        return _no_lda(facts, config, delivery, endpoint, notes, syntax)
    used = _refusals(facts, config, delivery, endpoint, lda_hooks, services)
    if facts.lmtp_binary_known and facts.lmtp_binary is None:
        raise RefusedError(lmtp_missing(facts.os_family), host=facts.host)
    postmaps: list[str] = []
    edits: list[Edit] = _postfix_edits(config, lda_hooks, endpoint, postmaps)
    edits.extend(lmtp_service(facts.host, config, endpoint))
    dovecot = DovecotRules(facts, config, endpoint, used, lda_hooks, syntax)
    edits.extend(dovecot.edits())
    same = equivalence(facts, config, syntax, endpoint, used, lda_hooks, edits)
    edits.extend(same.edits)
    limits, limit_warnings = carried_limits(
        facts.host, config, used, endpoint.postfix.split(":", 1)[0]
    )
    edits.extend(limits)
    refuse_store_files(facts.host, config, edits)
    warnings = [*notes, *facts_warnings(facts), *dovecot.warnings, *same.warnings, *_checks(config)]
    warnings.extend([*limit_warnings, *_pipes_kept(used)])
    warnings.extend(generated_warnings(config, edits))
    inventory = delivery_inventory(
        config, list(services.values()), [*lda_hooks, *lmtp_hooks], syntax, facts.protocols_default
    )
    used_names = tuple(s.name for s in used)
    postmaps_once = tuple(dict.fromkeys(postmaps))
    in_use = lmtp_in_use(config, delivery, syntax, facts.protocols_default, facts.queue_directory)
    return RuleResult(
        tuple(edits),
        postmaps_once,
        endpoint,
        used_names,
        tuple(warnings),
        inventory,
        same.accepts,
        in_use,
    )


def _pipes_kept(used: list[LdaService]) -> list[str]:
    """Why each LDA pipe service the switch leaves alone stays in master.cf."""
    return [
        f"the pipe service {service.name} stays in master.cf: mail already queued for it "
        "must still be delivered, and rollback needs it; `migrator finalize` removes it "
        "once nothing is queued for it"
        for service in used
    ]


def _refusals(
    facts: Facts,
    config: HostConfig,
    delivery: Delivery,
    endpoint: Endpoint,
    lda_hooks: list[Hook],
    services: dict[str, LdaService],
) -> list[LdaService]:
    """Every reason not to switch a host whose hooks run the LDA; the LDA services used.

    Raises FactError (no Dovecot config) or RefusedError naming the reason.
    """
    if not config.dovecot.files:
        raise FactError("Dovecot config file not found", host=facts.host, path=config.dovecot.root)
    refuse_foreign_endpoint(facts.host, config, delivery, endpoint, facts.queue_directory)
    refuse_command_options(facts.host, config, lda_hooks, facts.dovecot_config)
    used = _used_services(facts.host, config, lda_hooks, services, facts.dovecot_config)
    refuse_unknown_system_users(facts, config, lda_hooks)
    _refuse_mixed_usernames(facts.host, config, lda_hooks, used)
    return used


def _no_lda(
    facts: Facts,
    config: HostConfig,
    delivery: Delivery,
    endpoint: Endpoint,
    notes: list[str],
    syntax: DovecotSyntax,
) -> RuleResult:
    """No hook reaches Dovecot's LDA: no edits, and notes that say what delivers instead.

    Raises RefusedError when a hook runs a program migrator cannot classify (it may run the
    LDA), or when nothing hands mail to Dovecot at all.
    """
    if delivery.unclassified:
        hook, program = delivery.unclassified[0]
        raise RefusedError(
            f"{hook.name} ({hook.value}) runs {program.path}, {program.kind.value} "
            f"({program.detail}): it may run Dovecot's LDA, and migrator will not guess",
            host=facts.host,
            path=hook.file,
            line=hook.line,
        )
    if not delivery.lmtp:
        runs = "".join(f"; {note}" for note in notes)
        raise RefusedError(
            f"no Dovecot LDA delivery found and no LMTP either: nothing to migrate{runs}",
            host=facts.host,
            path=config.main_file,
        )
    inventory = delivery_inventory(
        config, lda_services(config.master), list(delivery.lmtp), syntax, facts.protocols_default
    )
    existing = _existing_endpoint(delivery, facts.queue_directory) or endpoint
    return RuleResult((), (), existing, (), (*notes, *facts_warnings(facts)), inventory)


def _existing_endpoint(delivery: Delivery, queue_directory: str) -> Endpoint | None:
    """The first LMTP next hop the hooks name (a service name alone names none)."""
    for hook in delivery.lmtp:
        try:
            return Endpoint.from_postfix(hook.value, queue_directory)
        except UsageError:
            continue
    return None


def _with_homes(host: str, config: HostConfig, lda_hooks: list[Hook]) -> list[Hook]:
    """The LDA hooks, each main.cf one with the parameter to set (``MainParams.edit_target``).

    Raises RefusedError when a hook's value has no single place to edit.
    """
    main = MainParams(config.main, config.main_file, config.main_lines, host)
    switched = {h.name for h in lda_hooks if h.kind is HookKind.PARAM}
    return [
        replace(h, home=main.edit_target(h.name, switched, config.master))
        if h.kind is HookKind.PARAM
        else h
        for h in lda_hooks
    ]


def delivery_inventory(
    config: HostConfig,
    services: list[LdaService],
    hooks: list[Hook],
    syntax: DovecotSyntax,
    protocols_default: str | None = None,
) -> dict[str, Any]:
    """Where Postfix hands mail to Dovecot and what Dovecot applies, as plain data."""
    return {
        "hooks": [
            {"file": h.file, "line": h.line, "name": h.name, "value": h.value} for h in hooks
        ],
        "lda_services": [
            {
                "name": s.name,
                "line": s.line,
                "user": s.user,
                "group": s.group,
                "flags": s.flags,
                "argv": list(next(e.argv for e in config.master if e.name == s.name)),
            }
            for s in services
        ],
        "protocols": effective_protocols(config.dovecot, syntax, protocols_default or ""),
        "recipient_delimiter": {
            "postfix": config.main.get("recipient_delimiter", ""),
            "dovecot": config.dovecot.value("recipient_delimiter") or "+",
        },
        "protocol_lda": config.dovecot.block_settings(PROTOCOL_LDA),
        "protocol_lmtp": config.dovecot.block_settings(PROTOCOL_LMTP),
    }


def _checks(config: HostConfig) -> list[str]:
    """The seed checklist's Postfix checks, as warnings (they do not block the switch)."""
    found = []
    mydestination = {
        d.strip() for d in config.main.get("mydestination", "").replace(",", " ").split()
    }
    virtual = config.main.get("virtual_mailbox_domains", "").replace(",", " ").split()
    for domain in virtual:
        if domain in mydestination:
            found.append(
                f"{domain} is in both mydestination and virtual_mailbox_domains: its mail goes "
                "to local(8), not to the virtual transport"
            )
    local = config.main.get("local_transport", "")
    if local and local == config.main.get("virtual_transport") and not local.startswith("lmtp"):
        found.append("local_transport and virtual_transport name the same transport")
    return found


def facts_warnings(facts: Facts) -> list[str]:
    return [f"not checked: {item}" for item in facts.unknown]


def _used_services(
    host: str,
    config: HostConfig,
    hooks: list[Hook],
    services: dict[str, LdaService],
    server_config: str,
) -> list[LdaService]:
    """The LDA pipe services the hooks name, in hook order.

    Raises RefusedError when their options cannot be reproduced by LMTP (``lda_options``).
    """
    used = list(
        {h.transport: services[h.transport] for h in hooks if h.transport in services}.values()
    )
    refuse_service_options(host, config, used, server_config)
    return used


def _refuse_mixed_usernames(
    host: str, config: HostConfig, hooks: list[Hook], used: list[LdaService]
) -> None:
    """mailbox_command users are looked up by local part; a full-address pipe cannot share."""
    command = next((h for h in hooks if h.kind is HookKind.MAILBOX_COMMAND), None)
    full = [s for s in used if s.lda.destination_kind is Destination.FULL_ADDRESS]
    if command is not None and full:
        raise RefusedError(
            f"mailbox_command (system users, looked up by local part) and service {full[0].name}"
            f" (-d {full[0].lda.destination}: full address) both run the LDA: one LMTP "
            "auth_username_format cannot serve both",
            host=host,
            path=config.main_file,
            line=command.line,
        )


def _reason(hook: Hook) -> str:
    home = hook.home or hook.name
    written = f" (= {hook.raw})" if hook.raw else ""
    via = f", whose value lives in {home}: that is set instead" if home != hook.name else ""
    return f"{hook.name}{written} named the LDA pipe service {hook.transport}{via}"


def _postfix_edits(
    config: HostConfig, hooks: list[Hook], endpoint: Endpoint, postmaps: list[str]
) -> list[Edit]:
    edits: list[Edit] = []
    homes: set[str] = set()
    for hook in hooks:
        if hook.kind is HookKind.MAILBOX_COMMAND:
            edits.extend(_mailbox_command_edits(config, hook, endpoint))
        elif hook.kind is HookKind.PARAM:
            home = hook.home or hook.name
            if home not in homes:  # two parameters referring to one: it is set once
                homes.add(home)
                edits.append(SetMainParam(hook.file, home, endpoint.postfix, _reason(hook)))
        else:
            edits.append(
                SetTransportEntry(
                    hook.file,
                    hook.name,
                    endpoint.postfix,
                    f"the map sent {hook.name} to the LDA pipe service {hook.transport}",
                )
            )
            spec = next(m.spec for m in config.maps if m.path == hook.file)
            if needs_postmap(spec):
                postmaps.append(spec)
    return edits


def _mailbox_command_edits(config: HostConfig, hook: Hook, endpoint: Endpoint) -> list[Edit]:
    """mailbox_command (local(8) running the LDA) gives way to mailbox_transport over LMTP."""
    edits: list[Edit] = [
        RemoveMainParam(
            hook.file,
            "mailbox_command",
            "local(8) ran the LDA as a command; with LMTP it hands mail to "
            "mailbox_transport instead (aliases and .forward still come first)",
        )
    ]
    if config.main.get("mailbox_transport") != endpoint.postfix:
        edits.append(
            SetMainParam(
                hook.file,
                "mailbox_transport",
                endpoint.postfix,
                "local(8) delivers mailboxes over LMTP instead of running the LDA",
            )
        )
    return edits
