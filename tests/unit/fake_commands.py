"""The fake host's names for the commands migrator runs: ``classify`` says which one a
command is, by the script constant it carries where it has one (``argv[2] is
journal_scripts.LOCK_SCRIPT``), so a script edited or swapped still reaches its handler.
"""

from __future__ import annotations

from collections.abc import Sequence

from migrator.delivery import batch_scripts, scripts
from migrator.executor import actions, journal_scripts, scope, services
from migrator.host import queue


def classify(argv: Sequence[str]) -> str:
    """Name the command migrator ran, by the script constant it carries where it has one."""
    args = list(argv)
    if args[:2] == ["sh", "-c"] and len(args) > 2:
        return _SCRIPTS.get(id(argv[2]), "unknown")
    for daemon in ("dovecot", "postfix"):
        if any(tuple(args) == services.reload_argv(m, daemon) for m in services.Manager):
            return f"reload_{daemon}"
    if args == ["doveconf", "-n"]:
        return "validate_dovecot"
    if args[:1] == ["postmap"] and len(args) == 2:
        return "postmap"
    if args[:1] == ["/usr/sbin/sendmail"]:
        return "sendmail"
    if args[:3] == ["rm", "-f", "--"]:
        return "rm"
    return "unknown"


_SCRIPTS = {
    id(journal_scripts.LOCK_SCRIPT): "lock",
    id(journal_scripts.PEEK_SCRIPT): "peek",
    id(journal_scripts.JOURNAL_READ_SCRIPT): "journal_read",
    id(journal_scripts.OPEN_SCRIPT): "prepare",
    id(journal_scripts.UNLOCK_SCRIPT): "unlock",
    id(services.RUNTIME_SCRIPT): "runtime",
    id(services.LMTP_DRAIN_SCRIPT): "wait_lmtp",
    id(actions.WAIT_SOCKET_SCRIPT): "wait_socket",
    id(actions.WAIT_PORT_SCRIPT): "wait_port",
    id(actions.REMOVE_SCRIPT): "remove_file",
    id(actions.LINK_SCRIPT): "restore_link",
    id(actions.VALIDATE_POSTFIX_SCRIPT): "validate_postfix",
    id(scripts.PROBE_SH): "probe_lmtp",
    id(scripts.CONFIRM_SH): "confirm",
    id(scripts.REMOVE_SH): "remove",
    id(batch_scripts.BATCH_SH): "batch",
    id(scope.CONFIG_DIRS_SCRIPT): "config_dirs",
    id(queue.QUEUE_SCRIPT): "queue",
}
