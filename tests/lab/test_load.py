"""Under load, nothing lost: a steady SMTP stream (plain, SMTPUTF8 and large messages)
through a successful apply, a manual rollback, and a failing apply that rolls back; then
every accepted message is in the right mailbox exactly once, none left deferred, and none
bounced but SMTPUTF8 mail over Dovecot 2.3's LMTP, which the plan announced (5.6.7)."""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from migrator.executor.apply import ApplyOptions, ApplyReport, Outcome, apply_plan
from migrator.lab import lifecycle, mail, sandbox
from migrator.lab.state import Lab, LabHost
from migrator.plan.document import Plan
from migrator.rules.equivalence import smtputf8_checked_on_reuse
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
    large,
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
    stream, big = Stream(host), Stream(host, rate=0.4, kind_of=large)
    stream.start()
    big.start()
    started = time.monotonic()
    switched = float("inf")
    try:
        time.sleep(1)
        plan = cli.plan(host)
        switched = time.monotonic()  # from here on Postfix may hand mail to LMTP
        applied = apply_plan(transport, plan, ApplyOptions(rollback_on_fail=True))
        assert applied.outcome is Outcome.APPLIED, applied
        time.sleep(1)
        assert _large_over_lmtp(lab, host, big, within=10), "no large message over LMTP"
        assert cli("rollback", host.name).exit_code == 0
        time.sleep(1)
        failing = _with_lmtp_deferring(lab, host, cli.plan(host), transport)
        assert failing.outcome is Outcome.ROLLED_BACK, failing
        time.sleep(1)
    finally:
        stream.stop()
        big.stop()
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
    _keep_logs(lab, host, tmp_path)
    accepted, kinds_of = stream.accepted | big.accepted, stream.kinds | big.kinds
    tally = _tally((stream, big), attempts(log), switched, _accepts(plan))
    expected = {(user, mid) for mid, users in accepted.items() for user in users}
    expected -= tally.announced_keys
    lost = expected - set(found)
    duplicates = {key: n for key, n in found.items() if n > 1}
    bounced = log.count("status=bounced")
    delays = [float(d) for d in _DELAY.findall(log)]
    kinds = Counter([*stream.kinds.values(), *big.kinds.values()])
    print(
        f"\nload {release}: sent {stream.sent}+{big.sent}, accepted {len(accepted)}"
        f" {dict(kinds)}, refused {stream.refused + big.refused}, streamed {streamed:.0f}s,"
        f" deliveries expected {len(expected)},"
        f" delivered {sum(found.values())}, duplicates {len(duplicates)}, lost {len(lost)},"
        f" bounced {bounced} (announced {len(tally.announced)}),"
        f" longest delay {max(delays):.2f}s; {tally.describe()}; logs in {tmp_path}"
    )
    # Both streams kept flowing through all three (at least half their rate the whole time;
    # a fixed count would depend on how fast the applies are).
    assert len(stream.accepted) >= max(100, stream.rate * streamed / 2), streamed
    assert len(big.accepted) >= max(3, big.rate * streamed / 2), streamed
    assert sum(kinds[k] for k in SMTPUTF8_KINDS) >= 20, kinds
    assert not lost, sorted(lost)[:5]
    assert not duplicates, [(k, n, kinds_of[k[1]]) for k, n in duplicates.items()][:5]
    assert set(found) == expected
    # Every bounce is SMTPUTF8 mail over Dovecot 2.3's LMTP that the plan announced.
    assert bounced == len(tally.announced), tally.unannounced
    if release == "trixie":
        assert bounced == 0  # 2.4 offers SMTPUTF8 (mail_utf8_extensions, planned)
        assert tally.utf8_over_lmtp["sent"] > 0, tally.describe()
    else:
        # Postfix before 3.7.17 (3.5.25, 3.7.11 here) requires SMTPUTF8 only when it opens an
        # LMTP connection (after LHLO); on a connection it reuses it skips the check and
        # Dovecot 2.3 takes the mail. The plan's warning says which this Postfix does.
        utf8 = tally.utf8_over_lmtp
        assert utf8["bounced"] == utf8["bounced-new"] and utf8["sent"] == utf8["sent-reused"]
        checked = smtputf8_checked_on_reuse(plan.facts["postfix_version"])
        assert utf8["sent"] == 0 or not checked, tally.describe()
        [warning] = [w for w in plan.warnings if w.startswith("SMTPUTF8: ")]
        assert ("lmtp client opens a connection" in warning) is (not checked), warning


@dataclass(frozen=True, slots=True)
class Tally:
    """The stream's delivery attempts sorted: bounces the plan announced, others, and what
    became of SMTPUTF8 mail handed to LMTP (by outcome, on a new or a reused connection)."""

    announced: tuple[Attempt, ...]
    unannounced: tuple[Attempt, ...]
    utf8_over_lmtp: Counter[str]
    large_over_lmtp: int
    """Copies of large messages LMTP delivered."""

    @property
    def announced_keys(self) -> set[tuple[str, str]]:
        return {(a.user, a.message_id) for a in self.announced}

    def describe(self) -> str:
        utf8 = dict(sorted(self.utf8_over_lmtp.items()))
        return f"SMTPUTF8 over LMTP: {utf8}, large delivered over LMTP: {self.large_over_lmtp}"


def _tally(
    streams: tuple[Stream, ...], tried: list[Attempt], switched: float, accepts: set[str]
) -> Tally:
    """Sort the bounces: announced is SMTPUTF8 mail accepted after the switch began, bounced
    5.6.7 by Postfix's LMTP client, on a host whose plan announced exactly that."""
    kinds = {mid: kind for stream in streams for mid, kind in stream.kinds.items()}
    accepted_at = {mid: at for stream in streams for mid, at in stream.accepted_at.items()}
    announced, unannounced = [], []
    utf8: Counter[str] = Counter()
    large = 0
    for attempt in tried:
        is_utf8 = kinds.get(attempt.message_id) in SMTPUTF8_KINDS
        if kinds.get(attempt.message_id) == LARGE and attempt.over_lmtp:
            large += attempt.status == "sent"
        if is_utf8 and attempt.over_lmtp and attempt.status in ("sent", "bounced"):
            utf8[attempt.status] += 1
            utf8[f"{attempt.status}-{'new' if attempt.conn_use == 1 else 'reused'}"] += 1
        if attempt.status != "bounced":
            continue
        after = accepted_at.get(attempt.message_id, 0.0) >= switched
        said = "smtputf8:bounced 5.6.7" in accepts
        if is_utf8 and after and said and attempt.over_lmtp and attempt.dsn == "5.6.7":
            announced.append(attempt)
        else:
            unannounced.append(attempt)
    return Tally(tuple(announced), tuple(unannounced), utf8, large)


def _large_over_lmtp(lab: Lab, host: LabHost, stream: Stream, within: float) -> bool:
    """Whether LMTP delivered one of STREAM's large messages, waiting WITHIN seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for attempt in attempts(mail.postfix_log(lab, host)):
            is_large = stream.kinds.get(attempt.message_id) == LARGE
            if is_large and attempt.over_lmtp and attempt.status == "sent":
                return True
        time.sleep(0.5)
    return False


def _keep_logs(lab: Lab, host: LabHost, into: Path) -> None:
    """Copy the host's Postfix and Dovecot logs into the test's directory (pytest keeps the
    last runs'), since the lab goes when the test ends."""
    for name in ("postfix.log", "dovecot.log"):
        source = sandbox.host_file(lab, host, f"/var/log/{name}")
        if source.is_file():
            shutil.copyfile(source, into / name)


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
