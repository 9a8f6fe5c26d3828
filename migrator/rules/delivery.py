"""What each Postfix delivery hook runs: Dovecot's LDA, LMTP, a wrapper, or something else.

Pure: reads parsed config and the programs the snapshot read off the host (a pipe's or
mailbox_command's program, so a script that runs the LDA is seen for what it is). A hook
is never taken for "no LDA" unless migrator knows what it runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from migrator.config.postfix import MasterEntry
from migrator.endpoint import Endpoint
from migrator.errors import RefusedError, UsageError
from migrator.host.config import HostConfig
from migrator.host.snapshot import hashed_map_spec, transport_map_words
from migrator.rules.dovecot import SERVICE_LMTP
from migrator.rules.hooks import (
    Hook,
    HookKind,
    LdaService,
    is_lda,
    mailbox_command_argv,
    map_hooks,
    param_hooks,
    wrapped_ldas,
)

# A path ending in dovecot-lda or deliver, or dovecot-lda bare ("deliver" alone is a verb).
_LDA_IN_SCRIPT = re.compile(r"(?:\S*/(?:dovecot-lda|deliver)|\bdovecot-lda)(?![\w.-])")


class ProgramKind(Enum):
    LDA = "Dovecot's LDA"
    WRAPS_LDA = "a script that runs Dovecot's LDA"
    OTHER = "a script that runs no Dovecot LDA"
    UNKNOWN = "a program migrator cannot classify"


@dataclass(frozen=True, slots=True)
class Program:
    """A delivery program as read from the host, and what it was found to be."""

    path: str
    kind: ProgramKind
    detail: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """The hooks that reach the LDA, those on LMTP, and those running something else."""

    lda: tuple[Hook, ...]
    lmtp: tuple[Hook, ...]
    unclassified: tuple[tuple[Hook, Program], ...]
    others: tuple[tuple[Hook, Program], ...]


def classify_program(path: str, content: bytes | None) -> Program:
    """What ``path`` is, from its name and (for a script) its text; never raises."""
    if is_lda(path):
        return Program(path, ProgramKind.LDA, "by its name")
    if content is None:
        return Program(path, ProgramKind.UNKNOWN, "not found on the host")
    if not content.startswith(b"#!"):
        return Program(path, ProgramKind.UNKNOWN, "not a script migrator can read")
    for number, line in enumerate(content.decode("utf-8", "replace").splitlines(), 1):
        code = re.sub(r"(^|\s)#.*$", "", line)
        found = _LDA_IN_SCRIPT.search(code)
        if found:
            return Program(path, ProgramKind.WRAPS_LDA, f"line {number}: {line.strip()}")
    return Program(path, ProgramKind.OTHER, "it names neither dovecot-lda nor deliver")


def classify_hooks(
    host: str,
    config: HostConfig,
    services: Mapping[str, LdaService],
    programs: Mapping[str, bytes | None],
) -> Delivery:
    """Sort every hook by what it runs.

    Raises RefusedError for a hook whose program wraps the LDA (a filter or a script that
    runs it): switching it to LMTP would silently drop what the wrapper does.
    """
    hooks = param_hooks(config.main_file, config.main, config.main_lines, host)
    for tmap in config.maps:
        hooks.extend(map_hooks(tmap.path, tmap.entries))
    transports = {e.name: e for e in config.master if e.type == "unix"}
    found: dict[str, list[Hook]] = {"lda": [], "lmtp": []}
    unclassified: list[tuple[Hook, Program]] = []
    others: list[tuple[Hook, Program]] = []
    for hook in hooks:
        _refuse_wrapped_service(host, config, hook)
        entry = transports.get(hook.transport)
        kind = _hook_kind(hook, entry, services)
        if kind in found:
            found[kind].append(hook)
        elif kind == "program":
            argv = entry.argv if entry is not None else mailbox_command_argv(hook.value)
            program = _program(host, config, hook, entry, argv, programs)
            if program.kind is ProgramKind.LDA:
                found["lda"].append(hook)
            else:
                into = unclassified if program.kind is ProgramKind.UNKNOWN else others
                into.append((hook, program))
    return Delivery(tuple(found["lda"]), tuple(found["lmtp"]), tuple(unclassified), tuple(others))


def _hook_kind(
    hook: Hook, entry: MasterEntry | None, services: Mapping[str, LdaService]
) -> str | None:
    """ "lda", "lmtp", "program" (a command to read), or None for Postfix's own transports."""
    if hook.kind is HookKind.MAILBOX_COMMAND:
        return "program"
    if hook.transport in services:
        return "lda"
    if hook.transport == "lmtp" or (entry is not None and entry.program == "lmtp"):
        return "lmtp"
    if entry is not None and entry.program == "pipe":
        return "program"
    return None  # smtp, local, virtual, error...: no Dovecot


