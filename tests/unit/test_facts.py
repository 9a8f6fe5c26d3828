"""The fact script's output parsed on captured strings (no host)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import FactError
from migrator.host.fact_overrides import overrides_from_mapping
from migrator.host.facts import (
    parse_dovecot_config_path,
    parse_protocols_default,
    parse_script_output,
    parse_userdb,
)

CAPTURED = """\
==migrator:postfix_version==
3.7.11
==migrator:postconf==
/etc/postfix
/var/spool/postfix
postfix
==migrator:mail_owner_group==
postfix
==migrator:dovecot_version==
2.3.19.1 (9b53102964)
==migrator:dovecot_config==
# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf
==migrator:protocols_default==
protocols =
rc=0
==migrator:lmtp_binary==
/usr/lib/dovecot/lmtp
==migrator:dovecot_files==
/etc/dovecot/dovecot.conf
/etc/dovecot/conf.d/10-master.conf
/usr/share/dovecot/protocols.d/lmtpd.protocol
==migrator:userdb==
field\tvalue
user\talice@example.test
uid\t5000
gid\t5000
home\t/var/vmail/example.test/alice
rc=0
==migrator:end==
"""


def test_parse_script_output() -> None:
    facts = parse_script_output("mx1", CAPTURED, "alice@example.test")
    assert facts.live
    assert facts.postfix_version == "3.7.11"
    assert facts.dovecot_version == "2.3.19.1 (9b53102964)"
    assert (facts.config_directory, facts.queue_directory, facts.mail_owner) == (
        "/etc/postfix",
        "/var/spool/postfix",
        "postfix",
    )
    assert facts.main_cf == "/etc/postfix/main.cf"
    assert facts.mail_owner_group == "postfix"
    assert facts.lmtp_binary == "/usr/lib/dovecot/lmtp"
    assert facts.lmtp_binary_known
    assert "/usr/share/dovecot/protocols.d/lmtpd.protocol" in facts.dovecot_files
    assert facts.userdb is not None
    assert (facts.userdb.uid, facts.userdb.gid) == ("5000", "5000")
    assert facts.unknown == ()
    assert facts.protocols_default == ""


def test_missing_lmtp_binary_and_no_recipient() -> None:
    output = CAPTURED.replace("/usr/lib/dovecot/lmtp\n", "")
    facts = parse_script_output("mx1", output, None)
    assert facts.lmtp_binary is None and facts.lmtp_binary_known
    assert facts.userdb is None
    assert any("userdb" in item for item in facts.unknown)


def test_truncated_output_is_an_error() -> None:
    with pytest.raises(FactError, match="truncated"):
        parse_script_output("mx1", CAPTURED.split("==migrator:end==")[0], None)


def test_postconf_failure_is_an_error() -> None:
    output = CAPTURED.replace("/var/spool/postfix\npostfix\n", "")
    with pytest.raises(FactError, match="postconf"):
        parse_script_output("mx1", output, None)


def test_userdb_without_uid() -> None:
    answer = parse_userdb("bob@example.test", ["field\tvalue", "user\tbob@example.test", "rc=0"])
    assert answer.exists and answer.uid is None and answer.gid is None


def test_userdb_unknown_user() -> None:
    lines = ["userdb lookup: user nobody@example.test doesn't exist", "rc=67"]
    assert not parse_userdb("nobody@example.test", lines).exists


def test_userdb_failure_is_an_error() -> None:
    with pytest.raises(FactError, match="doveadm user"):
        parse_userdb("a@b", ["doveadm(root): Error: auth-master: connect failed", "rc=75"])


def test_config_path_default_and_found() -> None:
    assert parse_dovecot_config_path([]) == "/etc/dovecot/dovecot.conf"
    line = "# 2.3.16 (7e2e900c1a): /etc/dovecot/dovecot.conf.local"
    assert parse_dovecot_config_path([line]) == "/etc/dovecot/dovecot.conf.local"


def test_overrides_from_mapping() -> None:
    over = overrides_from_mapping({"lmtp_binary": None, "userdb": {"recipient": "a@b"}})
    assert over.lmtp_binary_known and over.lmtp_binary is None
    assert over.userdb is not None and over.userdb.uid is None
    assert not overrides_from_mapping({}).lmtp_binary_known


CAPTURED_DIR = Path(__file__).parent / "captured"


@pytest.mark.parametrize("release", ["bullseye", "bookworm", "trixie"])
def test_protocols_default_from_each_release(release: str) -> None:
    """`doveconf -d protocols; echo rc=$?` as each lab release printed it (Debian: empty)."""
    text = (CAPTURED_DIR / f"doveconf_d_protocols_{release}.txt").read_text()
    assert parse_protocols_default(text.splitlines()) == ("", "")


def test_protocols_default_in_2_4_block_form() -> None:
    """2.4 prints a list that is set as a block (captured: `doveconf protocols`, trixie)."""
    text = (CAPTURED_DIR / "doveconf_protocols_trixie.txt").read_text()
    assert parse_protocols_default(text.splitlines()) == ("imap lmtp", "")
    assert parse_protocols_default(["protocols = imap pop3 lmtp", "rc=0"])[0] == "imap pop3 lmtp"


def test_protocols_default_unknown_when_doveconf_fails() -> None:
    """2.4.1's `-d -h protocols` (measured: exit 89 in some runs): unknown, with the reason."""
    lines = ["doveconf: Fatal: Multiple settings matched with -h parameter", "rc=89"]
    assert parse_protocols_default(lines) == (None, lines[0])
    assert parse_protocols_default(["rc=0"]) == (None, "unexpected output ''")
    output = CAPTURED.replace("protocols =\nrc=0", "\n".join(lines))
    facts = parse_script_output("mx1", output, "alice@example.test")
    assert facts.protocols_default is None
    assert facts.unknown == (f"Dovecot's built-in protocols (doveconf -d protocols: {lines[0]})",)
