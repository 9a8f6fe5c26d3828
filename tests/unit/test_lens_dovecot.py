"""The project's Dovecot lens, side by side with the stock one, on real files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from augeas import Augeas

from migrator.config.dovecot import BlockRef, set_setting
from migrator.config.tree import ConfigTree
from migrator.lenses import DOVECOT_LENS
from tests.unit import lens_files
from tests.unit.drawn_configs import draw_dovecot_conf
from tests.unit.hosts import MOUNT, ReleaseTools

SAMPLES = Path(__file__).parent / "lens_samples"
LMTP_SOCKET = "/var/spool/postfix/private/dovecot-lmtp"

STOCK = SAMPLES / "stock"
STOCK_FILES = sorted(p for p in STOCK.glob("debian*/dovecot/**/*") if p.is_file())
"""Debian 11's, 12's and 13's stock Dovecot files, copied from each release's packages."""

STOCK_UNREADABLE = {
    "debian11/dovecot/dovecot-dict-auth.conf.ext": "key passdb {",
    "debian12/dovecot/dovecot-dict-auth.conf.ext": "key passdb {",
    "debian13/dovecot/conf.d/30-dict-server.conf": "dict_server {",
    "debian13/dovecot/protocols.d/imapd.protocol": "protocols {",
    "debian13/dovecot/protocols.d/lmtpd.protocol": "protocols {",
}
"""Stock files the stock lens cannot read, each with the line it stops at."""


def _mine(root: Path, incl: str) -> Augeas:
    return lens_files.open_lens(root, DOVECOT_LENS, incl)


# -- the stock Debian files ---------------------------------------------------------------


@pytest.mark.parametrize("src", STOCK_FILES, ids=lambda p: str(p.relative_to(STOCK)))
def test_stock_file_same_tree_and_bytes(src: Path, tmp_path: Path) -> None:
    fpath = "/etc/dovecot/" + src.name
    dest = lens_files.copy_in(src, tmp_path, fpath)
    stock = lens_files.open_lens(tmp_path, "Dovecot", fpath)
    mine = _mine(tmp_path, fpath)
    assert lens_files.errors(mine) == []
    unreadable = STOCK_UNREADABLE.get(str(src.relative_to(STOCK)))
    if unreadable is not None:
        assert lens_files.errors(stock) != []
        line = int(stock.get(f"/augeas/files{fpath}/error/line") or 0)
        assert src.read_text().splitlines()[line - 1].strip() == unreadable
    else:
        assert lens_files.errors(stock) == []
        assert lens_files.tree(mine, f"/files{fpath}") == lens_files.tree(stock, f"/files{fpath}")
    lens_files.rewrite(mine, fpath)
    assert dest.read_bytes() == src.read_bytes()


# -- constructs the stock lens rejects, one sample file per case --------------------------


SAMPLE_FILES = sorted(p for p in SAMPLES.iterdir() if p.is_file() and not p.name.endswith(".tree"))


@pytest.mark.parametrize("src", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_tree_and_round_trip(src: Path, tmp_path: Path) -> None:
    fpath = f"/etc/dovecot/conf.d/{src.name}"
    dest = lens_files.copy_in(src, tmp_path, fpath)
    stock = lens_files.open_lens(tmp_path, "Dovecot", fpath)
    if lens_files.errors(stock) == []:
        with pytest.raises(OSError):  # it reads it, then cannot write it back
            lens_files.rewrite(stock, fpath)
    dest.write_bytes(src.read_bytes())
    lens_files.assert_reads_as_sampled(_mine(tmp_path, fpath), src, dest, fpath)


def test_trailing_comment_is_a_child_and_survives_a_new_value(tmp_path: Path) -> None:
    fpath = "/etc/dovecot/conf.d/comments.conf"
    dest = lens_files.copy_in(SAMPLES / "comments.conf", tmp_path, fpath)
    aug = _mine(tmp_path, fpath)
    aug.set(f"/files{fpath}/mail_plugins", "$mail_plugins sieve quota")
    aug.save()
    assert lens_files.errors(aug) == []
    first = dest.read_text().splitlines()[0]
    assert first == "mail_plugins = $mail_plugins sieve quota # for the lmtp move"


# -- new nodes ----------------------------------------------------------------------------


@pytest.fixture
def etc_copy(tmp_path: Path) -> Path:
    """A copy of Debian 12's stock /etc/dovecot (the lab's bookworm root, never this
    machine's) under tmp_path, with ssl off for doveconf."""
    stock = ReleaseTools("bookworm", tmp_path).root / "etc/dovecot"
    shutil.copytree(stock, tmp_path / "etc/dovecot", symlinks=True)
    aug = _mine(tmp_path, "/etc/dovecot/conf.d/10-ssl.conf")
    aug.set("/files/etc/dovecot/conf.d/10-ssl.conf/ssl", "no")
    aug.save()
    assert lens_files.errors(aug) == []
    return tmp_path


