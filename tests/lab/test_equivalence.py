"""LMTP after `migrator apply` delivers each message kind as the LDA did (issue 13, item 2).

Every kind is sent through the LDA, the host is planned and applied, and the same kinds are sent
through LMTP. Where the plan equalises a difference the outcomes must match; where it only
warns, LMTP's outcome must be exactly the consequence the warning names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.lab import lifecycle
from migrator.lab.state import Lab, LabHost

from .conftest import LabFactory
from .hostfiles import LabCli
from .messages import Kind, Outcome, outcome, send

pytestmark = pytest.mark.lab

MESSAGE_SIZE_LIMIT = 10240000  # the lab's Postfix default
AT_LIMIT = MESSAGE_SIZE_LIMIT - MESSAGE_SIZE_LIMIT // 100
KINDS = (
    Kind("plain"),
    Kind("eightbit", subject="caf\u00e9", body="caf\u00e9 \u00fcber\n"),
    Kind("multi", to=("alice@example.test", "bob@example.test")),
    Kind("alias", to=("team@example.test",)),
    Kind("smtputf8", sender="t\u00ebst@migrator.lab", subject="h\u00e9llo", smtputf8=True),
    Kind("detail", to=("alice+news@example.test",)),
    # The limit counts Postfix's queue file (records around each line): 1% under it fits.
    Kind("at_size_limit", size=AT_LIMIT),
)
BOUNCED_UTF8 = (("alice", "bounced", "5.6.7"),)


# bob's own Sieve script: replies, redirects and files by envelope recipient.
BOB_SIEVE = """require ["envelope", "fileinto", "mailbox", "vacation"];
if header :contains "subject" "vacation-test" { vacation :days 1 "away"; }
if header :contains "subject" "redirect-test" { redirect "alice@example.test"; }
if envelope :is "to" "bob@example.test" { fileinto :create "ToBob"; }
"""
SIEVE_KINDS = (
    Kind(
        "vacation",
        to=("bob@example.test",),
        sender="away-{tag}@migrator.lab",
        subject="vacation-test",
    ),
    Kind("redirect", to=("bob@example.test",), subject="redirect-test"),
)


def _send_all(lab: Lab, host: LabHost, tag: str) -> dict[str, Outcome]:
    found = {kind.name: outcome(lab, host, send(host, kind, tag)) for kind in KINDS}
    vacation, redirect = SIEVE_KINDS
    away = vacation.sender.replace("{tag}", tag)
    found["vacation"] = outcome(lab, host, send(host, vacation, tag), replies_to=away)
    found["redirect"] = outcome(lab, host, send(host, redirect, tag), "alice@example.test")
    return found


def _bob_sieve(lab: Lab, host: LabHost) -> None:
    home = "/var/vmail/example.test/bob"
    script = (
        f'mkdir -p {home} && printf %s "$1" > {home}/.dovecot.sieve'
        " && chown -R vmail:vmail /var/vmail/example.test"
    )
    done = lifecycle.run_in_host(host, lab, ["sh", "-c", script, "sh", BOB_SIEVE], capture=True)
    assert done.returncode == 0, done.stderr


def _apply(
    lab: Lab, host: LabHost, tmp_path: Path, recipient: str = "alice@example.test"
) -> list[str]:
    """Plan and apply the host; the plan's warnings and change summaries."""
    cli = LabCli(lab, tmp_path)
    plan = cli.plan(host, recipient)
    applied = cli("apply", host.name, "--plan", str(cli.latest_plan(host)), "--rollback-on-fail")
    assert applied.exit_code == 0, applied.output
    return [*plan.warnings, *(c.summary for c in plan.changes)]


