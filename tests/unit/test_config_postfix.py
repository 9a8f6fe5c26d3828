"""Postfix helpers through the stock lenses; a write the lens cannot put is a typed error."""

from __future__ import annotations

import pytest

from migrator.config import postfix
from migrator.config.tree import ConfigTree
from migrator.errors import ConfigParseError

MAIN = "/etc/postfix/main.cf"
MASTER = "/etc/postfix/master.cf"
MAP = "/etc/postfix/transport"
FILES = {
    MAIN: b"# main\nmydestination = localhost,\n    example.test\nmailbox_command = /x -a y\n",
    MASTER: b"dovecot   unix  -       n       n       -       -       pipe\n"
    b"  flags=DRhu user=vmail:vmail argv=/usr/lib/dovecot/deliver -f ${sender} -d ${user}\n",
    MAP: b"example.test dovecot:\nother.test smtp:[relay]\n",
}
LENSES = {MAIN: postfix.MAIN_LENS, MASTER: postfix.MASTER_LENS, MAP: postfix.TRANSPORT_LENS}


def _tree() -> ConfigTree:
    return ConfigTree("h", FILES, LENSES)


def test_read() -> None:
    with _tree() as tree:
        assert postfix.main_params(tree, MAIN)["mydestination"] == "localhost, example.test"
        (entry,) = postfix.master_entries(tree, MASTER)
        entries = postfix.transport_entries(tree, MAP)
    assert entry.program == "pipe"
    assert entry.attribute("user") == "vmail:vmail"
    assert entry.argv == ("/usr/lib/dovecot/deliver", "-f", "${sender}", "-d", "${user}")
    assert [(e.pattern, e.transport, e.nexthop) for e in entries] == [
        ("example.test", "dovecot", ""),
        ("other.test", "smtp", "[relay]"),
    ]


def test_edits_keep_other_lines() -> None:
    with _tree() as tree:
        postfix.remove_main_param(tree, MAIN, "mailbox_command")
        postfix.set_main_param(tree, MAIN, "mailbox_transport", "lmtp:unix:private/dovecot-lmtp")
        postfix.set_transport_entry(tree, MAP, "example.test", "lmtp:unix:private/dovecot-lmtp")
        saved = tree.save()
    assert saved[MAIN] == (
        b"# main\nmydestination = localhost,\n    example.test\n"
        b"mailbox_transport = lmtp:unix:private/dovecot-lmtp\n"
    )
    assert saved[MAP] == b"example.test lmtp:unix:private/dovecot-lmtp\nother.test smtp:[relay]\n"
    assert saved[MASTER] == FILES[MASTER]


def test_unwritable_value_is_a_config_error() -> None:
    with _tree() as tree:
        postfix.set_main_param(tree, MAIN, "bad", "two\n\nparagraphs")
        with pytest.raises(ConfigParseError, match=MAIN):
            tree.save()


def test_transport_entry_must_match_one_record() -> None:
    with _tree() as tree, pytest.raises(ConfigParseError, match="exactly one"):
        postfix.set_transport_entry(tree, MAP, "missing.test", "lmtp:x")


def test_parameter_set_twice_changes_the_line_postfix_uses() -> None:
    text = b"virtual_transport = old\nvirtual_transport = dovecot\n"
    with ConfigTree("h", {MAIN: text}, {MAIN: postfix.MAIN_LENS}) as tree:
        postfix.set_main_param(tree, MAIN, "virtual_transport", "lmtp:unix:private/dovecot-lmtp")
        saved = tree.save()[MAIN]
    assert saved == b"virtual_transport = old\nvirtual_transport = lmtp:unix:private/dovecot-lmtp\n"
