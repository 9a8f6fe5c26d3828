"""A recipient over quota, through the LDA and then (after the switch) through LMTP, on each
lab release, with ``quota_full_tempfail`` off and on (issue 13's over-quota kind).

The quota is real: the quota plugin in ``protocol lda`` (the plan carries it to ``protocol
lmtp``), a 100K quota for every user in the release's own syntax, bob filled past it. alice
sends bob the corpus's over-quota message and the outcome is read as the corpus test reads
it, plus what the sender got back: Dovecot's own rejection mail or Postfix's bounce.
Each case pins what it measured; a change in either path fails it.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import pytest

from migrator.delivery.batch import Batch, send_batch
from migrator.delivery.corpus import Kind, build_mail
from migrator.delivery.outcome import MailOutcome
from migrator.lab.state import Lab, LabHost
from migrator.transport import connect

from . import faults
from .conftest import RELEASES, LabFactory
from .hostfiles import LabCli

pytestmark = pytest.mark.lab


class Seen(NamedTuple):
    """One path's outcome for the over-quota message, as the test pins it."""

    status: str
    recipients: tuple[str, ...]
    notices: tuple[str, ...]  # subjects of the mails alice (the sender) got back
    command: str  # the LMTP command Dovecot refused ("" for the LDA)


ALICE, BOB = "alice@example.test", "bob@example.test"
REJECTED = "Rejected: migrator proof over-quota"  # Dovecot's rejection_subject, from <>
BOUNCE = "Undelivered Mail Returned to Sender"  # Postfix's bounce(8), from MAILER-DAEMON
# What each path did, measured alike on every release (Dovecot 2.3.13/Postfix 3.5.25,
# 2.3.19/3.7.11, 2.4.1/3.10.13): the DSN class, Postfix's verdict for bob, the subjects of the
# notices alice got back, and the LMTP command Dovecot answered.
LDA_REJECTS = Seen("delivered 2.0.0", ("bob@example.test delivered 2.0.0",), (REJECTED,), "")
LMTP_BOUNCES = Seen("bounced 5.2.2", ("bob@example.test bounced 5.2.2",), (BOUNCE,), "end of DATA")
LDA_DEFERS = Seen("deferred 4.3.0", ("bob@example.test deferred 4.3.0",), (), "")
LMTP_DEFERS = Seen("deferred 4.2.2", ("bob@example.test deferred 4.2.2",), (), "end of DATA")
# quota_full_tempfail -> LDA, LMTP, LMTP with lmtp_rcpt_check_quota = yes
OUTCOMES: Mapping[bool, tuple[Seen, Seen, Seen]] = {
    False: (LDA_REJECTS, LMTP_BOUNCES, LMTP_BOUNCES._replace(command="RCPT TO")),
    True: (LDA_DEFERS, LMTP_DEFERS, LMTP_DEFERS._replace(command="RCPT TO")),
}
# The plan's offer, taken after the switch (the same line in 2.3 and 2.4 syntax).
RCPT_CHECK = shlex.join(["protocol lmtp {", "  lmtp_rcpt_check_quota = yes", "}"])


def _send(lab: Lab, host: LabHost) -> tuple[Seen, MailOutcome]:
    """The over-quota message from alice to bob: what became of it, and its full outcome."""
    token = uuid.uuid4().hex[:12]
    mail = build_mail(Kind.OVER_QUOTA, token, [BOB], sender=ALICE)
    transport = connect(host.name, ssh_config=lab.ssh_config)
    try:
        report, _ = send_batch(
            transport, Batch(token, (mail,), (ALICE, BOB)), log_path="/var/log/postfix.log",
            timeout=60, only_applicable=False,
        )  # fmt: skip
    finally:
        transport.close()
    outcome = report.outcomes[Kind.OVER_QUOTA.value]
    notices, command = _afterwards(lab, host, token)
    return Seen(outcome.status, outcome.recipients, notices, command), outcome


def _afterwards(lab: Lab, host: LabHost, token: str) -> tuple[tuple[str, ...], str]:
    """The subjects of the mails in alice's mailbox that quote TOKEN, once Postfix's queue is
    empty (a notice is queued after the batch settled; the batch removed its own mail), and
    the LMTP command whose answer Postfix last logged (none of the LDA's lines has one)."""
    wait = 'i=0; until [ -z "$(postqueue -j)" ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done'
    fetch = f"doveadm -f tab fetch -u {ALICE} hdr.subject text {token}"
    said = "sed -n 's/.*(in reply to \\(.*\\) command).*/\\1/p' /var/log/postfix.log | tail -1"
    out = faults.sh(lab, host, f"{wait}; postqueue -j; {fetch}; echo; {said}")
    lines = out.splitlines()
    assert lines[:1] == ["hdr.subject"], f"queue not empty or no fetch header: {out}"
    return tuple(sorted(filter(None, lines[1:-1]))), lines[-1]