@pytest.mark.parametrize("release", ["bullseye", "bookworm", "trixie"])
def test_lmtp_delivers_each_kind_as_the_lda_did(
    make_lab: LabFactory, tmp_path: Path, release: str
) -> None:
    lab = make_lab("virtual-lda", release=release, prefix="eq")
    host = lab.hosts[0]
    _bob_sieve(lab, host)
    lda = _send_all(lab, host, "lda")
    assert lda["smtputf8"].statuses == (("alice", "sent", "2.0.0"),)
    assert lda["detail"].statuses == (("alice+news", "bounced", "5.1.1"),)
    said = _apply(lab, host, tmp_path)
    lmtp = _send_all(lab, host, "lmtp")

    # Equalised by the plan: one recipient per transaction keeps Delivered-To on each copy.
    assert any("set lmtp_destination_recipient_limit = 1" in s for s in said), said
    for kind in ("plain", "eightbit", "multi", "alias", "at_size_limit", "vacation", "redirect"):
        assert lmtp[kind] == lda[kind], (kind, lda[kind], lmtp[kind])
    assert lmtp["multi"].copies[0][1] == ("Delivered-To: alice@example.test",)
    # Sieve's own mail, sent as the mail user either way: a vacation reply, a redirected copy.
    assert lmtp["vacation"].replies == lmtp["redirect"].replies == 1
    assert (
        "alice/Maildir",
        ("Delivered-To: alice@example.test", "Delivered-To: bob@example.test"),
    ) in lmtp["redirect"].copies

    # SMTPUTF8: equalised on Dovecot 2.4; on 2.3 the warned bounce is exactly what happens.
    if release == "trixie":
        assert any("set mail_utf8_extensions = yes in protocol lmtp" in s for s in said), said
        assert lmtp["smtputf8"] == lda["smtputf8"]
    else:
        assert any("will bounce 5.6.7" in s for s in said), said
        assert lmtp["smtputf8"] == Outcome(BOUNCED_UTF8)

    # +detail: the LDA bounced it (-d ${recipient}); LMTP delivers it, as the plan says.
    assert any("mail to user+detail@ bounced" in s for s in said), said
    assert lmtp["detail"].statuses == (("alice+news", "sent", "2.0.0"),)
    assert [folder for folder, _ in lmtp["detail"].copies] == ["alice/Maildir"]


def _lhlo_fails(lab: Lab, host: LabHost) -> bool:
    """Whether Dovecot's own LMTP socket fails to greet (its process cannot start)."""
    probe = (
        "import socket\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.connect('/var/run/dovecot/lmtp')\n"
        "s.settimeout(5)\n"
        "print(s.recv(200).decode()[:3] or 'closed')\n"
    )
    done = lifecycle.run_in_host(host, lab, ["python3", "-c", probe], capture=True)
    return done.stdout.decode().strip() != "220"


