"""Reading how a host runs its daemons, and the reload command for each (pure)."""

from __future__ import annotations

from migrator.executor.services import Manager, Runtime, parse_runtime, reload_argv


def test_systemd_host_logging_to_syslog() -> None:
    runtime = parse_runtime("systemd\nsystemd\n\n/var/log/mail.log\n\n")
    assert runtime == Runtime(Manager.SYSTEMD, Manager.SYSTEMD, "/var/log/mail.log")


def test_sysv_dovecot_direct_postfix_with_maillog_file() -> None:
    runtime = parse_runtime("service\ndirect\n/var/log/postfix.log\n/var/log/maillog\n\n")
    assert runtime == Runtime(Manager.SERVICE, Manager.DIRECT, "/var/log/postfix.log")


def test_reload_commands() -> None:
    assert reload_argv(Manager.SYSTEMD, "dovecot") == ("systemctl", "reload", "dovecot")
    assert reload_argv(Manager.SERVICE, "postfix") == ("service", "postfix", "reload")
    assert reload_argv(Manager.DIRECT, "dovecot") == ("doveadm", "reload")
    assert reload_argv(Manager.DIRECT, "postfix") == ("postfix", "reload")


def test_the_journal_is_the_log_only_when_no_file_is() -> None:
    assert parse_runtime("systemd\nsystemd\n\n\njournald\n").log_path == "journald"
    assert parse_runtime("systemd\nsystemd\n\n/var/log/mail.log\njournald\n").log_path == (
        "/var/log/mail.log"
    )
    assert parse_runtime("direct\ndirect\n\n\n").log_path == ""