def _doveconf(root: Path) -> str:
    """doveconf -n on the tree's dovecot.conf, by Debian 12's Dovecot (the bookworm root)."""
    return ReleaseTools("bookworm", root).run(
        ["doveconf", "-c", f"{MOUNT}/etc/dovecot/dovecot.conf", "-n"]
    )


NEW_LISTENER = f"""\
  unix_listener {LMTP_SOCKET} {{
    mode = 0600
    user = postfix
    group = postfix
  }}
"""


def _add_lmtp_listener(aug: Augeas, service: str) -> None:
    """The right way: make the listener in its own step, then set its children."""
    aug.set(f"{service}/unix_listener[last()+1]", LMTP_SOCKET)
    listener = f"{service}/unix_listener[.='{LMTP_SOCKET}']"
    assert len(aug.match(listener)) == 1
    for key, value in (("mode", "0600"), ("user", "postfix"), ("group", "postfix")):
        aug.set(f"{listener}/{key}", value)


def test_new_listener_in_debian_master_conf(etc_copy: Path) -> None:
    fpath = "/etc/dovecot/conf.d/10-master.conf"
    before = (etc_copy / fpath.lstrip("/")).read_text()
    aug = _mine(etc_copy, fpath)
    service = f"/files{fpath}/service[.='lmtp']"
    assert len(aug.match(service)) == 1
    _add_lmtp_listener(aug, service)
    aug.save()
    assert lens_files.errors(aug) == []

    # the listener goes last in "service lmtp", after the commented-out inet_listener
    anchor = "    #port = \n  #}\n"
    at = before.index(anchor, before.index("service lmtp {")) + len(anchor)
    expected = before[:at] + NEW_LISTENER + before[at:]
    assert (etc_copy / fpath.lstrip("/")).read_text() == expected

    again = _mine(etc_copy, fpath)
    listeners = again.match(f"{service}/unix_listener")
    assert [again.get(p) for p in listeners] == ["lmtp", LMTP_SOCKET]
    assert again.get(f"{service}/unix_listener[.='{LMTP_SOCKET}']/user") == "postfix"
    out = _doveconf(etc_copy)
    assert f"unix_listener {LMTP_SOCKET} {{\n    group = postfix\n    mode = 0600" in out


def test_new_blocks_in_a_fresh_file(etc_copy: Path) -> None:
    fpath = "/etc/dovecot/conf.d/99-migrator.conf"
    aug = _mine(etc_copy, "/etc/dovecot/conf.d/*.conf")
    base = f"/files{fpath}"
    aug.set(f"{base}/protocol[last()+1]", "lmtp")
    aug.set(f"{base}/protocol[.='lmtp']/mail_plugins", "$mail_plugins sieve")
    aug.set(f"{base}/service[last()+1]", "lmtp")
    _add_lmtp_listener(aug, f"{base}/service[.='lmtp']")
    aug.save()
    assert lens_files.errors(aug) == []
    assert (etc_copy / fpath.lstrip("/")).read_text() == (
        "protocol lmtp {\n"
        "  mail_plugins = $mail_plugins sieve\n"
        "}\n"
        "service lmtp {\n" + NEW_LISTENER + "}\n"
    )
    out = _doveconf(etc_copy)
    # doveconf expands $mail_plugins (empty on Debian) and merges both "protocol lmtp"
    assert 'protocol lmtp {\n  mail_plugins = " sieve"\n}' in out
    assert f"unix_listener {LMTP_SOCKET} {{" in out


