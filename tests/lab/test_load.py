"""Under load, nothing lost: a steady SMTP stream (plain, SMTPUTF8 and large messages)
through a successful apply, a manual rollback, and a failing apply that rolls back; then
every accepted message is in the right mailbox exactly once, none left deferred, and none
bounced but SMTPUTF8 mail over Dovecot 2.3's LMTP, which the plan announced (5.6.7)."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
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
from .mailstream import (
    LARGE,
    SMTPUTF8_KINDS,
    Attempt,
    Stream,
    attempts,
    delivered,
    queue_empty,
)

pytestmark = pytest.mark.lab
_DELAY = re.compile(r" delay=([0-9.]+),")


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
    switched = float("inf")
    try:
        time.sleep(1)
        plan = cli.plan(host)
        switched = time.monotonic()  # from here on Postfix may hand mail to LMTP
        applied = apply_plan(transport, plan, ApplyOptions(rollback_on_fail=True))
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
    log = mail.postfix_log(lab, host)
    tally = _tally(stream, attempts(log), switched, _accepts(plan))
    expected = {(user, mid) for mid, users in stream.accepted.items() for user in users}
    expected -= tally.announced_keys
    lost = expected - set(found)
    duplicates = {key: n for key, n in found.items() if n > 1}
    bounced = log.count("status=bounced")
    delays = [float(d) for d in _DELAY.findall(log)]
    kinds = Counter(stream.kinds.values())
    print(
        f"\nload {release}: sent {stream.sent}, accepted {len(stream.accepted)} {dict(kinds)},"
        f" refused {stream.refused}, deliveries expected {len(expected)},"
        f" delivered {sum(found.values())}, duplicates {len(duplicates)}, lost {len(lost)},"
        f" bounced {bounced} (announced {len(tally.announced)}),"
        f" longest delay {max(delays):.2f}s; {tally.describe()}"
    )
    # The stream kept flowing through all three (at least half its rate the whole time; a
    # fixed count would depend on how fast the applies are).
    assert len(stream.accepted) >= max(100, stream.rate * streamed / 2), streamed
    assert kinds[LARGE] >= 3 and sum(kinds[k] for k in SMTPUTF8_KINDS) >= 20, kinds
    assert not lost, sorted(lost)[:5]
    assert not duplicates, list(duplicates.items())[:5]
    assert set(found) == expected
    # Every bounce is SMTPUTF8 mail over Dovecot 2.3's LMTP that the plan announced.
    assert bounced == len(tally.announced), tally.unannounced
    if release == "trixie":
        assert bounced == 0  # 2.4 offers SMTPUTF8 (mail_utf8_extensions, planned)
        assert tally.utf8_over_lmtp["sent"] > 0, tally.describe()
    else:
        # Postfix 3.5/3.7 require SMTPUTF8 only when they open an LMTP connection (LHLO);
        # on a connection they reuse they skip the check and Dovecot 2.3 takes the mail.
        assert tally.utf8_over_lmtp["bounced"] == tally.utf8_over_lmtp["bounced-new"]
        assert tally.utf8_over_lmtp["sent"] == tally.utf8_over_lmtp["sent-reused"]


@dataclass(frozen=True, slots=True)
class Tally:
    """The stream's delivery attempts sorted: bounces the plan announced, others, and what
    became of SMTPUTF8 mail handed to LMTP (by outcome, on a new or a reused connection)."""

    announced: tuple[Attempt, ...]
    unannounced: tuple[Attempt, ...]
    utf8_over_lmtp: Counter[str]

    @property
    def announced_keys(self) -> set[tuple[str, str]]:
        return {(a.user, a.message_id) for a in self.announced}

    def describe(self) -> str:
        return f"SMTPUTF8 over LMTP: {dict(sorted(self.utf8_over_lmtp.items()))}"


def _tally(stream: Stream, tried: list[Attempt], switched: float, accepts: set[str]) -> Tally:
    """Sort the bounces: announced is SMTPUTF8 mail accepted after the switch began, bounced
    5.6.7 by Postfix's LMTP client, on a host whose plan announced exactly that."""
    announced, unannounced = [], []
    utf8: Counter[str] = Counter()
    for attempt in tried:
        is_utf8 = stream.kinds.get(attempt.message_id) in SMTPUTF8_KINDS
        if is_utf8 and attempt.over_lmtp and attempt.status in ("sent", "bounced"):
            utf8[attempt.status] += 1
            utf8[f"{attempt.status}-{'new' if attempt.conn_use == 1 else 'reused'}"] += 1
        if attempt.status != "bounced":
            continue
        after = stream.accepted_at.get(attempt.message_id, 0.0) >= switched
        said = "smtputf8:bounced 5.6.7" in accepts
        if is_utf8 and after and said and attempt.over_lmtp and attempt.dsn == "5.6.7":
            announced.append(attempt)
        else:
            unannounced.append(attempt)
    return Tally(tuple(announced), tuple(unannounced), utf8)


def _accepts(plan: Plan) -> set[str]:
    """The differences the plan announced (the A/B proof's accepts)."""
    step = next(s for s in plan.steps if s.action == "proof_before")
    return set(step.args["accepts"].split(";"))


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
