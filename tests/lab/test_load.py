"""Under load, nothing lost: a steady SMTP stream through a successful apply, a manual
rollback, and a failing apply that rolls back; then every accepted message is in the
right mailbox exactly once, none bounced, none left deferred."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from migrator.executor.apply import ApplyOptions, ApplyReport, Outcome, apply_plan
from migrator.lab import lifecycle, mail
from migrator.lab.state import Lab, LabHost
from migrator.plan.document import Plan
from migrator.transport import connect
from migrator.transport.base import Transport

from .conftest import RELEASES, LabFactory
from .faults import lmtp_mail_unusable, sh
from .hostfiles import LabCli
from .mailstream import Stream, delivered, queue_empty

pytestmark = pytest.mark.lab
_DELAY = re.compile(r" delay=([0-9.]+),")
_QUEUE_ID = re.compile(r": ([0-9A-F]+): ")
_LOAD_ID = re.compile(r": ([0-9A-F]+): message-id=<load\.")


@pytest.mark.parametrize("release", RELEASES)
def test_steady_stream_through_apply_rollback_and_failed_apply(
    make_lab: LabFactory, tmp_path: Path, release: str
) -> None:
    lab = make_lab("virtual-lda", release=release)
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path)
    transport = connect(host.name, ssh_config=lab.ssh_config)
    stream = Stream(host)
    stream.start()
    started = time.monotonic()
    try:
        time.sleep(1)
        applied = apply_plan(transport, cli.plan(host), ApplyOptions(rollback_on_fail=True))
        assert applied.outcome is Outcome.APPLIED, applied
        time.sleep(1)
        assert cli("rollback", host.name).exit_code == 0
        time.sleep(1)
        failing = _with_lmtp_deferring(lab, host, cli.plan(host), transport)
        assert failing.outcome is Outcome.ROLLED_BACK, failing
        time.sleep(1)
    finally:
        stream.stop()
        transport.close()
    streamed = time.monotonic() - started

    # Drain: deferred mail is retried now rather than after Postfix's backoff.
    lifecycle.run_in_host(host, lab, ["postqueue", "-f"])
    deadline = time.monotonic() + 120
    while not queue_empty(lab, host) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert queue_empty(lab, host), "mail left in the queue"

    found = delivered(lab, host)
    expected = {(user, mid) for mid, users in stream.accepted.items() for user in users}
    lost = expected - set(found)
    duplicates = {key: n for key, n in found.items() if n > 1}
    log = mail.postfix_log(lab, host)
    bounced = _stream_bounces(log)
    delays = [float(d) for d in _DELAY.findall(log)]
    print(
        f"\nload: sent {stream.sent}, accepted {len(stream.accepted)}, refused {stream.refused},"
        f" deliveries expected {len(expected)}, delivered {sum(found.values())},"
        f" duplicates {len(duplicates)}, lost {len(lost)}, bounced {bounced},"
        f" longest delay {max(delays):.2f}s"
    )
    # The stream kept flowing through all three (at least half its rate the whole time; a
    # fixed count would depend on how fast the applies are).
    assert len(stream.accepted) >= max(100, stream.rate * streamed / 2), streamed
    assert not lost, sorted(lost)[:5]
    assert not duplicates, list(duplicates.items())[:5]
    assert set(found) == expected
    assert bounced == 0


def _stream_bounces(log: str) -> int:
    """Bounces of the stream's own messages. The A/B proof's messages bounce by design in
    some kinds (+detail under the LDA, SMTPUTF8 over Dovecot 2.3's LMTP, as the plan warns):
    they are the proof's measurement, not mail the switch lost."""
    ours = set(_LOAD_ID.findall(log))
    bounced = (_QUEUE_ID.search(line) for line in log.splitlines() if "status=bounced" in line)
    return sum(1 for found in bounced if found and found.group(1) in ours)


def _with_lmtp_deferring(lab: Lab, host: LabHost, plan: Plan, transport: Transport) -> ApplyReport:
    """Apply while Dovecot's LMTP defers every delivery (a mail location it cannot create,
    set outside the plan's files): the probe passes, Postfix switches, real mail is
    deferred, the test message fails, and everything rolls back to the LDA."""
    lmtp_mail_unusable(lab, host)
    try:
        options = ApplyOptions(rollback_on_fail=True, delivery_timeout=5.0)
        return apply_plan(transport, plan, options)
    finally:
        sh(lab, host, "sed -i '/^protocol lmtp {$/,$d' /etc/dovecot/local.conf")
