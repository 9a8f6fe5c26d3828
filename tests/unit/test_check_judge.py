"""check's pure parts: parsing what a host printed, and judging it (captured output)."""

from __future__ import annotations

import json

import pytest

from migrator.check.dovecot import mail_root, parse_doveconf, plugins
from migrator.check.findings import Delivery, Status
from migrator.check.gather import HostState, PathState, parse_config, parse_state
from migrator.check.judge import (
    deferred,
    delivery_mode,
    hook_kinds,
    judge_domains,
    judge_dovecot,
    judge_hooks,
    judge_listener,
    judge_log,
    judge_mail_root,
    lda_services,
    lmtp_endpoint,
)
from migrator.check.logtime import recent
from migrator.endpoint import Endpoint

# Captured from a bookworm lab host (virtual-lda profile), trimmed.
LDA_HOST = """\
== postconf
virtual_transport = dovecot
mailbox_transport =
local_transport = local:chk-01.example.test
fallback_transport =
mailbox_command =
mydestination = localhost
virtual_mailbox_domains = example.test
mail_owner = postfix
queue_directory = /var/spool/postfix
== master
smtp       inet  n       -       y       -       -       smtpd
lmtp       unix  -       -       y       -       -       lmtp
maildrop   unix  -       n       n       -       -       pipe flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
dovecot    unix  -       n       n       -       -       pipe flags=DRhu user=vmail:vmail argv=/usr/lib/dovecot/dovecot-lda -f ${sender} -d ${recipient}
== doveconf
# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf
log_path = /var/log/dovecot.log
mail_location = maildir:~/Maildir
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
}
protocols = " imap lmtp"
userdb {
  args = uid=vmail gid=vmail home=/var/vmail/%d/%n
  driver = static
}
protocol lda {
  mail_plugins = " sieve"
}
== protocols
 imap lmtp
== mail
mail_location=maildir:~/Maildir
mail_path=
mail_home=
log_path=/var/log/dovecot.log
== runtime
service
service
/var/log/postfix.log

== queue
"""  # noqa: E501

SOCKET = "/var/spool/postfix/private/dovecot-lmtp"


def _lmtp(postconf: dict[str, str]) -> dict[str, str]:
    return {"queue_directory": "/var/spool/postfix", "mail_owner": "postfix", **postconf}


def test_an_lda_host_is_read_as_one() -> None:
    config = parse_config(LDA_HOST)
    lda = lda_services(config.master)
    assert lda == {"dovecot"}  # maildrop pipes, but not to Dovecot
    wrapped = "spam unix - n n - - pipe user=vmail argv=/usr/bin/spamc -e /usr/lib/dovecot/deliver"
    assert lda_services([wrapped]) == {"spam"}
    kinds = hook_kinds(config.postconf, lda)
    assert kinds == {"virtual_transport": "lda", "local_transport": "other"}
    assert delivery_mode(kinds) is Delivery.LDA
    assert config.runtime.log_path == "/var/log/postfix.log"
    assert config.protocols == "imap lmtp"
    assert config.errors == ()
    settings = parse_doveconf(config.doveconf)
    assert mail_root(config.mail, settings) == "/var/vmail"  # ~/Maildir, home from the userdb
    assert lmtp_endpoint(config.postconf, kinds) is None


def test_postqueue_lines_and_unreadable_ones() -> None:
    message = {"queue_name": "deferred", "recipients": [{"address": "a@x", "delay_reason": "x"}]}
    config = parse_config(f"== queue\n{json.dumps(message)}\nnot json\n")
    assert config.queue == (message,)
    assert config.errors == ("postqueue -j: 1 unreadable lines",)


def test_mixed_hooks_and_overrides_are_conflicts() -> None:
    postconf = _lmtp(
        {
            "virtual_transport": "lmtp:unix:private/dovecot-lmtp",
            "mailbox_transport": "dovecot",
            "mailbox_command": "/usr/lib/dovecot/dovecot-lda -f $SENDER -a $RECIPIENT",
        }
    )
    kinds = hook_kinds(postconf, frozenset({"dovecot"}))
    assert delivery_mode(kinds) is Delivery.MIXED
    finding = judge_hooks(postconf, kinds)
    assert finding.status is Status.WARNING
    assert "mailbox_transport, mailbox_command still reach the LDA" in finding.summary
    assert "local(8) ignores mailbox_command" in finding.details[0]


def test_local_transport_straight_to_lmtp_bypasses_aliases() -> None:
    postconf = _lmtp({"local_transport": "lmtp:unix:private/dovecot-lmtp"})
    finding = judge_hooks(postconf, hook_kinds(postconf, frozenset()))
    assert finding.status is Status.WARNING and "aliases" in finding.summary


def test_clean_lmtp_hooks_pass() -> None:
    postconf = _lmtp({"virtual_transport": "lmtp:unix:private/dovecot-lmtp"})
    kinds = hook_kinds(postconf, frozenset({"dovecot"}))
    assert judge_hooks(postconf, kinds).status is Status.OK
    assert lmtp_endpoint(postconf, kinds) == Endpoint(
        "lmtp:unix:private/dovecot-lmtp", socket_path=SOCKET
    )