def _switch(lab: Lab, host: LabHost, tmp_path: Path) -> str:
    """Plan and apply the switch; the plan's quota warning."""
    cli = LabCli(lab, tmp_path)
    plan = cli.plan(host, ALICE)
    applied = cli("apply", host.name, "--plan", str(cli.latest_plan(host)), "--rollback-on-fail")
    assert applied.exit_code == 0, applied.output
    [warning] = [w for w in plan.warnings if w.startswith("quota:")]
    return warning


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("tempfail", [False, True], ids=["bounce", "tempfail"])
def test_over_quota_before_and_after_the_switch(
    make_lab: LabFactory, tmp_path: Path, release: str, tempfail: bool
) -> None:
    lab = make_lab("virtual-lda", release=release, prefix="qu")
    host = lab.hosts[0]
    faults.over_quota(lab, host, BOB, tempfail)
    lda, saved = _send(lab, host)
    warning = _switch(lab, host, tmp_path)
    lmtp, outcome = _send(lab, host)
    conf = f"printf '%s\\n' {RCPT_CHECK} >> /etc/dovecot/local.conf"
    faults.sh(lab, host, f"{conf} && doveadm reload && sleep 1")
    rcpt, _ = _send(lab, host)
    print(f"\n{release} {host.versions} quota_full_tempfail={tempfail}")
    for path, seen in (("LDA", lda), ("LMTP", lmtp), ("LMTP, rcpt check", rcpt)):
        print(f"  {path}: {seen}")
    print(f"  plan: {warning}")
    assert saved.copies == outcome.copies == ()  # never saved, over either path
    assert (lda, lmtp, rcpt) == OUTCOMES[tempfail]
    # The plan's warning names what was measured on both paths, and the setting that decides.
    for code in (lda.recipients[0].split()[-1], lmtp.recipients[0].split()[-1]):
        assert code in warning
    assert ("Dovecot's own rejection" in warning) == bool(lda.notices)
    assert f"quota_full_tempfail = {'yes' if tempfail else 'no'}" in warning


# The quota plugin for LMTP only: protocol lda's own list gone, the LDA loads the global one
# (empty: Sieve cannot load globally, doveadm would fail), protocol lmtp adds quota to it.
# Left so by the plan (protocol lda sets no mail_plugins to carry over).
LMTP_ONLY = shlex.join(
    [
        "protocol lmtp {",
        "  mail_plugins = $mail_plugins quota",
        "}",
        "plugin {",
        "  quota = maildir:User quota",
        "  quota_rule = *:storage=100K",
        "}",
    ]
)


def test_quota_for_lmtp_only_saves_over_the_lda_and_bounces_over_lmtp(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    """The premise of the plan's one-path quota warning, on Dovecot 2.3.19: bob over a quota
    only LMTP enforces gets the message saved by the LDA, and bounced (5.2.2) by LMTP."""
    lab = make_lab("virtual-lda", release="bookworm", prefix="ql")
    host = lab.hosts[0]
    lda_conf = "/etc/dovecot/conf.d/15-lda.conf"
    body = "head -c 200000 /dev/zero | tr '\\0' x | fold -w 76"
    faults.sh(lab, host, f"sed -i '/mail_plugins = [$]mail_plugins sieve/d' {lda_conf}")
    faults.sh(lab, host, f"printf '%s\\n' {LMTP_ONLY} > /etc/dovecot/conf.d/90-quota.conf")
    filler = f"{{ printf 'Subject: filler\\n\\n'; {body}; }} | doveadm save -u {BOB}"
    faults.sh(lab, host, f"{filler} && doveadm reload && sleep 1")
    lda, saved = _send(lab, host)
    warning = _switch(lab, host, tmp_path)
    lmtp, refused = _send(lab, host)
    print(f"\nbookworm {host.versions}\n  LDA: {lda} {saved.copies}\n  LMTP: {lmtp}\n  {warning}")
    assert lda.status == "delivered 2.0.0" and saved.copies, saved  # saved past the quota
    assert lmtp == LMTP_BOUNCES and refused.copies == ()
    assert "the LDA loaded mail_plugins = (none), LMTP will load quota" in warning
    assert "the quota plugin for LMTP only" in warning
    assert "LMTP answers 552 5.2.2 and Postfix bounces it (5.2.2)" in warning
