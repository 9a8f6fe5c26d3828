"""Where Postfix hands mail to Dovecot: LDA pipe services and every hook that names them.

Pure functions over parsed main.cf, master.cf and transport maps; no I/O.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from migrator.config.params import MainParams
from migrator.config.postfix import MasterEntry, TransportEntry

LDA_PROGRAMS = frozenset({"dovecot-lda", "deliver"})
TRANSPORT_PARAMS = (
    "virtual_transport",
    "mailbox_transport",
    "local_transport",
    "fallback_transport",
)
# dovecot-lda(1): the options that take a value, and those migrator reproduces or refuses
# by name (the rest are LdaArgs.others).
_VALUE_OPTIONS = frozenset({"-a", "-c", "-d", "-f", "-m", "-o", "-p", "-r"})
_KNOWN_OPTIONS = frozenset({"-a", "-c", "-d", "-f", "-m"})


class Destination(Enum):
    """How the LDA was told the user: the full address, or the local part only."""

    FULL_ADDRESS = "full address"
    LOCAL_PART = "local part"
    RUNNING_USER = "the user it runs as"


@dataclass(frozen=True, slots=True)
class LdaArgs:
    """The options of one dovecot-lda/deliver command line."""

    program: str
    destination: str | None = None
    address: str | None = None
    mailbox: str | None = None
    sender: str | None = None
    exit_tempfail: bool = False
    config: str | None = None
    others: tuple[str, ...] = ()

    @property
    def destination_kind(self) -> Destination:
        if self.destination is None:
            return Destination.RUNNING_USER
        if "@" in self.destination or "recipient" in self.destination:
            return Destination.FULL_ADDRESS
        return Destination.LOCAL_PART

    @property
    def detail_mailbox(self) -> bool:
        # local(8) exports $EXTENSION to mailbox_command; pipe(8) expands ${extension}.
        return self.mailbox is not None and self.mailbox.lower() in (
            "${extension}",
            "$extension",
        )


@dataclass(frozen=True, slots=True)
class LdaService:
    """A master.cf pipe service that runs the LDA."""

    name: str
    user: str | None
    group: str | None
    flags: str
    lda: LdaArgs
    line: int | None = None


@dataclass(frozen=True, slots=True)
class WrappedLda:
    """A pipe service (or mailbox_command) running a filter that execs the LDA."""

    name: str
    wrapper: str
    lda: str
    line: int | None = None


class HookKind(Enum):
    PARAM = "main.cf parameter"
    MAILBOX_COMMAND = "mailbox_command"
    TRANSPORT_MAP = "transport map entry"


@dataclass(frozen=True, slots=True)
class Hook:
    """One place where Postfix names a delivery transport (or command)."""

    kind: HookKind
    file: str
    name: str
    """The parameter name, or the map pattern."""
    value: str
    """The value as Postfix uses it: a main.cf parameter's ``$name`` references expanded."""
    transport: str
    """The transport (service) name the hook uses; "" for mailbox_command."""
    line: int | None = None
    home: str | None = None
    """For a main.cf parameter the rules switch: the one to edit to change its value,
    ``name`` itself or the one it only refers to (``virtual_transport = $my_lda``: my_lda)."""
    raw: str = ""
    """The value as written, when it differs from ``value``."""


def is_lda(program: str) -> bool:
    return posixpath.basename(program) in LDA_PROGRAMS


def parse_lda_argv(argv: Sequence[str]) -> LdaArgs:
    """Parse the LDA's own options (``-d``, ``-a``, ``-m``, ``-f``, ``-e``, ``-c``...).

    Every other word (``-o name=value``, ``-p path``, ``-r address``, an unknown option or
    a stray argument) lands in ``others``, with its value, once per occurrence.
    """
    values: dict[str, str] = {}
    others: list[str] = []
    words = list(argv[1:])
    index = 0
    while index < len(words):
        word = words[index]
        if word in _VALUE_OPTIONS and index + 1 < len(words):
            value = words[index + 1]
            if word in _KNOWN_OPTIONS:
                values[word] = value
            else:
                others.append(f"{word} {value}")
            index += 1
        elif word != "-e":
            others.append(word)
        index += 1
    return LdaArgs(
        program=argv[0],
        destination=values.get("-d"),
        address=values.get("-a"),
        mailbox=values.get("-m"),
        sender=values.get("-f"),
        exit_tempfail="-e" in words,
        config=values.get("-c"),
        others=tuple(others),
    )


def lda_services(entries: Sequence[MasterEntry]) -> list[LdaService]:
    """The pipe services whose argv runs dovecot-lda or deliver directly."""
    found = []
    for entry in entries:
        if entry.program != "pipe" or not entry.argv or not is_lda(entry.argv[0]):
            continue
        user, _, group = (entry.attribute("user") or "").partition(":")
        found.append(
            LdaService(
                name=entry.name,
                user=user or None,
                group=group or None,
                flags=entry.attribute("flags") or "",
                lda=parse_lda_argv(entry.argv),
                line=entry.line,
            )
        )
    return found


def wrapped_ldas(entries: Sequence[MasterEntry]) -> list[WrappedLda]:
    """Pipe services that run something else which in turn runs the LDA (a filter)."""
    found = []
    for entry in entries:
        if entry.program != "pipe" or not entry.argv or is_lda(entry.argv[0]):
            continue
        inner = [word for word in entry.argv[1:] if is_lda(word)]
        if inner:
            found.append(WrappedLda(entry.name, entry.argv[0], inner[0], entry.line))
    return found


def transport_name(value: str) -> str:
    return value.split(":", 1)[0].strip()


def param_hooks(
    main_file: str,
    params: Mapping[str, str],
    lines: Mapping[str, int] | None = None,
    host: str | None = None,
) -> list[Hook]:
    """The transport parameters and mailbox_command set in main.cf.

    Transport parameters are expanded as Postfix expands them (``$my_lda``); mailbox_command
    is not (Postfix leaves it to local(8), at delivery). Raises RefusedError for a value
    whose expansion cannot be known (see ``MainParams.expand``).
    """
    at = lines or {}
    main = MainParams(params, main_file, at, host)
    hooks = [_param_hook(main, name) for name in TRANSPORT_PARAMS if params.get(name)]
    if params.get("mailbox_command"):
        value = params["mailbox_command"]
        hooks.append(
            Hook(
                HookKind.MAILBOX_COMMAND,
                main_file,
                "mailbox_command",
                value,
                "",
                at.get("mailbox_command"),
            )
        )
    return hooks


def _param_hook(main: MainParams, name: str) -> Hook:
    value = main.expand(name)
    raw = main.values[name]
    return Hook(
        HookKind.PARAM,
        main.file,
        name,
        value,
        transport_name(value),
        main.lines.get(name),
        raw="" if value == raw else raw,
    )


def map_hooks(map_file: str, entries: Sequence[TransportEntry]) -> list[Hook]:
    return [
        Hook(
            HookKind.TRANSPORT_MAP,
            map_file,
            e.pattern,
            f"{e.transport}:{e.nexthop}",
            e.transport,
            e.line,
        )
        for e in entries
    ]


def mailbox_command_argv(value: str) -> list[str]:
    """mailbox_command split like a shell would (it is run by /bin/sh when it has quotes)."""
    try:
        return shlex.split(value)
    except ValueError:
        return value.split()