def _refuse_wrapped_service(host: str, config: HostConfig, hook: Hook) -> None:
    """Raises RefusedError when the hook's pipe service names the LDA as a filter's argument."""
    if hook.kind is HookKind.MAILBOX_COMMAND:
        return
    for w in wrapped_ldas(config.master):
        if w.name == hook.transport:
            raise RefusedError(
                f"{hook.name} uses service {w.name}, which runs {w.wrapper} wrapping {w.lda}: "
                "switching it to LMTP would silently drop the filter",
                host=host,
                path=config.master_file,
                line=w.line,
            )


def _program(
    host: str,
    config: HostConfig,
    hook: Hook,
    entry: MasterEntry | None,
    argv: Sequence[str],
    programs: Mapping[str, bytes | None],
) -> Program:
    """The program a hook runs (its argv's first word); raises RefusedError when it, or a
    program it is handed (``spamc -e /x``), wraps the LDA."""
    if not argv:
        return Program("", ProgramKind.UNKNOWN, "an empty command")
    first = classify_program(argv[0], programs.get(argv[0]))
    if first.kind is ProgramKind.LDA:
        return first
    inner = [
        classify_program(word, programs.get(word))
        for word in argv[1:]
        if word.startswith("/") or is_lda(word)
    ]
    for found in (first, *inner):
        if found.kind in (ProgramKind.LDA, ProgramKind.WRAPS_LDA):
            raise _wrapper_refusal(host, config, hook, entry, argv[0], found)
    return first


def _wrapper_refusal(
    host: str,
    config: HostConfig,
    hook: Hook,
    entry: MasterEntry | None,
    wrapper: str,
    found: Program,
) -> RefusedError:
    via = f"service {entry.name}, which runs " if entry is not None else ""
    what = (
        f"{wrapper} wrapping {found.path}"
        if found.kind is ProgramKind.LDA
        else f"{wrapper}"
        + (f" with {found.path}" if found.path != wrapper else "")
        + f", {found.kind.value} ({found.detail})"
    )
    return RefusedError(
        f"{hook.name} uses {via}{what}: switching it to LMTP would silently drop "
        "what the wrapper does",
        host=host,
        path=config.master_file if entry is not None else hook.file,
        line=entry.line if entry is not None else hook.line,
    )


def lmtp_note(hook: Hook, config: HostConfig, queue_directory: str) -> str:
    """Where an LMTP hook delivers, and whether that is a Dovecot listener in the config."""
    said = f"{hook.name} = {hook.value}"
    _, _, nexthop = hook.value.partition(":")
    if not nexthop:
        return (
            f"Postfix already delivers over LMTP ({said}, the lmtp(8) service "
            f"{hook.transport} with its own next hop): not an LDA, left as is"
        )
    try:
        endpoint = Endpoint.from_postfix(f"lmtp:{nexthop}", queue_directory)
    except UsageError:
        return f"Postfix already delivers over LMTP ({said}): not an LDA, left as is"
    if not config.dovecot.files:
        return (
            f"Postfix already delivers over LMTP ({said}), to {endpoint.probe_target}; no "
            "Dovecot config on this host (Dovecot elsewhere, or another server): nothing "
            "to switch, left as is"
        )
    if is_dovecot_endpoint(endpoint, config):
        return f"Postfix already delivers over LMTP to Dovecot ({said})"
    return (
        f"Postfix already delivers over LMTP ({said}), to {endpoint.probe_target}, which is "
        "no Dovecot LMTP listener in the Dovecot config read here (a filter or another "
        "server): nothing to switch, left as is"
    )