def test_a_small_lmtp_vsz_limit_is_raised_and_a_message_at_the_limit_arrives(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    """Dovecot 2.4.1's lmtp does not start with vsz_limit = 48M (the LDA had no limit): the
    plan raises it, and a message at message_size_limit is delivered over LMTP."""
    lab = make_lab("virtual-lda", release="trixie", prefix="vz")
    host = lab.hosts[0]
    limit = "service lmtp {\n  vsz_limit = 48M\n}\n"
    script = f"printf '{limit}' >> /etc/dovecot/local.conf && doveadm reload && sleep 1"
    lifecycle.run_in_host(host, lab, ["sh", "-c", script], capture=True)
    assert _lhlo_fails(lab, host)
    big = Kind("at_size_limit", size=AT_LIMIT)
    lda = outcome(lab, host, send(host, big, "lda"))
    assert lda.statuses == (("alice", "sent", "2.0.0"),)

    said = _apply(lab, host, tmp_path)
    assert any("set vsz_limit = 74M in service lmtp" in s for s in said), said
    assert not _lhlo_fails(lab, host)
    assert outcome(lab, host, send(host, big, "lmtp")) == lda


def test_a_home_only_local8_gave_is_refused_and_mail_home_fixes_it(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    """System users whose userdb returns no home: the LDA (mailbox_command, no -d) used
    local(8)'s HOME; LMTP would defer every message (~/Maildir). Planning refuses, saying so;
    with mail_home set, LMTP files list mail as the LDA did."""
    lab = make_lab("system-lda", release="bookworm", prefix="hm")
    host = lab.hosts[0]
    no_home = (
        "sed -i '/^  driver = passwd/a\\  override_fields = home=' "
        "/etc/dovecot/conf.d/auth-system.conf.ext && doveadm reload"
    )
    lifecycle.run_in_host(host, lab, ["sh", "-c", no_home], capture=True)
    listed = Kind("list", to=("bob@example.test",), subject="news", list_id="<news.example.test>")
    lda = outcome(lab, host, send(host, listed, "lda"))
    assert [folder for folder, _ in lda.copies] == ["bob/Maildir/.Lists"]

    cli = LabCli(lab, tmp_path)
    refused = cli("plan", host.name, "--test-recipient", "bob@example.test")
    assert refused.exit_code == 1, refused.output
    assert "needs ~/ (every delivery deferred, 4.3.0)" in refused.output
    assert "set mail_home" in refused.output

    fix = "echo 'mail_home = /home/%n' >> /etc/dovecot/local.conf && doveadm reload"
    lifecycle.run_in_host(host, lab, ["sh", "-c", fix], capture=True)
    _apply(lab, host, tmp_path, "bob@example.test")
    lmtp = outcome(lab, host, send(host, listed, "lmtp"))
    assert [folder for folder, _ in lmtp.copies] == ["bob/Maildir/.Lists"]
    assert lmtp.statuses == lda.statuses


SYSTEM_KINDS = (
    Kind("plain", to=("bob@example.test",)),
    Kind("multi", to=("alice@example.test", "bob@example.test")),
    Kind("alias", to=("team@example.test",)),
    Kind("detail", to=("bob+news@example.test",)),
    Kind("list", to=("bob@example.test",), list_id="<news.example.test>"),
    Kind("smtputf8", to=("bob@example.test",), sender="t\u00ebst@migrator.lab", smtputf8=True),
)


def _without(outcome: Outcome, header: str) -> Outcome:
    copies = tuple(
        (folder, tuple(h for h in headers if not h.lower().startswith(header)))
        for folder, headers in outcome.copies
    )
    return Outcome(outcome.statuses, copies, outcome.replies)


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_system_users_get_their_mail_and_lose_only_the_headers_the_plan_names(
    make_lab: LabFactory, tmp_path: Path, release: str
) -> None:
    """mailbox_command hosts: local(8) wrote X-Original-To and the original Delivered-To;
    through mailbox_transport LMTP sees only the expanded address, as the plan warns."""
    lab = make_lab("system-lda", release=release, prefix="sy")
    host = lab.hosts[0]
    lda = {k.name: outcome(lab, host, send(host, k, "lda")) for k in SYSTEM_KINDS}
    said = _apply(lab, host, tmp_path, "bob@example.test")
    lmtp = {k.name: outcome(lab, host, send(host, k, "lmtp")) for k in SYSTEM_KINDS}

    assert any("no X-Original-To, Delivered-To names the final recipient" in s for s in said)
    assert not any("destination_recipient_limit" in s for s in said), said
    for name in ("plain", "multi", "detail", "list"):
        assert lmtp[name] == _without(lda[name], "x-original-to"), (name, lda[name], lmtp[name])
    assert [f for f, _ in lmtp["list"].copies] == ["bob/Maildir/.Lists"]
    # An alias: same mailboxes, but Delivered-To now names each user, not team@.
    assert [f for f, _ in lmtp["alias"].copies] == [f for f, _ in lda["alias"].copies]
    assert all(
        h == ("Delivered-To: team@example.test",) for _, h in _without(lda["alias"], "x-").copies
    )
    assert all(
        h[0].startswith(("Delivered-To: alice@", "Delivered-To: bob@"))
        for _, h in lmtp["alias"].copies
    )
    if release == "trixie":
        assert lmtp["smtputf8"] == _without(lda["smtputf8"], "x-original-to")
    else:
        assert lmtp["smtputf8"].statuses == (("bob", "bounced", "5.6.7"),)
