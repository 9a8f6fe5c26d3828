"""The LDA -> LMTP switch as a pure function: facts + parsed config -> edits with reasons.

Never calls a transport or Augeas; ``plan.py`` applies the edits through the lenses.
Refusals raise RefusedError naming host, file and (where known) line.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from migrator.config.edits import (
    Edit,
    RemoveMainParam,
    SetMainParam,
    SetTransportEntry,
)
from migrator.endpoint import Endpoint
from migrator.errors import RefusedError
from migrator.host.config import HostConfig
from migrator.host.facts import Facts
from migrator.rules.dovecot import (
    PROTOCOL_LDA,
    PROTOCOL_LMTP,
    DovecotRules,
)
from migrator.rules.hooks import (
    Destination,
    Hook,
    HookKind,
    LdaService,
    is_lda,
    lda_services,
    mailbox_command_argv,
    map_hooks,
    param_hooks,
    parse_lda_argv,
    wrapped_ldas,
)
from migrator.rules.params import MainParams
from migrator.rules.syntax import DovecotSyntax, dovecot_syntax, effective_protocols


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


def plan_edits(facts: Facts, config: HostConfig, options: Options) -> RuleResult:
    """Every edit that switches this host from LDA to LMTP; none for a switched host.

    Raises RefusedError for hosts migrator will not migrate, UsageError for bad options.
    """
    syntax = dovecot_syntax(facts, config.dovecot)
    endpoint = Endpoint.from_option(
        options.lmtp, facts.queue_directory, allow_remote=options.allow_remote_lmtp
    )
    services = {s.name: s for s in lda_services(config.master)}
    lda_hooks, lmtp_hooks = _classify_hooks(facts.host, config, services)
    notes: list[str] = []
    if not lda_hooks:
        # Switched already (perhaps by hand, perhaps another socket): keep its endpoint and
        # check only that Dovecot's side matches it.
        endpoint = Endpoint.from_postfix(lmtp_hooks[0].value, facts.queue_directory)
        notes.append(f"Postfix already delivers over LMTP ({lmtp_hooks[0].value})")
    used = _used_services(facts.host, config, lda_hooks, services)
    _refuse_mixed_usernames(facts.host, config, lda_hooks, used)
    if facts.lmtp_binary_known and facts.lmtp_binary is None:
        raise RefusedError(
            "Dovecot's LMTP binary is missing (/usr/lib/dovecot/lmtp or /usr/libexec/dovecot/"
            "lmtp): install the dovecot-lmtpd package (Debian) first",
            host=facts.host,
        )
    postmaps: list[str] = []
    edits: list[Edit] = _postfix_edits(config, lda_hooks, endpoint, postmaps)
    dovecot = DovecotRules(facts, config, endpoint, used, lda_hooks, syntax)
    edits.extend(dovecot.edits())
    kept = [
        f"the pipe service {service.name} stays in master.cf: mail already queued for it "
        "must still be delivered, and rollback needs it; remove it later, once "
        "`postqueue -j` shows nothing for it"
        for service in used
    ]
    warnings = [*notes, *facts_warnings(facts), *dovecot.warnings, *_checks(config), *kept]
    return RuleResult(
        tuple(edits),
        tuple(dict.fromkeys(postmaps)),
        endpoint,
        tuple(s.name for s in used),
        tuple(warnings),
        delivery_inventory(
            config,
            list(services.values()),
            [*lda_hooks, *lmtp_hooks],
            syntax,
            facts.protocols_default,
        ),
    )


def _classify_hooks(
    host: str, config: HostConfig, services: dict[str, LdaService]
) -> tuple[list[Hook], list[Hook]]:
    """The hooks that reach the LDA and those that already use LMTP.

    Raises RefusedError for a hook whose service wraps the LDA, or when neither exists.
    """
    wrapped = {w.name: w for w in wrapped_ldas(config.master)}
    hooks = param_hooks(config.main_file, config.main, config.main_lines, host)
    for tmap in config.maps:
        hooks.extend(map_hooks(tmap.path, tmap.entries))
    lda_hooks: list[Hook] = []
    lmtp_hooks: list[Hook] = []
    for hook in hooks:
        if hook.transport in wrapped:
            w = wrapped[hook.transport]
            raise RefusedError(
                f"{hook.name} uses service {w.name}, which runs {w.wrapper} wrapping {w.lda}: "
                "switching it to LMTP would silently drop the filter",
                host=host,
                path=config.master_file,
                line=w.line,
            )
        if hook.kind is HookKind.MAILBOX_COMMAND:
            if _mailbox_command_lda(host, config, hook):
                lda_hooks.append(hook)
        elif hook.transport in services:
            lda_hooks.append(hook)
        elif hook.transport == "lmtp":
            lmtp_hooks.append(hook)
    if not lda_hooks and not lmtp_hooks:
        raise RefusedError(
            "no Dovecot LDA delivery found and no LMTP either: nothing to migrate",
            host=host,
            path=config.main_file,
        )
    return _with_homes(host, config, lda_hooks), lmtp_hooks


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
    read = {m.spec for m in config.maps}
    for spec in config.main.get("transport_maps", "").replace(",", " ").split():
        if spec not in read:
            found.append(
                f"transport map {spec} was not inspected (only hashed maps with a source file "
                "are read): check by hand that it sends nothing to an LDA service"
            )
    local = config.main.get("local_transport", "")
    if local and local == config.main.get("virtual_transport") and not local.startswith("lmtp"):
        found.append("local_transport and virtual_transport name the same transport")
    return found


def facts_warnings(facts: Facts) -> list[str]:
    return [f"not checked: {item}" for item in facts.unknown]


def _mailbox_command_lda(host: str, config: HostConfig, hook: Hook) -> bool:
    argv = mailbox_command_argv(hook.value)
    if argv and is_lda(argv[0]):
        if parse_lda_argv(argv).config:
            raise RefusedError(
                "mailbox_command runs the LDA with -c: it reads another config than the "
                "Dovecot server, so LMTP cannot be assumed equivalent",
                host=host,
                path=config.main_file,
                line=hook.line,
            )
        return True
    inner = [word for word in argv[1:] if is_lda(word)]
    if inner:
        raise RefusedError(
            f"mailbox_command runs {argv[0]} wrapping {inner[0]}: switching it to LMTP "
            "would silently drop the filter",
            host=host,
            path=config.main_file,
            line=hook.line,
        )
    return False


def _used_services(
    host: str, config: HostConfig, hooks: list[Hook], services: dict[str, LdaService]
) -> list[LdaService]:
    used = list(
        {h.transport: services[h.transport] for h in hooks if h.transport in services}.values()
    )
    for service in used:
        mailbox = service.lda.mailbox
        if mailbox is not None and mailbox not in ("${extension}", "$extension"):
            raise RefusedError(
                f"service {service.name} runs the LDA with -m {mailbox}: LMTP can only save to "
                "the address extension's folder (lmtp_save_to_detail_mailbox), not to this",
                host=host,
                path=config.master_file,
                line=service.line,
            )
        if service.lda.config:
            raise RefusedError(
                f"service {service.name} runs the LDA with -c {service.lda.config}: it reads "
                "another config than the Dovecot server, so LMTP cannot be assumed equivalent",
                host=host,
                path=config.master_file,
                line=service.line,
            )
    for first, other in itertools.pairwise(used):
        if (first.lda.destination_kind, first.lda.detail_mailbox) != (
            other.lda.destination_kind,
            other.lda.detail_mailbox,
        ):
            raise RefusedError(
                f"LDA services {first.name} and {other.name} disagree "
                f"({_semantics(first)} vs {_semantics(other)}): one LMTP setup cannot serve both",
                host=host,
                path=config.master_file,
                line=other.line,
            )
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


def _semantics(service: LdaService) -> str:
    lda = service.lda
    detail = f" -m {lda.mailbox}" if lda.mailbox else ""
    return f"-d {lda.destination or '(none)'}{detail}: {lda.destination_kind.value}"


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
            edits.append(
                RemoveMainParam(
                    hook.file,
                    "mailbox_command",
                    "local(8) ran the LDA as a command; with LMTP it hands mail to "
                    "mailbox_transport instead (aliases and .forward still come first)",
                )
            )
            if config.main.get("mailbox_transport") != endpoint.postfix:
                edits.append(
                    SetMainParam(
                        hook.file,
                        "mailbox_transport",
                        endpoint.postfix,
                        "local(8) delivers mailboxes over LMTP instead of running the LDA",
                    )
                )
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
            postmaps.append(spec)
    return edits