def is_dovecot_endpoint(endpoint: Endpoint, config: HostConfig) -> bool:
    """Whether Dovecot's lmtp service listens where ``endpoint`` points, per the parsed config."""
    dovecot = config.dovecot
    base = (dovecot.value("base_dir") or "/var/run/dovecot").rstrip("/")
    for block in dovecot.blocks:
        if block.chain[0] != SERVICE_LMTP[0] or len(block.chain) != 2:
            continue
        ref = block.chain[1]
        if ref.name == "unix_listener" and ref.arg and endpoint.socket_path is not None:
            path = ref.arg if ref.arg.startswith("/") else f"{base}/{ref.arg}"
            if path == endpoint.socket_path:
                return True
        port = dovecot.block_settings(block.chain).get("port")
        if ref.name == "inet_listener" and port is not None and port == endpoint.port:
            return True
    return False


def delivery_notes(config: HostConfig, delivery: Delivery, queue_directory: str) -> list[str]:
    """What each hook that is not the LDA delivers through, in words."""
    notes = [lmtp_note(hook, config, queue_directory) for hook in delivery.lmtp]
    notes.extend(
        f"{hook.name} ({hook.value}) runs {program.path}, {program.kind.value} "
        f"({program.detail}): left as is"
        for hook, program in delivery.others
    )
    notes.extend(
        f"{hook.name} ({hook.value}) runs {program.path}, {program.kind.value} "
        f"({program.detail}): left as is; check by hand that it does not run Dovecot's LDA"
        for hook, program in delivery.unclassified
    )
    return notes


def refuse_unread_maps(host: str, config: HostConfig, services: Mapping[str, LdaService]) -> None:
    """A transport map migrator cannot read (SQL, LDAP, regexp...) may send mail to an LDA
    service: switching only the hooks it can see would be a switch that switches nothing.

    Raises RefusedError naming the map.
    """
    if not services:
        return
    read = {m.spec for m in config.maps}
    for spec in transport_map_words(config.main, config.main_file):
        if hashed_map_spec(spec) not in read:
            raise RefusedError(
                f"transport_maps {spec}: migrator reads only hashed maps with a source file "
                f"(not SQL, LDAP or other tables), and its entries may send mail to the LDA "
                f"service {', '.join(services)}; switch them by hand first",
                host=host,
                path=config.main_file,
                line=config.main_lines.get("transport_maps"),
            )


def refuse_foreign_endpoint(
    host: str, config: HostConfig, delivery: Delivery, endpoint: Endpoint, queue_directory: str
) -> None:
    """Never plan a Dovecot listener where Postfix already reaches someone else's LMTP server.

    Raises RefusedError when an LMTP hook's next hop is ``endpoint`` and no Dovecot listener
    is there (a spam-filter proxy, another server).
    """
    for hook in delivery.lmtp:
        try:
            theirs = Endpoint.from_postfix(hook.value, queue_directory)
        except UsageError:
            continue
        if theirs.probe_target == endpoint.probe_target and not is_dovecot_endpoint(theirs, config):
            raise RefusedError(
                f"{hook.name} = {hook.value} already hands mail to {theirs.probe_target}, which "
                "is no Dovecot LMTP listener (a filter or another server): a Dovecot listener "
                "cannot go there; choose another endpoint with --lmtp",
                host=host,
                path=hook.file,
                line=hook.line,
            )
