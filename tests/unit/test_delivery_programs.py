"""What a delivery hook runs: Dovecot's LDA, a script wrapping it, another program, or an
unknown one (issue 14, class 2), and whether an LMTP next hop is Dovecot's (class 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import RefusedError
from migrator.host.fact_overrides import overrides_from_mapping
from migrator.plan.build import build_plan
from migrator.rules.delivery import ProgramKind, classify_program
from migrator.rules.switch import Options
from migrator.transport.local import LocalTransport
from tests.unit.hosts import FixtureHost, append_to, fixture_hosts, replace_in


def _host(name: str) -> FixtureHost:
    return next(h for h in fixture_hosts() if h.name == name)


@pytest.mark.parametrize(
    ("content", "kind", "detail"),
    [
        (
            b"#!/bin/sh\nexec /usr/lib/dovecot/dovecot-lda -d $USER\n",
            ProgramKind.WRAPS_LDA,
            "line 2",
        ),
        (
            b"#!/bin/sh\nDELIVER=/usr/lib/dovecot/deliver\n$DELIVER\n",
            ProgramKind.WRAPS_LDA,
            "line 2",
        ),
        (b"#!/bin/bash\nlda=dovecot-lda\n", ProgramKind.WRAPS_LDA, "lda=dovecot-lda"),
        (b"#!/bin/sh\n# then /usr/lib/dovecot/deliver it\nexec procmail\n", ProgramKind.OTHER, ""),
        (b"#!/bin/sh\necho deliver the mail\nexec procmail\n", ProgramKind.OTHER, ""),
        (b"#!/bin/sh\nexec /usr/local/bin/dovecot-lda-wrapper\n", ProgramKind.OTHER, ""),
        (b"\x7fELF\x02\x01\x01\x00binary", ProgramKind.UNKNOWN, "not a script"),
        (None, ProgramKind.UNKNOWN, "not found on the host"),
    ],
)
def test_classify_program(content: bytes | None, kind: ProgramKind, detail: str) -> None:
    found = classify_program("/usr/local/bin/x", content)
    assert found.kind is kind
    assert detail in found.detail


def test_lda_is_known_by_its_name_without_reading_it() -> None:
    assert classify_program("/usr/lib/dovecot/deliver", None).kind is ProgramKind.LDA


def test_pipe_through_spamc_into_a_wrapper_script_is_refused(tmp_path: Path) -> None:
    """A pipe running `spamc -e /usr/local/bin/wrapper` where the wrapper runs the LDA."""
    host = _host("virtual-lda")
    root = host.copy_to(tmp_path / "root")
    replace_in(
        root / "etc/postfix/master.cf",
        "argv=/usr/lib/dovecot/dovecot-lda -f ${sender} -d ${recipient}",
        "argv=/usr/bin/spamc -e /usr/local/bin/lda-junk -d ${recipient}",
    )
    script = root / "usr/local/bin/lda-junk"
    script.parent.mkdir(parents=True)
    script.write_text('#!/bin/sh\nexec /usr/lib/dovecot/dovecot-lda -m Junk "$@"\n')
    with pytest.raises(RefusedError) as caught:
        host.plan(root)
    message = str(caught.value)
    assert "virtual_transport uses service dovecot, which runs /usr/bin/spamc" in message
    assert "/usr/local/bin/lda-junk, a script that runs Dovecot's LDA (line 2:" in message
    assert caught.value.path == "/etc/postfix/master.cf" and caught.value.line == 140


def test_unclassified_mailbox_command_beside_an_lda_pipe_is_a_note(tmp_path: Path) -> None:
    """The pipe is switched; mailbox_command's unknown program is named, not ignored."""
    host = _host("virtual-lda")
    root = host.copy_to(tmp_path / "root")
    append_to(root / "etc/postfix/main.cf", "mailbox_command = /usr/bin/procmail -a $EXTENSION\n")
    plan = host.plan(root)
    assert plan.has_changes
    assert any(
        "mailbox_command (/usr/bin/procmail -a $EXTENSION) runs /usr/bin/procmail, a program "
        "migrator cannot classify" in w
        for w in plan.warnings
    )


def test_a_script_running_no_lda_is_said_in_the_refusal(tmp_path: Path) -> None:
    host = _host("system-lda")
    root = host.copy_to(tmp_path / "root")
    replace_in(
        root / "etc/postfix/main.cf",
        'mailbox_command = /usr/lib/dovecot/dovecot-lda -f "$SENDER" -a "$RECIPIENT"',
        "mailbox_command = /usr/local/bin/to-mbox",
    )
    script = root / "usr/local/bin/to-mbox"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\nexec /usr/bin/procmail\n")
    with pytest.raises(RefusedError, match="no Dovecot LDA delivery found") as caught:
        host.plan(root)
    assert "/usr/local/bin/to-mbox, a script that runs no Dovecot LDA" in str(caught.value)


def test_lmtp_to_dovecots_own_listener_is_named_as_dovecot() -> None:
    plan = _host("already-lmtp").plan()
    assert not plan.has_changes
    assert any("over LMTP to Dovecot (virtual_transport" in w for w in plan.warnings)


def test_lmtp_to_dovecots_inet_listener_is_dovecot(tmp_path: Path) -> None:
    host = _host("inet-lmtp")
    after = host.plan()
    root = host.copy_to(tmp_path / "root")
    for change in after.files:
        (root / change.path.lstrip("/")).write_text(change.content_after)
    plan = host.plan(root)
    assert any(
        "over LMTP to Dovecot (virtual_transport = lmtp:inet:127.0.0.1:24)" in w
        for w in plan.warnings
    )


def test_no_dovecot_listener_planned_on_a_filters_endpoint(tmp_path: Path) -> None:
    """An LDA host that also hands mail to a filter at [127.0.0.1]:10025: the switch goes to
    Dovecot's own socket (the filter's hook left as is, with a note), and --lmtp naming the
    filter's port is refused, never a Dovecot listener planned there."""
    host = _host("virtual-lda")
    root = host.copy_to(tmp_path / "root")
    append_to(root / "etc/postfix/main.cf", "fallback_transport = lmtp:[127.0.0.1]:10025\n")
    plan = host.plan(root)
    assert plan.endpoint == "lmtp:unix:private/dovecot-lmtp"
    assert not any("10025" in c.summary for c in plan.changes)
    assert any(
        "fallback_transport = lmtp:[127.0.0.1]:10025), to inet:127.0.0.1:10025" in w
        for w in plan.warnings
    )
    transport = LocalTransport(root, host.name)
    options = Options(lmtp="inet:127.0.0.1:10025", test_recipient="alice@example.test")
    with pytest.raises(RefusedError, match=r"already hands mail to inet:127\.0\.0\.1:10025") as e:
        build_plan(transport, options, overrides=overrides_from_mapping(host.spec["facts"]))
    assert e.value.path == "/etc/postfix/main.cf" and e.value.line is not None