def test_a_virtual_domain_in_mydestination_is_critical() -> None:
    postconf = {
        "mydestination": "localhost, Example.test",
        "virtual_mailbox_domains": "example.test",
    }
    finding = judge_domains(postconf, {"virtual_transport": "lmtp"})
    assert finding.status is Status.CRITICAL and finding.summary.startswith("example.test")
    maps = {"virtual_mailbox_domains": "hash:/etc/postfix/vdomains", "mydestination": "x"}
    assert judge_domains(maps, {}).details == (
        "tables not compared with mydestination: hash:/etc/postfix/vdomains",
    )


DOVECOT_23 = """\
mail_plugins = " quota"
protocols = " imap lmtp"
protocol lda {
  mail_plugins = " quota sieve"
}
protocol lmtp {
  mail_plugins = " $mail_plugins"
}
"""
DOVECOT_24 = """\
mail_plugins {
  quota = yes
}
protocol lda {
  mail_plugins {
    sieve = yes
  }
}
protocol lmtp {
  mail_plugins {
    sieve = yes
  }
}
"""


def test_lmtp_without_the_plugins_lda_had_is_critical() -> None:
    settings = parse_doveconf(DOVECOT_23.splitlines())
    assert plugins(settings, "protocol lda") == {"quota", "sieve"}
    assert plugins(settings, "protocol lmtp") == {"quota"}
    finding = judge_dovecot(settings, "imap lmtp")
    assert finding.status is Status.CRITICAL and "sieve" in finding.summary


def test_dovecot_24_plugin_blocks_add_to_the_global_ones() -> None:
    settings = parse_doveconf(DOVECOT_24.splitlines())
    assert plugins(settings, "protocol lmtp") == {"quota", "sieve"}
    assert judge_dovecot(settings, "imap lmtp").status is Status.OK
    assert judge_dovecot(settings, "imap pop3").status is Status.CRITICAL


def _socket(kind: str = "socket", owner: str = "postfix", mode: int = 0o600) -> HostState:
    return HostState({SOCKET: PathState(SOCKET, kind, owner, "postfix", mode)}, (), ())


@pytest.mark.parametrize(
    ("state", "status", "words"),
    [
        (_socket(), Status.OK, "postfix 0600"),
        (_socket(mode=0o666), Status.CRITICAL, "mode 0666, want 0600"),
        (_socket(owner="dovecot"), Status.CRITICAL, "owner dovecot, want postfix"),
        (_socket(kind="missing"), Status.CRITICAL, "missing"),
        (_socket(kind="regular file"), Status.CRITICAL, "not a socket"),
    ],
)
def test_the_socket_is_postfix_only(state: HostState, status: Status, words: str) -> None:
    endpoint = Endpoint.default_unix("/var/spool/postfix")
    finding = judge_listener(endpoint, state, "postfix")
    assert finding.status is status and words in finding.summary


@pytest.mark.parametrize(
    ("listeners", "status"),
    [
        (("127.0.0.1:24", "0.0.0.0:22"), Status.OK),
        (("[::1]:24",), Status.OK),
        (("[::]:24",), Status.CRITICAL),
        (("0.0.0.0:24",), Status.CRITICAL),
        (("*:24",), Status.CRITICAL),
        (("10.0.0.5:24", "127.0.0.1:24"), Status.CRITICAL),
        (("127.0.0.1:2424",), Status.CRITICAL),
    ],
)
def test_a_tcp_listener_must_be_loopback_only(listeners: tuple[str, ...], status: Status) -> None:
    endpoint = Endpoint.from_postfix("lmtp:inet:127.0.0.1:24", "/var/spool/postfix")
    assert judge_listener(endpoint, HostState({}, listeners, ()), "postfix").status is status


def test_parse_state() -> None:
    # Listening sockets as /proc/net/tcp and tcp6 list them (captured from a lab host).
    output = (
        "== stat\nsocket|postfix|postfix|666|/s\nmissing||||/var/vmail\n"
        "== listen\n0BA5E70A:0016\n0100007F:0018\n00000000:0019\n"
        "00000000000000000000000001000000:0018\n00000000000000000000000000000000:008F\n"
        "\n== log\nline one\n"
    )
    state = parse_state(output)
    assert state.paths["/s"] == PathState("/s", "socket", "postfix", "postfix", 0o666)
    assert state.paths["/var/vmail"].kind == "missing"
    assert state.listeners == (
        "10.231.165.11:22",
        "127.0.0.1:24",
        "0.0.0.0:25",
        "[::1]:24",
        "[::]:143",
    )
    assert state.log_lines == ("line one",)


def test_log_errors_are_counted_by_symptom() -> None:
    lines = [
        "postfix/lmtp[9]: 1A: to=<a@x>, relay=none, status=deferred (connect to "
        "h[private/dovecot-lmtp]: Permission denied)",
        "dovecot: lmtp(b@x): Error: User doesn't exist",
        "dovecot: lmtp(c@x): Error: Permission denied",
    ]
    finding = judge_log(lines, "/var/log/mail.log")
    assert finding.status is Status.WARNING
    assert '2 "permission denied"' in finding.summary and '1 "user doesn\'t exist"' in (
        finding.summary
    )
    assert judge_log([], "journald").status is Status.OK
    assert "not searched" in judge_log([], "").summary
    dovecot_only = judge_log(lines[1:], "", "/var/log/dovecot.log")
    assert dovecot_only.summary.startswith("delivery errors in /var/log/dovecot.log: ")
    assert dovecot_only.details[-1] == "Postfix keeps no log on this host: not searched"


