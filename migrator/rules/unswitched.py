"""Places that send mail to an LDA pipe service which the switch does not change: refused.

migrator switches the hooks in ``hooks.TRANSPORT_PARAMS``, mailbox_command and hashed
transport maps. Postfix also routes mail by ``default_transport`` and ``relay_transport``,
and a master.cf service may override any of these with ``-o name=value`` (a second
trivial-rewrite, a re-injection smtpd...): mail routed there would still reach the LDA after
the switch, or (with no other hook) migrator would report "nothing to migrate" while the LDA
delivers. Other Postfix instances (postmulti) are never switched: the plan says how each
delivers. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from migrator.config.params import MainParams
from migrator.config.postfix import MasterEntry
from migrator.errors import RefusedError
from migrator.host.config import HostConfig, Instance
from migrator.rules.hooks import (
    TRANSPORT_PARAMS,
    HookKind,
    is_lda,
    lda_services,
    mailbox_command_argv,
    param_hooks,
    transport_name,
)

UNSWITCHED_PARAMS = ("default_transport", "relay_transport")
# The daemons that read each transport parameter: trivial-rewrite resolves the address
# classes to transports, local(8) hands mailboxes on.
READERS = {
    "trivial-rewrite": frozenset(
        {"virtual_transport", "local_transport", "default_transport", "relay_transport"}
    ),
    "local": frozenset({"mailbox_transport", "fallback_transport"}),
}


def refuse_unswitched(host: str, config: HostConfig, services: Collection[str]) -> None:
    """Raises RefusedError naming the first main.cf parameter or master.cf override that
    sends mail to one of ``services`` (the LDA pipe services) where the switch cannot."""
    main = MainParams(config.main, config.main_file, config.main_lines, host)
    for name in UNSWITCHED_PARAMS:
        if name in config.main and transport_name(main.expand(name)) in services:
            raise RefusedError(
                f"{name} = {config.main[name]} sends mail to the LDA service "
                f"{transport_name(main.expand(name))}, and migrator switches only "
                f"{', '.join(TRANSPORT_PARAMS)}, mailbox_command and transport maps; "
                f"point {name} elsewhere (or use one of those) and plan again",
                host=host,
                path=config.main_file,
                line=config.main_lines.get(name),
            )
    for entry in config.master:
        for name, value in overrides(entry):
            if name not in READERS.get(entry.program, ()):
                continue  # a daemon that does not route by it (smtpd): no effect in Postfix
            used = transport_name(MainParams({**config.main, name: value}).expand(name))
            if used in services:
                raise RefusedError(
                    f"service {entry.name} overrides {name}={value}, which sends mail to the "
                    f"LDA service {used}; migrator does not switch master.cf overrides, so "
                    f"mail through {entry.name} would still reach the LDA; change the "
                    "override by hand and plan again",
                    host=host,
                    path=config.master_file,
                    line=entry.line,
                )


def overrides(entry: MasterEntry) -> Iterator[tuple[str, str]]:
    """The service's ``-o name=value`` parameter overrides (also ``-o { name = value }``)."""
    words = entry.command.split()
    for index, word in enumerate(words[:-1]):
        if word != "-o":
            continue
        following = words[index + 1 :]
        if following[0] == "{":
            text = " ".join(following[1 : following.index("}")] if "}" in following else [])
        else:
            text = following[0]
        name, sep, value = text.partition("=")
        if sep:
            yield name.strip(), value.strip()


def instance_notes(host: str, config: HostConfig) -> list[str]:
    """How each other Postfix instance (postmulti) delivers: the switch plans the primary
    instance only, so one that runs the LDA keeps it, and the plan says so."""
    notes = []
    for instance in config.instances:
        if instance.main_file is None:
            notes.append(
                f"Postfix instance {instance.directory} (multi_instance_directories) has no "
                "main.cf: not read"
            )
            continue
        name = instance.main.get("multi_instance_name") or instance.directory
        off = "" if instance.main.get("multi_instance_enable") == "yes" else " (not enabled)"
        uses = _lda_uses(host, instance)
        notes.append(
            f"Postfix instance {name}{off} ({instance.main_file}) delivers with Dovecot's LDA "
            f"too ({'; '.join(uses)}): migrator plans the primary instance only, and that "
            "instance keeps the LDA until it is switched by hand"
            if uses
            else f"Postfix instance {name}{off} ({instance.main_file}): no Dovecot LDA "
            "delivery (migrator plans the primary instance only)"
        )
    return notes


def _lda_uses(host: str, instance: Instance) -> list[str]:
    """The instance's hooks that run the LDA, as "name = value (line N)"."""
    services = {s.name for s in lda_services(instance.master)}
    hooks = param_hooks(instance.main_file or "", instance.main, instance.main_lines, host)
    uses = [
        f"{h.name} = {h.value} (line {h.line})"
        for h in hooks
        if h.transport in services
        or (
            h.kind is HookKind.MAILBOX_COMMAND
            and is_lda((mailbox_command_argv(h.value) or [""])[0])
        )
    ]
    if services and instance.main.get("transport_maps"):
        uses.append(f"transport_maps, not read, beside the LDA service {', '.join(services)}")
    return uses