def test_right_way_makes_one_listener_wrong_way_makes_a_bare_one(tmp_path: Path) -> None:
    fpath = "/etc/dovecot/conf.d/10-master.conf"
    src = SAMPLES / "listeners.conf"
    lens_files.copy_in(src, tmp_path, fpath)
    aug = _mine(tmp_path, fpath)
    service = f"/files{fpath}/service[.='lmtp']"
    path = "/run/dovecot/lmtp-new"

    # the augeas.md trap, for the record: a set through a missing [.='x'] makes a bare node
    aug.set(f"{service}/unix_listener[.='{path}']/mode", "0600")
    assert aug.match(f"{service}/unix_listener[.='{path}']") == []
    bare = [p for p in aug.match(f"{service}/unix_listener") if aug.get(p) is None]
    assert len(bare) == 1
    aug.remove(bare[0])

    aug.set(f"{service}/unix_listener[last()+1]", path)
    aug.set(f"{service}/unix_listener[.='{path}']/mode", "0600")
    aug.set(f"{service}/unix_listener[.='{path}']/user", "dovecot")
    assert len(aug.match(f"{service}/unix_listener[.='{path}']")) == 1
    assert all(aug.get(p) is not None for p in aug.match(f"{service}/unix_listener"))
    aug.save()
    assert lens_files.errors(aug) == []
    text = (tmp_path / fpath.lstrip("/")).read_text()
    assert f"  unix_listener {path} {{\n    mode = 0600\n    user = dovecot\n  }}\n}}\n" in text


def test_childless_new_node_is_a_setting_and_empty_blocks_stay_blocks(tmp_path: Path) -> None:
    fpath = "/etc/dovecot/conf.d/x.conf"
    dest = lens_files.write_in(tmp_path, fpath, "service imap {\n}\nplugin {\n  # nothing yet\n}\n")
    aug = _mine(tmp_path, fpath)
    aug.set(f"/files{fpath}/service[.='imap']/../mail_debug", "yes")
    aug.set(f"/files{fpath}/plugin/sieve", "file:~/sieve")
    aug.save()
    assert lens_files.errors(aug) == []
    assert dest.read_text() == (
        "service imap {\n}\n"
        "plugin {\n  # nothing yet\n  sieve = file:~/sieve\n}\n"
        "mail_debug = yes\n"
    )


def test_value_dovecot_would_cut_at_hash_fails_the_save(tmp_path: Path) -> None:
    fpath = "/etc/dovecot/conf.d/x.conf"
    dest = lens_files.write_in(tmp_path, fpath, "login_greeting = Ready\n")
    aug = _mine(tmp_path, fpath)
    aug.set(f"/files{fpath}/login_greeting", "Ready # not a comment")
    with pytest.raises(OSError):
        aug.save()
    assert dest.read_text() == "login_greeting = Ready\n"
    aug.set(f"/files{fpath}/login_greeting", '"Ready # quoted"')
    aug.save()
    assert dest.read_text() == 'login_greeting = "Ready # quoted"\n'


def test_nesting_beyond_the_explicit_levels_is_a_parse_error(tmp_path: Path) -> None:
    fpath = "/etc/dovecot/conf.d/x.conf"
    opening = "".join(f"b{n} {{\n" for n in range(6))
    dest = lens_files.write_in(tmp_path, fpath, opening + "k = v\n" + "}\n" * 6)
    assert lens_files.errors(_mine(tmp_path, fpath)) != []
    dest.write_text(opening[: -len("b5 {\n")] + "k = v\n" + "}\n" * 5)
    assert lens_files.errors(_mine(tmp_path, fpath)) == []