def test_mail_deferred_at_the_lmtp_socket_is_counted() -> None:
    def entry(queue: str, reason: str) -> dict[str, object]:
        return {"queue_name": queue, "recipients": [{"address": "a@x", "delay_reason": reason}]}

    queue = [
        entry("deferred", "connect to h[private/dovecot-lmtp]: Permission denied"),
        entry("deferred", "host h[private/dovecot-lmtp] said: 452 4.2.2 Quota exceeded"),
        entry("deferred", "connect to mx.example[1.2.3.4]:25: Connection timed out"),
        entry("hold", "connect to h[private/dovecot-lmtp]: Permission denied"),
    ]
    assert deferred(queue, Endpoint.default_unix("/var/spool/postfix")) == (3, 2)
    assert deferred(queue, None) == (3, 0)
    tcp = Endpoint.from_postfix("lmtp:inet:127.0.0.1:24", "/q")
    assert deferred([entry("active", "connect to 127.0.0.1[127.0.0.1]:24: refused")], tcp) == (1, 1)


def test_a_world_writable_mail_root_is_critical() -> None:
    def state(mode: int) -> HostState:
        return HostState(
            {"/var/vmail": PathState("/var/vmail", "directory", "vmail", "vmail", mode)}, (), ()
        )

    assert judge_mail_root("/var/vmail", state(0o777)).status is Status.CRITICAL
    assert judge_mail_root("/var/vmail", state(0o750)).status is Status.OK
    assert judge_mail_root("/var/vmail", HostState({}, (), ())).status is Status.WARNING
    assert judge_mail_root(None, HostState({}, (), ())).status is Status.OK


@pytest.mark.parametrize(
    ("mail", "root"),
    [
        ({"mail_location": "maildir:/var/vmail/%d/%n/Maildir"}, "/var/vmail"),
        ({"mail_location": "mdbox:/srv/mail/%u:INDEX=/idx"}, "/srv/mail"),
        ({"mail_path": "/var/mail/%{user | domain}"}, "/var/mail"),
        ({"mail_location": "maildir:~/Maildir"}, None),
    ],
)
def test_mail_root(mail: dict[str, str], root: str | None) -> None:
    assert mail_root(mail, []) == root


def test_dovecot_24_home_and_protocols() -> None:
    """Captured from a trixie lab host (Dovecot 2.4.1): a block of protocols, userdb fields."""
    output = """\
== doveconf
mail_driver = maildir
mail_path = ~/Maildir
protocols {
  imap = yes
  lmtp = yes
}
userdb static {
  fields {
    gid = vmail
    home = /var/vmail/%{user | domain}/%{user | username}
    uid = vmail
  }
}
== protocols
imap = yes
lmtp = yes
== mail
mail_location=
mail_path=~/Maildir
mail_home=
"""
    config = parse_config(output)
    assert config.protocols == "imap lmtp"
    assert mail_root(config.mail, parse_doveconf(config.doveconf)) == "/var/vmail"


NOW = 1796175971.0  # 2026-12-02T01:46:11Z


@pytest.mark.parametrize(
    ("line", "offset", "kept"),
    [
        ("Dec 02 01:46:11 h postfix/lmtp[1]: ... Permission denied", 0, True),
        ("Dec  2 00:40:00 h postfix/lmtp[1]: ... Permission denied", 0, False),
        ("Dec  2 02:30:00 h dovecot: lmtp: quota", 3600, True),  # 01:30 UTC, host at +01:00
        ("2026-12-02T01:00:00+00:00 h postfix/lmtp[1]: refused", 0, True),
        ("2026-12-02T00:00:00+0000 h postfix/lmtp[1]: refused", 0, False),
        ("2026-12-01T20:50:00-0500 h dovecot: User doesn't exist", 0, True),
        ("no stamp: dovecot: lmtp: quota", 0, True),
    ],
)
def test_only_the_last_hour_of_the_log_counts(line: str, offset: int, kept: bool) -> None:
    assert recent([line], NOW, 2026, offset, 3600) == ([line] if kept else [])


def test_december_lines_read_in_january_are_last_year() -> None:
    new_year = 1798761600.0 + 600  # 2027-01-01T00:10:00Z
    assert recent(["Dec 31 23:59:00 h dovecot: quota"], new_year, 2027, 0, 3600) != []
    assert recent(["Dec 30 23:59:00 h dovecot: quota"], new_year, 2027, 0, 3600) == []


def test_the_hosts_clock_is_read() -> None:
    state = parse_state("== now\n1796175971 -0130 2026\n")
    assert (state.now, state.utc_offset, state.year) == (NOW, -5400, 2026)
    assert parse_state("== now\n").now is None
