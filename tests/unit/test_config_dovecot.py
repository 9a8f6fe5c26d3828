"""Dovecot helpers through the lens: the Augeas traps stay out of the tree."""

from __future__ import annotations

from migrator.config.dovecot import (
    LENS,
    BlockRef,
    DovecotConfig,
    parse_file,
    read_config,
    set_setting,
)
from migrator.config.tree import ConfigTree

CONF = "/etc/dovecot/dovecot.conf"
TEXT = b"""\
# top
protocols = imap # lmtp later
service lmtp {
  unix_listener lmtp {
    #mode = 0666
  }
}
"""


def _tree(text: bytes = TEXT) -> ConfigTree:
    return ConfigTree("h", {CONF: text}, {CONF: LENS})


def _read(tree: ConfigTree) -> DovecotConfig:
    return read_config("h", {CONF: parse_file(tree, CONF)}, CONF, [CONF])


def test_read_settings_and_blocks() -> None:
    with _tree() as tree:
        config = _read(tree)
    assert config.value("protocols") == "imap"
    assert (BlockRef("service", "lmtp"), BlockRef("unix_listener", "lmtp")) in [
        b.chain for b in config.blocks
    ]


def test_nested_set_creates_one_listener_and_nothing_else() -> None:
    chain = (BlockRef("service", "lmtp"), BlockRef("unix_listener", "/var/spool/x/private/y"))
    with _tree() as tree:
        for key, value in (("mode", "0600"), ("user", "postfix"), ("group", "postfix")):
            set_setting(tree, CONF, chain, key, value)
        text = tree.save()[CONF].decode()
    with _tree(text.encode()) as again:  # read back through the lens, afresh
        config = _read(again)
    assert text.count("unix_listener /var/spool/x/private/y") == 1
    assert config.block_settings(chain) == {"mode": "0600", "user": "postfix", "group": "postfix"}
    assert text.startswith(TEXT.decode().rsplit("}", 1)[0])


def test_set_existing_keeps_trailing_comment() -> None:
    with _tree() as tree:
        set_setting(tree, CONF, (), "protocols", "imap lmtp")
        text = tree.save()[CONF].decode()
    assert "protocols = imap lmtp # lmtp later\n" in text


def test_new_setting_lands_below_its_commented_default() -> None:
    chain = (BlockRef("service", "lmtp"), BlockRef("unix_listener", "lmtp"))
    with _tree() as tree:
        set_setting(tree, CONF, chain, "mode", "0660")
        text = tree.save()[CONF].decode()
    assert "    #mode = 0666\n    mode = 0660\n  }" in text