def test_new_block_argument_with_blanks_is_set_quoted_and_read_bare(tmp_path: Path) -> None:
    fpath = "/etc/dovecot/conf.d/15-mailboxes.conf"
    dest = lens_files.write_in(
        tmp_path, fpath, 'namespace inbox {\n  mailbox "Sent Messages" {\n  }\n}\n'
    )
    aug = _mine(tmp_path, fpath)
    ns = f"/files{fpath}/namespace[.='inbox']"
    aug.set(f"{ns}/mailbox[last()+1]", '"Old Stuff"')
    aug.set(f"{ns}/mailbox[last()]/auto", "subscribe")
    aug.save()
    assert lens_files.errors(aug) == []
    assert dest.read_text() == (
        "namespace inbox {\n"
        '  mailbox "Sent Messages" {\n  }\n'
        '  mailbox "Old Stuff" {\n    auto = subscribe\n  }\n'
        "}\n"
    )
    again = _mine(tmp_path, fpath)
    assert [again.get(p) for p in again.match(f"{ns}/mailbox")] == ["Sent Messages", "Old Stuff"]


# -- empty values (issue 14, class 1) -----------------------------------------------------


def test_file_with_empty_values_takes_edits_and_keeps_every_other_byte(tmp_path: Path) -> None:
    fpath = "/etc/dovecot/conf.d/10-mail.conf"
    dest = lens_files.copy_in(SAMPLES / "empty-values.conf", tmp_path, fpath)
    before = dest.read_text()
    aug = _mine(tmp_path, fpath)
    ns = f"/files{fpath}/namespace[.='inbox']"
    aug.set(f"{ns}/separator", ".")
    aug.set(f"{ns}/prefix", "INBOX.")
    aug.set(f"/files{fpath}/protocol[.='lmtp']/mail_plugins", "$mail_plugins sieve")
    aug.save()
    assert lens_files.errors(aug) == []
    assert dest.read_text() == (
        before.replace("  separator = /\n", "  separator = .\n")
        .replace("  prefix =\n", "  prefix = INBOX.\n")
        .replace("  mail_plugins =\n", "  mail_plugins = $mail_plugins sieve\n")
    )


def test_node_without_value_or_child_is_written_key_equals(tmp_path: Path) -> None:
    """Augeas makes a node with no value as the parent of a new path; left childless, it is
    an empty setting. With a child, it is a block without argument."""
    fpath = "/etc/dovecot/conf.d/20-lmtp.conf"
    dest = lens_files.write_in(tmp_path, fpath, "protocol lmtp {\n}\n")
    aug = _mine(tmp_path, fpath)
    lmtp = f"/files{fpath}/protocol[.='lmtp']"
    aug.set(f"{lmtp}/mail_plugins/sieve", "yes")
    aug.set(f"{lmtp}/auth_username_format/x", "1")
    aug.remove(f"{lmtp}/auth_username_format/x")
    assert aug.get(f"{lmtp}/auth_username_format") is None
    aug.save()
    assert lens_files.errors(aug) == []
    assert dest.read_text() == (
        "protocol lmtp {\n  mail_plugins {\n    sieve = yes\n  }\n  auth_username_format =\n}\n"
    )


def test_empty_string_value_fails_the_save_and_leaves_the_file(tmp_path: Path) -> None:
    """python-augeas's set() stores None as "", which the lens cannot tell from a value."""
    fpath = "/etc/dovecot/conf.d/10-mail.conf"
    dest = lens_files.copy_in(SAMPLES / "empty-values.conf", tmp_path, fpath)
    aug = _mine(tmp_path, fpath)
    aug.set(f"/files{fpath}/namespace[.='inbox']/separator", None)
    with pytest.raises(OSError):
        aug.save()
    assert dest.read_bytes() == (SAMPLES / "empty-values.conf").read_bytes()


