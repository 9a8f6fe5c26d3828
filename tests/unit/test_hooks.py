"""LDA discovery from master.cf argv and main.cf values (pure)."""

from __future__ import annotations

from migrator.config.postfix import MasterEntry
from migrator.rules.hooks import (
    Destination,
    HookKind,
    lda_services,
    param_hooks,
    parse_lda_argv,
    wrapped_ldas,
)
from migrator.rules.lda_options import unreproduced


def _pipe(name: str, argv: str, user: str = "vmail:vmail", flags: str = "DRhu") -> MasterEntry:
    words = tuple(argv.split())
    return MasterEntry(
        name, "unix", "n", "n", f"pipe flags={flags} user={user} argv={argv}", "pipe",
        (("flags", flags), ("user", user)), words,
    )  # fmt: skip


def test_parse_lda_argv() -> None:
    args = parse_lda_argv(
        ["/usr/libexec/dovecot/dovecot-lda", "-e", "-f", "${sender}", "-d", "${user}",
         "-m", "${extension}", "-a", "${original_recipient}"]
    )  # fmt: skip
    assert args.exit_tempfail
    assert (args.sender, args.destination, args.mailbox) == ("${sender}", "${user}", "${extension}")
    assert args.address == "${original_recipient}"
    assert args.destination_kind is Destination.LOCAL_PART
    assert args.detail_mailbox
    assert parse_lda_argv(["deliver", "-d", "${user}@${nexthop}"]).destination_kind is (
        Destination.FULL_ADDRESS
    )
    assert parse_lda_argv(["deliver"]).destination_kind is Destination.RUNNING_USER
    assert parse_lda_argv(["deliver", "-c", "/etc/x.conf"]).config == "/etc/x.conf"


def test_lda_words_lmtp_would_not_reproduce() -> None:
    """Every option but those migrator reproduces or refuses by name is kept, with its value
    and once per use (two -o are two settings); -k and -r naming the recipient are what LMTP
    does anyway, the rest are named for refusal."""
    args = parse_lda_argv(
        ["dovecot-lda", "-o", "mail_plugins=quota", "-d", "${recipient}", "-k",
         "-o", "plugin/sieve=no", "-r", "${recipient}", "-p", "/tmp/mail", "stray"]
    )  # fmt: skip
    assert args.destination == "${recipient}"
    assert args.others == (
        "-o mail_plugins=quota", "-k", "-o plugin/sieve=no", "-r ${recipient}", "-p /tmp/mail",
        "stray",
    )  # fmt: skip
    assert unreproduced(args) == [
        "-o mail_plugins=quota", "-o plugin/sieve=no", "-p /tmp/mail", "stray"
    ]  # fmt: skip
    assert unreproduced(parse_lda_argv(["deliver", "-e", "-k", "-n", "-r", '"$RECIPIENT"'])) == []
    assert unreproduced(parse_lda_argv(["deliver", "-r", "${original_recipient}"])) == [
        "-r ${original_recipient}"
    ]


def test_services_any_name_any_path() -> None:
    entries = [
        _pipe("dovecot", "/usr/lib/dovecot/dovecot-lda -f ${sender} -d ${recipient}"),
        _pipe("vmail-lda", "/usr/libexec/dovecot/deliver -d ${recipient}", user="vmail"),
        _pipe("mailman", "/usr/lib/mailman/bin/postfix-to-mailman.py ${nexthop} ${user}"),
    ]
    found = {s.name: s for s in lda_services(entries)}
    assert set(found) == {"dovecot", "vmail-lda"}
    assert (found["dovecot"].user, found["dovecot"].group) == ("vmail", "vmail")
    assert (found["vmail-lda"].user, found["vmail-lda"].group) == ("vmail", None)
    assert wrapped_ldas(entries) == []


def test_wrapped_lda() -> None:
    entry = _pipe("spam", "/usr/bin/spamc -u ${user} -e /usr/lib/dovecot/deliver -d ${user}")
    assert lda_services([entry]) == []
    (wrapped,) = wrapped_ldas([entry])
    assert (wrapped.name, wrapped.wrapper, wrapped.lda) == (
        "spam",
        "/usr/bin/spamc",
        "/usr/lib/dovecot/deliver",
    )


def test_param_hooks() -> None:
    params = {
        "virtual_transport": "dovecot",
        "fallback_transport": "dovecot:[nexthop]",
        "mailbox_command": '/usr/lib/dovecot/dovecot-lda -f "$SENDER" -a "$RECIPIENT"',
        "relay_transport": "relay",
    }
    hooks = param_hooks("/etc/postfix/main.cf", params)
    assert [(h.name, h.transport) for h in hooks] == [
        ("virtual_transport", "dovecot"),
        ("fallback_transport", "dovecot"),
        ("mailbox_command", ""),
    ]
    assert hooks[-1].kind is HookKind.MAILBOX_COMMAND
