"""The LDA options LMTP must reproduce or refuse: ``-c`` (another config) and, for
mailbox_command, ``-m`` (a folder). Pure; raises RefusedError naming the hook."""

from __future__ import annotations

import posixpath

from migrator.errors import RefusedError
from migrator.host.config import HostConfig
from migrator.rules.hooks import Hook, HookKind, LdaArgs, mailbox_command_argv, parse_lda_argv


def refuse_command_options(host: str, config: HostConfig, hooks: list[Hook], server: str) -> None:
    """Raises RefusedError when mailbox_command runs the LDA with another ``-c`` config, or
    with a ``-m`` folder LMTP cannot reproduce."""
    for hook in hooks:
        if hook.kind is not HookKind.MAILBOX_COMMAND:
            continue
        lda = parse_lda_argv(mailbox_command_argv(hook.value))
        if lda.mailbox is not None and not lda.detail_mailbox:
            raise RefusedError(
                f"mailbox_command runs the LDA with -m {lda.mailbox}: LMTP can only save to "
                "the address extension's folder (lmtp_save_to_detail_mailbox), not to this",
                host=host,
                path=config.main_file,
                line=hook.line,
            )
        other = other_config(lda, server)
        if other:
            raise RefusedError(
                f"mailbox_command runs the LDA with -c {other}: it reads another config than "
                f"the Dovecot server ({server}), so LMTP cannot be assumed equivalent",
                host=host,
                path=config.main_file,
                line=hook.line,
            )


def other_config(lda: LdaArgs, server_config: str) -> str | None:
    """The ``-c`` file when it is not the one the Dovecot server reads (then LMTP, which
    reads the server's, may behave differently); None when there is no ``-c`` or it is that."""
    if lda.config is None or posixpath.normpath(lda.config) == posixpath.normpath(server_config):
        return None
    return lda.config
