"""The rules that make LMTP deliver as the LDA did (issue 13): fixture trees planned for real.

Each case copies a fixture host, changes the one thing it is about, and plans it; the vsz_limit
case is judged by the release's own doveconf.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from migrator.config.params import MainParams
from migrator.errors import RefusedError
from migrator.host.facts import parse_userdb
from migrator.plan.document import Plan
from migrator.rules.equivalence import (
    dovecot_size,
    smtputf8_checked_on_reuse,
    smtputf8_enabled,
)
from migrator.rules.quota import dovecot_bool, quota_warning
from tests.unit.hosts import (
    MOUNT,
    FixtureHost,
    ReleaseTools,
    append_to,
    confine_includes,
    fixture_hosts,
    write_out,
)

HOSTS = {h.name: h for h in fixture_hosts()}
MIB = 1024 * 1024


def _planned(name: str, tmp_path: Path, **appended: str) -> Plan:
    """Plan a copy of fixture NAME with text appended to files (path relative to its root)."""
    host = HOSTS[name]
    root = host.copy_to(tmp_path / name)
    for path, text in appended.items():
        append_to(root / path.replace("__", "/"), text)
    return host.plan(root)


def _sets(plan: Plan, fragment: str) -> list[str]:
    return [c.summary for c in plan.changes if fragment in c.summary]


def _warned(plan: Plan, fragment: str) -> bool:
    return any(fragment in w for w in plan.warnings)


MAIN = "etc__postfix__main.cf"
MASTER_CONF = "etc__dovecot__conf.d__10-master.conf"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256M", 256 * MIB),
        ("256 M", 256 * MIB),
        ("48m", 48 * MIB),
        ("1G", 1024 * MIB),
        ("10k", 10240),
        ("4096", 4096),
        ("0", None),
        ("unlimited", None),
        ("18446744073709551615 B", None),
    ],
)
def test_dovecot_sizes(text: str, size: int | None) -> None:
    assert dovecot_size(text) == size


def test_a_size_dovecot_would_not_read_is_an_error() -> None:
    with pytest.raises(ValueError, match="lots"):
        dovecot_size("lots")


@pytest.mark.parametrize(
    ("values", "version", "enabled"),
    [
        ({}, "3.7.11", False),  # compatibility_level 0: Postfix's default is no
        ({"compatibility_level": "2"}, "3.5.25", True),
        ({"compatibility_level": "3.6"}, None, True),
        ({"compatibility_level": "3.6", "smtputf8_enable": "no"}, "3.10.13", False),
        ({"smtputf8_enable": "$utf8", "utf8": "yes"}, "3.7.11", True),
        ({"compatibility_level": "3.6"}, "2.11.3", False),  # no SMTPUTF8 before Postfix 3
        ({"smtputf8_enable": "${{$compatibility_level} <level {1} ? {no} : {yes}}"}, None, None),
    ],
)
def test_whether_postfix_accepts_smtputf8(
    values: dict[str, str], version: str | None, enabled: bool | None
) -> None:
    assert smtputf8_enabled(MainParams(values), version) is enabled


def test_dovecot_23_smtputf8_is_a_warning_naming_the_bounce(tmp_path: Path) -> None:
    plan = _planned("virtual-lda", tmp_path)
    assert _warned(plan, "will bounce 5.6.7 instead of being delivered as the LDA pipe did")
    assert not _sets(plan, "mail_utf8_extensions")


@pytest.mark.parametrize(
    ("version", "checked"),
    [
        ("3.5.25", False),  # bullseye
        ("3.6.20", False),
        ("3.7.11", False),  # bookworm
        ("3.7.17", True),
        ("3.8.11", False),
        ("3.8.12", True),
        ("3.9.6", True),
        ("3.10.4", False),
        ("3.10.13", True),  # trixie
        ("3.11.0", True),
        ("4.0", True),
        (None, None),
        ("unknown", None),
    ],
)
def test_which_postfix_requires_smtputf8_on_a_reused_lmtp_connection(
    version: str | None, checked: bool | None
) -> None:
    assert smtputf8_checked_on_reuse(version) is checked


@pytest.mark.parametrize(
    ("version", "clause"),
    [
        ("3.7.11", "Postfix 3.7.11 checks only then"),
        (None, "Postfix before 3.7.17, 3.8.12, 3.9.6, 3.10.5 checks only then"),
        ("3.7.17", ""),
    ],
)
def test_dovecot_23_smtputf8_warning_says_which_mail_bounces_and_when(
    version: str | None, clause: str
) -> None:
    """Mail needing SMTPUTF8 has a UTF-8 address or header and was sent with SMTPUTF8; a
    Postfix without the 20250911 fix delivers it anyway over a reused LMTP connection."""
    host = HOSTS["virtual-lda"]
    facts = {**host.spec.get("facts", {}), "postfix_version": version}
    plan = dataclasses.replace(host, spec={**host.spec, "facts": facts}).plan()
    [warning] = [w for w in plan.warnings if w.startswith("SMTPUTF8: ")]
    assert "with a UTF-8 envelope sender, recipient or header value" in warning
    assert "will bounce 5.6.7" in warning
    reused = "when the lmtp client opens a connection for it"
    assert (reused in warning and clause in warning) if clause else reused not in warning


def test_no_smtputf8_warning_when_postfix_does_not_accept_it(tmp_path: Path) -> None:
    plan = _planned("virtual-lda", tmp_path, **{MAIN: "smtputf8_enable = no\n"})
    assert not _warned(plan, "SMTPUTF8")


def test_dovecot_24_offers_smtputf8_in_protocol_lmtp(tmp_path: Path) -> None:
    plan = _planned("dovecot24-virtual-lda", tmp_path)
    [change] = _sets(plan, "mail_utf8_extensions")
    assert change.endswith("set mail_utf8_extensions = yes in protocol lmtp")
    assert not _warned(plan, "SMTPUTF8")


def test_dovecot_24_already_offering_smtputf8_needs_nothing(tmp_path: Path) -> None:
    lmtp = "etc__dovecot__conf.d__20-lmtp.conf"
    plan = _planned("dovecot24-virtual-lda", tmp_path, **{lmtp: "mail_utf8_extensions = yes\n"})
    assert not _sets(plan, "mail_utf8_extensions")


def test_one_recipient_per_lmtp_transaction_as_the_pipe_had(tmp_path: Path) -> None:
    plan = _planned("virtual-lda", tmp_path)
    [change] = [c for c in plan.changes if "lmtp_destination_recipient_limit" in c.summary]
    assert change.summary.endswith("set lmtp_destination_recipient_limit = 1")
    assert "Delivered-To for every recipient (flags D)" in change.reason
    kept = _planned(
        "virtual-lda", tmp_path / "kept", **{MAIN: "lmtp_destination_recipient_limit = 1\n"}
    )
    assert not _sets(kept, "lmtp_destination_recipient_limit")


def test_mailbox_command_hosts_keep_one_recipient_and_are_told_about_x_original_to(
    tmp_path: Path,
) -> None:
    plan = _planned("system-lda", tmp_path)
    assert not _sets(plan, "destination_recipient_limit")
    assert _warned(plan, "no X-Original-To, Delivered-To names the final recipient")
    assert not _warned(plan, "+detail")  # local(8) looked up the user without the extension


def test_detail_that_the_lda_bounced_is_delivered_by_lmtp(tmp_path: Path) -> None:
    assert _warned(_planned("virtual-lda", tmp_path), "mail to user+detail@ bounced")


@pytest.mark.parametrize(
    ("appended", "wanted"),
    [
        ("service lmtp {\n  vsz_limit = 48M\n}\n", "74M"),
        ("default_vsz_limit = 32M\n", "74M"),
        ("service lmtp {\n  vsz_limit = $default_vsz_limit\n}\ndefault_vsz_limit = 32M\n", "74M"),
    ],
)
def test_a_small_lmtp_vsz_limit_is_raised_above_message_size_limit(
    tmp_path: Path, appended: str, wanted: str
) -> None:
    plan = _planned("virtual-lda", tmp_path, **{MASTER_CONF: appended})
    [change] = [c for c in plan.changes if "vsz_limit" in c.summary]
    assert change.summary.endswith(f"set vsz_limit = {wanted} in service lmtp")
    assert "the LDA ran with no memory limit" in change.reason


def test_vsz_limit_follows_message_size_limit(tmp_path: Path) -> None:
    plan = _planned(
        "virtual-lda",
        tmp_path,
        **{MAIN: "message_size_limit = 209715200\n", MASTER_CONF: "default_vsz_limit = 256M\n"},
    )
    assert _sets(plan, "set vsz_limit = 264M")


@pytest.mark.parametrize(
    "appended", ["service lmtp {\n  vsz_limit = 0\n}\n", "service lmtp {\n  vsz_limit = 1G\n}\n"]
)
def test_enough_or_no_vsz_limit_needs_nothing(tmp_path: Path, appended: str) -> None:
    assert not _sets(_planned("virtual-lda", tmp_path, **{MASTER_CONF: appended}), "vsz_limit")


def test_an_unreadable_vsz_limit_is_named(tmp_path: Path) -> None:
    plan = _planned("virtual-lda", tmp_path, **{MASTER_CONF: "default_vsz_limit = lots\n"})
    assert _warned(plan, "vsz_limit 'lots' is not a size migrator reads")


def test_raised_vsz_limit_is_what_doveconf_reads(tmp_path: Path) -> None:
    host = HOSTS["virtual-lda"]
    plan = _planned(
        "virtual-lda", tmp_path, **{MASTER_CONF: "service lmtp {\n  vsz_limit = 48M\n}\n"}
    )
    after = write_out(
        FixtureHost(host.name, tmp_path / "virtual-lda", host.spec), plan, tmp_path / "after"
    )
    assert not host.plan(after).has_changes
    confine_includes(after, seen_as=MOUNT)
    shown = ReleaseTools("bookworm", after).run(
        ["doveconf", "-c", f"{MOUNT}/etc/dovecot/dovecot.conf", "-n"]
    )
    assert "  vsz_limit = 74 M\n" in shown


def test_quota_outcomes_are_named(tmp_path: Path) -> None:
    # Measured in tests/lab/test_quota.py on every lab release: with quota_full_tempfail = yes
    # (sieve-quota sets it in protocol lda, carried to protocol lmtp) both paths defer.
    plan = _planned("sieve-quota", tmp_path)
    assert _warned(
        plan,
        "the LDA exited 75 and Postfix deferred it (4.3.0) (quota_full_tempfail = yes); LMTP "
        "answers 452 4.2.2 and Postfix defers it (4.2.2) (quota_full_tempfail = yes in protocol",
    )
    assert _warned(plan, "bounces it after maximal_queue_lifetime on both paths")
    assert not _warned(plan, "Dovecot's own rejection")
    # The default: the LDA mails Dovecot's rejection and Postfix logs it sent; LMTP bounces.
    bounce = _planned("virtual-lda", tmp_path, **{MASTER_CONF: "mail_plugins = quota\n"})
    assert _warned(bounce, "the LDA mailed Dovecot's own rejection")
    assert _warned(bounce, "so Postfix logged it sent (2.0.0) (quota_full_tempfail = no)")
    assert _warned(bounce, "LMTP answers 552 5.2.2 and Postfix bounces it (5.2.2)")
    assert _warned(bounce, "quota_full_tempfail = yes would make both defer instead")
    # A policy: warned, never planned.
    assert _sets(bounce, "quota_full_tempfail") == [] and _sets(plan, "lmtp_rcpt_check") == []


def test_quota_names_each_paths_own_setting(tmp_path: Path) -> None:
    lmtp_defers = "mail_plugins = quota\nprotocol lmtp {\n  quota_full_tempfail = yes\n}\n"
    plan = _planned("virtual-lda", tmp_path, **{MASTER_CONF: lmtp_defers})
    [warning] = [w for w in plan.warnings if w.startswith("quota:")]
    assert "Dovecot's own rejection" in warning and "(quota_full_tempfail = no);" in warning
    assert "LMTP answers 452 4.2.2 and Postfix defers it (4.2.2)" in warning
    assert "both" not in warning


def test_quota_at_rcpt_and_dovecot_booleans() -> None:
    assert "lmtp_rcpt_check_quota = yes: LMTP answers so at RCPT TO" in quota_warning(
        "no", None, "Yes"
    )
    assert "would answer so at RCPT TO" in quota_warning(None, None, None)
    assert [dovecot_bool(v) for v in ("yes", "Y", "1", " yes ", "no", "0", "", None)] == [
        *[True] * 4,
        *[False] * 4,
    ]


def test_process_limits_below_postfix_are_named(tmp_path: Path) -> None:
    plan = _planned(
        "virtual-lda", tmp_path, **{MASTER_CONF: "service lmtp {\n  process_limit = 10\n}\n"}
    )
    assert _warned(plan, "Dovecot's service lmtp only 10")
    assert not _warned(_planned("virtual-lda", tmp_path / "d"), "concurrency")


def test_a_per_user_lmtp_concurrency_limit_is_named(tmp_path: Path) -> None:
    lmtp = "etc__dovecot__conf.d__20-lmtp.conf"
    plan = _planned(
        "dovecot24-virtual-lda", tmp_path, **{lmtp: "lmtp_user_concurrency_limit = 5\n"}
    )
    assert _warned(plan, "lmtp_user_concurrency_limit = 5")


def test_the_userdb_home_is_read_from_doveadm_user() -> None:
    table = ["field\tvalue", "uid\t1000", "home\t/home/bob", "rc=0"]
    assert parse_userdb("bob", table).home == "/home/bob"
    assert parse_userdb("bob", ["field\tvalue", "uid\t1000", "home\t", "rc=0"]).home == ""


def _system_host(
    tmp_path: Path, userdb: dict[str, str], appended: str = "", conf: str = "10-auth.conf"
) -> FixtureHost:
    host = HOSTS["system-lda"]
    root = host.copy_to(tmp_path / "system-lda")
    append_to(root / "etc/dovecot/conf.d" / conf, appended)
    facts = {**host.spec["facts"], "userdb": {"recipient": "alice@example.test", **userdb}}
    return FixtureHost(host.name, root, {**host.spec, "facts": facts})


def test_a_home_only_local8_gave_is_refused_when_sieve_needs_it(tmp_path: Path) -> None:
    host = _system_host(tmp_path, {"uid": "1000", "home": ""})
    with pytest.raises(RefusedError) as caught:
        host.plan()
    assert "the userdb's answer for alice@example.test gives none" in str(caught.value)
    assert "the mail location maildir:~/Maildir needs ~/" in str(caught.value)
    assert "and Sieve's personal scripts fail under LMTP" in str(caught.value)
    assert caught.value.path == "/etc/postfix/main.cf"
    fixed = _system_host(tmp_path / "fixed", {"uid": "1000", "home": ""}, "mail_home = /home/%n\n")
    assert fixed.plan().has_changes
    known = _system_host(tmp_path / "known", {"uid": "1000", "home": "/home/alice"})
    assert known.plan().has_changes


def test_a_static_userdb_without_home_is_read_off_its_definition(tmp_path: Path) -> None:
    static = "userdb {\n  driver = static\n  args = uid=1000 gid=1000\n}\n"
    host = _system_host(tmp_path, {"uid": "1000"}, static)
    host = FixtureHost(
        host.name,
        host.root,
        {**host.spec, "facts": {k: v for k, v in host.spec["facts"].items() if k != "userdb"}},
    )
    with pytest.raises(
        RefusedError, match=r"userdb static \(/etc/dovecot/conf.d/10-auth.conf:\d+\) gives none"
    ):
        host.plan()


def test_without_sieve_or_a_home_mail_location_only_the_duplicate_db_is_named(
    tmp_path: Path,
) -> None:
    plain = "mail_location = maildir:/var/mail/%n\nprotocol lda {\n  mail_plugins = quota\n}\n"
    plan = _system_host(tmp_path, {"uid": "1000", "home": ""}, plain, "90-sieve.conf").plan()
    assert _warned(plan, "gives none: the duplicate database is off under LMTP")
