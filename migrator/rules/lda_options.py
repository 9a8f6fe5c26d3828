"""The LDA options LMTP must reproduce or refuse: ``-c`` (another config), ``-m`` (a folder),
and pipe services whose ``-d``/``-m`` disagree. Pure; raises RefusedError naming the hook or
the service."""

from __future__ import annotations

import itertools
import posixpath
from dataclasses import dataclass

from migrator.errors import RefusedError
from migrator.host.config import HostConfig
from migrator.rules.hooks import (
    Hook,
    HookKind,
    LdaArgs,
    LdaService,
    mailbox_command_argv,
    parse_lda_argv,
)


def refuse_command_options(host: str, config: HostConfig, hooks: list[Hook], server: str) -> None:
    """Raises RefusedError when mailbox_command runs the LDA with another ``-c`` config, or
    with a ``-m`` folder LMTP cannot reproduce."""
    for hook in hooks:
        if hook.kind is HookKind.MAILBOX_COMMAND:
            lda = parse_lda_argv(mailbox_command_argv(hook.value))
            where = _Where(host, config.main_file, hook.line)
            _refuse_options(lda, "mailbox_command", server, where)


def refuse_service_options(
    host: str, config: HostConfig, used: list[LdaService], server: str
) -> None:
    """Raises RefusedError when a pipe service the hooks use runs the LDA with another ``-c``
    config or a ``-m`` folder LMTP cannot reproduce, or when two of them disagree on ``-d``
    and ``-m`` (one LMTP setup cannot serve both)."""
    for service in used:
        where = _Where(host, config.master_file, service.line)
        _refuse_options(service.lda, f"service {service.name}", server, where)
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


def other_config(lda: LdaArgs, server_config: str) -> str | None:
    """The ``-c`` file when it is not the one the Dovecot server reads (then LMTP, which
    reads the server's, may behave differently); None when there is no ``-c`` or it is that."""
    if lda.config is None or posixpath.normpath(lda.config) == posixpath.normpath(server_config):
        return None
    return lda.config


def unreproduced(lda: LdaArgs) -> list[str]:
    """The LDA's words LMTP would not reproduce: every one but those LMTP does anyway (``-r``
    naming the recipient Postfix hands LMTP, ``_SAME_AS_LMTP``)."""
    return [
        word
        for word in lda.others
        if word not in _SAME_AS_LMTP and word.lower() not in _SAME_FINAL_RECIPIENT
    ]


# -k: keep the environment (pipe(8) passes the LDA a few variables only; LMTP, a Dovecot
# service, needs none); -n: do not create the -m folder, which 1.x's deliver did unless told,
# and which 2.x leaves to lda_mailbox_autocreate (default no), as LMTP does (Ubuntu's
# mail-stack-delivery still passed it).
_SAME_AS_LMTP = frozenset({"-k", "-n"})
_SAME_FINAL_RECIPIENT = frozenset(
    f"-r {form}" for form in ("${recipient}", "$recipient", '"$recipient"', "$(recipient)")
)


def _why_dropped(word: str) -> str:
    if word.startswith("-o "):
        return (
            "a setting only the LDA gets, which LMTP would lose; move it into protocol lda { } "
            "(migrator carries those to protocol lmtp) and plan again"
        )
    return "LMTP has no such option, so what it does would be lost; remove it and plan again"


@dataclass(frozen=True, slots=True)
class _Where:
    """The host, file and line a refusal names."""

    host: str
    path: str
    line: int | None


def _refuse_options(lda: LdaArgs, runs: str, server: str, where: _Where) -> None:
    """Raises RefusedError when ``runs`` (what runs the LDA) gives it a ``-m`` folder LMTP
    cannot reproduce, or another ``-c`` config than the server's."""
    if lda.mailbox is not None and not lda.detail_mailbox:
        raise RefusedError(
            f"{runs} runs the LDA with -m {lda.mailbox}: LMTP can only save to "
            "the address extension's folder (lmtp_save_to_detail_mailbox), not to this",
            host=where.host,
            path=where.path,
            line=where.line,
        )
    dropped = unreproduced(lda)
    if dropped:
        raise RefusedError(
            f"{runs} runs the LDA with {dropped[0]}: {_why_dropped(dropped[0])}",
            host=where.host,
            path=where.path,
            line=where.line,
        )
    other = other_config(lda, server)
    if other:
        raise RefusedError(
            f"{runs} runs the LDA with -c {other}: it reads another config than "
            f"the Dovecot server ({server}), so LMTP cannot be assumed equivalent",
            host=where.host,
            path=where.path,
            line=where.line,
        )


def _semantics(service: LdaService) -> str:
    lda = service.lda
    detail = f" -m {lda.mailbox}" if lda.mailbox else ""
    return f"-d {lda.destination or '(none)'}{detail}: {lda.destination_kind.value}"
