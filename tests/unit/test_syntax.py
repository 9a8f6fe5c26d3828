"""Dovecot 2.3 and 2.4 syntax: which one a host speaks, user name formats, protocols lists."""

from __future__ import annotations

import pytest

from migrator.config.dovecot import BlockRef, DovecotConfig, Setting
from migrator.errors import RefusedError
from migrator.host.facts import Facts
from migrator.rules.syntax import (
    DOVECOT_23,
    DOVECOT_24,
    DovecotSyntax,
    dovecot_syntax,
    effective_protocols,
)

PROTOCOLS = (BlockRef("protocols"),)


def _config(*settings: Setting) -> DovecotConfig:
    return DovecotConfig("/etc/dovecot/dovecot.conf", ("/etc/dovecot/dovecot.conf",), settings, ())


def _facts(version: str | None) -> Facts:
    return Facts(
        host="mx1",
        live=False,
        postfix_version=None,
        dovecot_version=version,
        config_directory="/etc/postfix",
        queue_directory="/var/spool/postfix",
        mail_owner="postfix",
        mail_owner_group="postfix",
        dovecot_config="/etc/dovecot/dovecot.conf",
        lmtp_binary=None,
        lmtp_binary_known=False,
        dovecot_files=(),
        userdb=None,
    )


VERSION_24 = Setting("/etc/dovecot/dovecot.conf", (), "dovecot_config_version", "2.4.0", 1)


def test_syntax_from_the_running_version_or_the_config() -> None:
    assert dovecot_syntax(_facts("2.3.19.1 (9b53102964)"), _config()) is DOVECOT_23
    assert dovecot_syntax(_facts("2.4.1-4 (7d8c0e5759)"), _config(VERSION_24)) is DOVECOT_24
    assert dovecot_syntax(_facts(None), _config(VERSION_24)) is DOVECOT_24
    assert dovecot_syntax(_facts(None), _config()) is DOVECOT_23


def test_a_config_in_the_other_syntax_is_refused_naming_the_file() -> None:
    with pytest.raises(RefusedError, match=r"2\.3 syntax, which Dovecot 2\.4 does not read"):
        dovecot_syntax(_facts("2.4.1"), _config())
    with pytest.raises(RefusedError, match=r"2\.4 syntax") as caught:
        dovecot_syntax(_facts("2.3.19.1"), _config(VERSION_24))
    assert (caught.value.path, caught.value.line) == ("/etc/dovecot/dovecot.conf", 1)
    with pytest.raises(RefusedError, match=r"2\.2\.36 is not supported"):
        dovecot_syntax(_facts("2.2.36"), _config())


@pytest.mark.parametrize(
    ("syntax", "value", "strips"),
    [
        (DOVECOT_23, "%Ln", True),
        (DOVECOT_23, "%n", True),
        (DOVECOT_23, "%{username}", True),
        (DOVECOT_23, "%Lu", False),
        (DOVECOT_23, None, False),
        (DOVECOT_24, "%{user | username | lower}", True),
        (DOVECOT_24, "%{user|username}", True),
        (DOVECOT_24, "%{user | lower}", False),
        (DOVECOT_24, "%{user | domain}", False),
        (DOVECOT_24, None, False),
    ],
)
def test_which_formats_strip_the_domain(
    syntax: DovecotSyntax, value: str | None, strips: bool
) -> None:
    assert syntax.strips_domain(value) is strips


def test_protocols_lists_in_both_syntaxes() -> None:
    f = "/etc/dovecot/dovecot.conf"
    stock_24 = _config(
        Setting(f, PROTOCOLS, "imap", "yes"),
        Setting(f, PROTOCOLS, "lmtp", "yes"),
    )
    assert effective_protocols(stock_24, DOVECOT_24) == "imap lmtp"
    wiped = _config(*stock_24.settings, Setting(f, (), "protocols", "imap"))
    assert effective_protocols(wiped, DOVECOT_24) == "imap"
    removed = _config(*stock_24.settings, Setting(f, PROTOCOLS, "lmtp", "no"))
    assert effective_protocols(removed, DOVECOT_24) == "imap"
    expanded = _config(Setting(f, (), "protocols", "$protocols lmtp"))
    assert effective_protocols(expanded, DOVECOT_23, "imap pop3") == "imap pop3 lmtp"
    assert effective_protocols(_config(Setting(f, (), "protocols", "none")), DOVECOT_23) == ""
