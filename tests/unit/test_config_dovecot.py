"""Dovecot helpers through the lens: the Augeas traps stay out of the tree."""

from __future__ import annotations

import pytest

from migrator.config.dovecot import (
    LENS,
    BlockRef,
    DovecotConfig,
    parse_file,
    read_config,
    set_setting,
)
from migrator.config.tree import ConfigTree
from migrator.errors import ConfigParseError

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


def _read_files(texts: dict[str, bytes]) -> DovecotConfig:
    with ConfigTree("h", texts, dict.fromkeys(texts, LENS)) as tree:
        parsed = {path: parse_file(tree, path) for path in texts}
    return read_config("h", parsed, CONF, list(texts))


def test_a_file_included_twice_is_read_twice_not_a_loop() -> None:
    """Dovecot accepts the same file included twice (sovereign's protocols.d): not a loop."""
    part = "/etc/dovecot/part.conf"
    config = _read_files(
        {CONF: b"!include part.conf\nprotocols = imap\n!include part.conf\n", part: b"x = 1\n"}
    )
    assert config.files == (CONF, part)
    assert [s.key for s in config.settings] == ["x", "protocols", "x"]


def test_a_file_including_itself_through_the_chain_is_a_loop() -> None:
    part = "/etc/dovecot/part.conf"
    texts = {CONF: b"!include part.conf\n", part: b"!include dovecot.conf\n"}
    with pytest.raises(ConfigParseError, match=r"include loop: .*part\.conf -> .*dovecot\.conf"):
        _read_files(texts)


def test_an_empty_value_is_written_as_key_equals_nothing_wherever_it_goes() -> None:
    """``protocol lda { mail_plugins = }`` copied into ``protocol lmtp`` means "no plugins":
    Augeas's set() stores "" (which the lens cannot write), so each way set_setting makes or
    finds a setting must leave it with no value instead."""
    text = b"protocol lmtp {\n  mail_plugins = x\n  mail_plugins = y\n}\n#mail_debug = no\n"
    with _tree(text) as tree:
        set_setting(tree, CONF, (BlockRef("protocol", "lmtp"),), "mail_plugins", "")
        set_setting(tree, CONF, (BlockRef("protocol", "imap"),), "mail_plugins", "")
        set_setting(tree, CONF, (BlockRef("mail_plugins"),), "sieve", "")
        set_setting(tree, CONF, (), "mail_debug", "")
        set_setting(tree, CONF, (), "postmaster_address", "")
        saved = tree.save()[CONF]
    assert saved == (
        b"protocol lmtp {\n  mail_plugins = x\n  mail_plugins =\n}\n#mail_debug = no\n"
        b"mail_debug =\nprotocol imap {\n  mail_plugins =\n}\nmail_plugins {\n  sieve =\n}\n"
        b"postmaster_address =\n"
    )
