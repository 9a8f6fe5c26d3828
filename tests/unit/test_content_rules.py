"""What LMTP does to content and envelopes that the LDA pipe did not (rules.content).

The lab sweep (tests/lab/test_content_equivalence.py) measured each difference; these pin the
pure rule: when it plans lmtp_line_length_limit = 0, and when each warning is given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.config.edits import SetDovecotSetting, SetMainParam
from migrator.config.params import MainParams
from migrator.config.postfix import MasterEntry
from migrator.rules.content import LmtpSide, content_differences, lowered_username
from migrator.rules.hooks import LdaArgs, LdaService
from tests.unit.hosts import append_to, fixture_hosts

LDA = "/usr/lib/dovecot/dovecot-lda"
ARGV = (LDA, "-f", "${sender}", "-d", "${recipient}")


def _service(flags: str = "DRhu", sender: str | None = "${sender}") -> LdaService:
    return LdaService(
        "dovecot", "vmail", "vmail", flags, LdaArgs(LDA, "${recipient}", sender=sender)
    )


def _master(*attributes: tuple[str, str]) -> tuple[MasterEntry, ...]:
    return (
        MasterEntry(
            "dovecot", "unix", "n", "n", "pipe", "pipe", (("flags", "DRhu"), *attributes), ARGV
        ),
    )


def _differences(
    main: dict[str, str] | None = None,
    master: tuple[MasterEntry, ...] | None = None,
    service: LdaService | None = None,
    received: str | None = None,
    username: str | None = None,
    version: str = "2.3",
) -> tuple[list[str], list[str]]:
    found = content_differences(
        MainParams(main or {}, "/etc/postfix/main.cf"),
        _master() if master is None else master,
        [service or _service()],
        LmtpSide(received, username, version, "/etc/dovecot/conf.d/20-lmtp.conf"),
    )
    edits = [e.describe() for e in found.edits]
    return edits, list(found.warnings)


def test_long_lines_are_kept_whole_with_a_reason() -> None:
    found = content_differences(
        MainParams({}, "/etc/postfix/main.cf"), _master(), [], LmtpSide(None, None, "2.3", "")
    )
    assert len(found.edits) == 1
    edit = found.edits[0]
    assert isinstance(edit, SetMainParam)
    assert (edit.file, edit.name, edit.value) == (
        "/etc/postfix/main.cf",
        "lmtp_line_length_limit",
        "0",
    )
    assert "a 999-byte line arrives as two" in edit.reason


@pytest.mark.parametrize(
    ("main", "planned"),
    [
        ({"lmtp_line_length_limit": "0"}, False),
        ({"lmtp_line_length_limit": "$limit", "limit": "0"}, False),
        ({"lmtp_line_length_limit": "998"}, True),
        ({"lmtp_line_length_limit": "${a?{b}:{c}}"}, True),  # unreadable: set it plainly
    ],
)
def test_a_line_limit_already_off_is_left_alone(main: dict[str, str], planned: bool) -> None:
    edits, _ = _differences(main)
    assert (edits == ["/etc/postfix/main.cf: set lmtp_line_length_limit = 0"]) is planned


@pytest.mark.parametrize(("received", "warned"), [(None, True), ("yes", True), ("no", False)])
def test_the_lmtp_trace_line_is_announced_unless_turned_off(
    received: str | None, warned: bool
) -> None:
    _, warnings = _differences(received=received)
    assert any(w.startswith("trace header: Dovecot's LMTP prepends") for w in warnings) is warned


@pytest.mark.parametrize(
    ("attributes", "sender", "said"),
    [
        ((), "${sender}", "expands to MAILER-DAEMON for a bounce"),
        ((("null_sender", "postmaster"),), "${sender}", "Return-Path: <postmaster>"),
        ((("null_sender", ""),), "${sender}", None),  # the pipe passed <> already
        ((), None, None),  # no -f: the LDA took the sender from the message
    ],
)
def test_the_null_sender_is_announced_with_what_the_pipe_passed(
    attributes: tuple[tuple[str, str], ...], sender: str | None, said: str | None
) -> None:
    _, warnings = _differences(master=_master(*attributes), service=_service(sender=sender))
    null = [w for w in warnings if w.startswith("null sender:")]
    if said is None:
        assert null == []
    else:
        assert len(null) == 1 and said in null[0], null


def test_the_recipient_case_is_announced_only_when_the_pipe_folded_it() -> None:
    _, folded = _differences(service=_service("DRhu"))
    _, kept = _differences(service=_service("DRh"))
    assert any(':comparator "i;octet" no longer matches' in w for w in folded)
    assert not any(w.startswith("recipient case:") for w in kept)


@pytest.mark.parametrize(
    ("value", "version", "wanted"),
    [
        ("%u", "2.3", "%Lu"),
        ("%n@%d", "2.3", "%Ln@%Ld"),
        ("%{user}", "2.3", "%L{user}"),
        ("%{user}", "2.4", "%{user | lower}"),
        ("%{user | username}", "2.4", "%{user | username | lower}"),
    ],
)
def test_a_username_format_that_keeps_case_is_lowered_for_lmtp(
    value: str, version: str, wanted: str
) -> None:
    assert lowered_username(value, version) == wanted
    edits, _ = _differences(username=value, version=version)
    lmtp = "/etc/dovecot/conf.d/20-lmtp.conf"
    assert f"{lmtp}: set auth_username_format = {wanted} in protocol lmtp" in edits, edits


@pytest.mark.parametrize(
    ("flags", "value", "version"),
    [
        ("DRhu", None, "2.3"),  # the default lowers
        ("DRhu", "%Lu", "2.3"),
        ("DRhu", "%{user | lower}", "2.4"),
        ("DRh", "%u", "2.3"),  # the pipe kept the case too
    ],
)
def test_a_username_format_is_left_alone_when_both_paths_agree(
    flags: str, value: str | None, version: str
) -> None:
    found = content_differences(
        MainParams({}, "/etc/postfix/main.cf"),
        _master(),
        [_service(flags)],
        LmtpSide(None, value, version, "/etc/dovecot/conf.d/20-lmtp.conf"),
    )
    assert not [e for e in found.edits if isinstance(e, SetDovecotSetting)]


def test_a_fixture_host_plans_the_line_limit_unless_main_cf_has_it(tmp_path: Path) -> None:
    host = next(h for h in fixture_hosts() if h.name == "virtual-lda")
    planned = host.plan(host.copy_to(tmp_path / "as-is"))
    root = host.copy_to(tmp_path / "off")
    append_to(root / "etc/postfix/main.cf", "lmtp_line_length_limit = 0\n")
    kept = host.plan(root)
    summary = "/etc/postfix/main.cf: set lmtp_line_length_limit = 0"
    assert [c.summary for c in planned.changes if c.summary == summary] == [summary]
    assert not [c for c in kept.changes if "lmtp_line_length_limit" in c.summary]
    assert any(w.startswith("null sender: service dovecot") for w in planned.warnings)