def test_set_setting_saves_a_file_with_empty_values() -> None:
    """The issue's failure: planning an edit of such a file refused the host."""
    fpath = "/etc/dovecot/conf.d/20-lmtp.conf"
    content = (SAMPLES / "empty-values.conf").read_bytes()
    chain = (BlockRef("protocol", "lmtp"),)
    with ConfigTree("h", {fpath: content}, {fpath: DOVECOT_LENS}) as tree:
        set_setting(tree, fpath, chain, "mail_plugins", "$mail_plugins sieve")
        set_setting(tree, fpath, (), "mail_location", "maildir:~/Maildir")
        after = tree.save()[fpath].decode()
    assert after == (
        content.decode()
        .replace("  mail_plugins =\n", "  mail_plugins = $mail_plugins sieve\n")
        .replace("mail_location =\n", "mail_location = maildir:~/Maildir\n")
    )


# -- generated files, side by side with doveconf ------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_generated_file_reads_round_trips_and_takes_an_edit(seed: int, tmp_path: Path) -> None:
    """Judged by Dovecot 2.3 (bookworm root) for even seeds, 2.4 (trixie root) for odd ones."""
    v24 = seed % 2 == 1
    tools = ReleaseTools("trixie" if v24 else "bookworm", tmp_path)

    def _doveconf_n(conf: Path) -> subprocess.CompletedProcess[str]:
        return tools.attempt(["doveconf", "-c", f"{MOUNT}/{conf.relative_to(tmp_path)}", "-n"])

    text = draw_dovecot_conf(seed, v24, mistakes=False).text
    fpath = "/etc/dovecot/dovecot.conf"
    dest = lens_files.write_in(tmp_path, fpath, text)
    before = _doveconf_n(dest)
    assert before.returncode == 0, before.stderr
    aug = _mine(tmp_path, fpath)
    assert lens_files.errors(aug) == []
    lens_files.rewrite(aug, fpath)
    assert dest.read_bytes() == text

    aug.set(f"/files{fpath}/login_greeting", f"edited-{seed}")
    aug.set(f"/files{fpath}/protocol[.='imap']/imap_client_workarounds", "delay-newmail")
    aug.save()
    assert lens_files.errors(aug) == []
    after = _doveconf_n(dest)
    assert after.returncode == 0, after.stderr
    assert f"login_greeting = edited-{seed}\n" in after.stdout
    assert "imap_client_workarounds = delay-newmail\n" in after.stdout
    # every other line is as it was (CRLF ones keep their CR)
    old, new = text.splitlines(), dest.read_bytes().splitlines()
    changed = {b.split(b"=")[0].strip() for a, b in zip(old, new, strict=True) if a != b}
    assert b"login_greeting" in changed
    assert changed <= {b"login_greeting", b"imap_client_workarounds"}


FIELDS_24 = """\
userdb userdb-default {
  driver = passwd-file
  passwd_file_path = /etc/dovecot/userdb
  fields {
    uid:default = docker
    gid:default = docker
    home:default = /var/mail/%{user | domain}/%{user}/home/
  }
}
"""


def test_dovecot_24_field_defaults_read_round_trip_and_take_an_edit(tmp_path: Path) -> None:
    """2.4's "name:default" keys in a userdb's fields (docker-mailserver) are settings."""
    fpath = "/etc/dovecot/conf.d/auth-passwdfile.conf.ext"
    dest = lens_files.write_in(tmp_path, fpath, FIELDS_24)
    aug = _mine(tmp_path, fpath)
    assert lens_files.errors(aug) == []
    node = f"/files{fpath}/userdb/fields"
    assert aug.get(f"{node}/uid:default") == "docker"
    lens_files.rewrite(aug, fpath)
    assert dest.read_text() == FIELDS_24
    aug.set(f"{node}/gid:default", "mail")
    aug.save()
    assert lens_files.errors(aug) == []
    assert dest.read_text() == FIELDS_24.replace("gid:default = docker", "gid:default = mail")
    judged = ReleaseTools("trixie", tmp_path)
    conf = tmp_path / "etc/dovecot/dovecot.conf"
    conf.write_text(
        "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"
        f"!include {MOUNT}{fpath}\n"
    )
    assert "gid:default = mail" in judged.run(
        ["doveconf", "-c", f"{MOUNT}/etc/dovecot/dovecot.conf", "-n"]
    )
