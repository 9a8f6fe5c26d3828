"""A host whose LMTP is already in use (bob's mail goes over LMTP through a transport map,
the listener in Postfix's queue is configured): the plan waits for LMTP deliveries in flight
before Dovecot reloads (a wait_lmtp step, with its reason), and a stream of mail through LMTP
during apply loses nothing, on every lab release.

The wait narrows what Dovecot's reload cuts, it cannot close it: Postfix's lmtp agents started
after its reload may be in a transaction when Dovecot reloads, which answers "421 4.3.2" (at
the greeting or RCPT: deferred, retried; in reply to end of DATA, after storing the message:
Postfix delivers it again). Measured on Dovecot 2.4.1, five reloads into a stream over LMTP
(20 plain messages a second, a 9.5 MB one every second): 23 to 28 such answers and 1 to 9
messages stored twice without the wait, 6 and none with it. One apply each, three runs: 2.3.19
without the wait 1 end-of-DATA cut, none stored twice; with it one run stored one twice; 2.4.1
without 2 cuts, one stored twice; with it none. So a copy stored twice is allowed here only
where Postfix logged Dovecot's 421 at end of DATA for it."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest

from migrator.executor.apply import ApplyOptions, Outcome, apply_plan
from migrator.executor.rollback import rollback_latest
from migrator.lab import lifecycle, mail
from migrator.lab.state import Lab, LabHost
from migrator.transport import connect

from .conftest import RELEASES, LabFactory
from .faults import sh
from .hostfiles import LabCli
from .mailstream import PLAIN, Stream, attempts, delivered, large, queue_empty

pytestmark = pytest.mark.lab

# The lmtp profile (listener in the queue, protocol lmtp set up) with virtual_transport back
# on the LDA pipe: alice's mail goes through the LDA, bob's over LMTP by a transport map.
BOB_OVER_LMTP = (
    "postconf -e virtual_transport=dovecot transport_maps=hash:/etc/postfix/transport && "
    "echo 'bob@example.test lmtp:unix:private/dovecot-lmtp' > /etc/postfix/transport && "
    "postmap /etc/postfix/transport && postfix reload && sleep 1"
)
CUT = re.compile(r"said: 421 4\.3\.2 .*\(in reply to (.*) command\)")
CUT_DATA = re.compile(
    r" ([0-9A-Za-z]+): to=<([^@>]*)@[^>]*>,.*said: 421 4\.3\.2 .*\(in reply to end of DATA"
)


def _cut_after_data(log: str) -> set[tuple[str, str]]:
    """(user, Message-ID) of each delivery Dovecot answered 421 4.3.2 at end of DATA."""
    ids = dict(re.findall(r" ([0-9A-Za-z]+): message-id=(<[^>]+>)", log))
    return {(user, ids[qid]) for qid, user in CUT_DATA.findall(log) if qid in ids}


def _drained(lab: Lab, host: LabHost) -> None:
    lifecycle.run_in_host(host, lab, ["postqueue", "-f"])
    deadline = time.monotonic() + 120
    while not queue_empty(lab, host) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert queue_empty(lab, host), "mail left in the queue"


@pytest.mark.parametrize("release", RELEASES)
def test_apply_waits_for_lmtp_in_flight_and_the_stream_loses_nothing(
    make_lab: LabFactory, tmp_path: Path, release: str
) -> None:
    lab = make_lab("lmtp", release=release, prefix="lu")
    host = lab.hosts[0]
    sh(lab, host, BOB_OVER_LMTP)
    plan = LabCli(lab, tmp_path).plan(host)
    [wait] = [s for s in plan.steps if s.action == "wait_lmtp"]
    assert wait.args["in_use"] == (
        "Postfix already hands mail to Dovecot over LMTP: bob@example.test = "
        "lmtp:unix:private/dovecot-lmtp (/etc/postfix/transport); Dovecot already serves LMTP "
        "on /var/spool/postfix/private/dovecot-lmtp"
    )
    reloads = mail.postfix_log(lab, host).count("reload -- version")
    stream, big = Stream(host, kind_of=lambda n: PLAIN), Stream(host, rate=0.5, kind_of=large)
    transport = connect(host.name, ssh_config=lab.ssh_config)
    stream.start()
    big.start()
    try:
        time.sleep(2)
        assert any(a.over_lmtp for a in attempts(mail.postfix_log(lab, host))), "no LMTP yet"
        applied = apply_plan(transport, plan, ApplyOptions(rollback_on_fail=True))
        time.sleep(2)
    finally:
        stream.stop()
        big.stop()
        transport.close()
    assert applied.outcome is Outcome.APPLIED, applied
    timed = {t.action: t for t in applied.steps}
    log = _lost_nothing(lab, host, stream, big, f"wait_lmtp {timed['wait_lmtp'].seconds:.2f}s")
    # Postfix reloaded twice during apply: wait_lmtp's, then reload_postfix's.
    assert log.count("reload -- version") == reloads + 2
    assert timed["wait_lmtp"].seconds < float(wait.args["seconds"])  # drained, not timed out


@pytest.mark.parametrize("release", RELEASES)
def test_rollback_waits_only_for_lmtp_agents_from_before_its_postfix_reload(
    make_lab: LabFactory, tmp_path: Path, release: str
) -> None:
    """Bob's mail stays on LMTP after rollback, so Postfix starts lmtp agents after the
    rollback's reload and keeps them busy with the stream: a wait for those would last until
    the cap (30 s). The rollback waits only for the agents that ran before its reload (they
    finish their delivery and exit), then Dovecot reloads; the stream loses nothing."""
    lab = make_lab("lmtp", release=release, prefix="lr")
    host = lab.hosts[0]
    sh(lab, host, BOB_OVER_LMTP)
    plan = LabCli(lab, tmp_path).plan(host)
    stream, big = Stream(host, kind_of=lambda n: PLAIN), Stream(host, rate=0.5, kind_of=large)
    transport = connect(host.name, ssh_config=lab.ssh_config)
    try:
        assert apply_plan(transport, plan, ApplyOptions()).outcome is Outcome.APPLIED
        reloads = mail.postfix_log(lab, host).count("reload -- version")
        stream.start()
        big.start()
        time.sleep(2)
        report = rollback_latest(transport)
        time.sleep(3)
    finally:
        stream.stop()
        big.stop()
        transport.close()
    assert report is not None and report.ok, report
    print("\nrollback steps:", ", ".join(f"{t.action} {t.seconds:.2f}s" for t in report.steps))
    actions = [t.action for t in report.steps]
    assert actions.index("reload_postfix") + 1 == actions.index("reload_dovecot")
    assert report.delivery is not None and report.delivery.relay == "dovecot"  # the LDA again
    waited = next(t.seconds for t in report.steps if t.action == "reload_postfix")
    log = _lost_nothing(lab, host, stream, big, f"rollback reload_postfix {waited:.2f}s")
    assert log.count("reload -- version") == reloads + 1  # once, before Dovecot's reload
    after = log.rsplit("reload -- version", 1)[1]
    assert any(a.over_lmtp for a in attempts(after)), "bob's mail left LMTP"
    assert waited < 5, waited  # not the agents started after the reload: the cap is 30 s


def _lost_nothing(lab: Lab, host: LabHost, stream: Stream, big: Stream, said: str) -> str:
    """Check every message the streams got accepted was delivered once (twice only where
    Dovecot's 421 cut it after DATA), print the figures, and return Postfix's log."""
    _drained(lab, host)
    found = delivered(lab, host)
    accepted = stream.accepted | big.accepted
    expected = {(user, mid) for mid, users in accepted.items() for user in users}
    log = mail.postfix_log(lab, host)
    cut = Counter(CUT.findall(log))
    duplicates = {key: n for key, n in found.items() if n > 1}
    deferred = [a for a in attempts(log) if a.status == "deferred"]
    print(
        f"\n{host.name} {host.versions.dovecot}: accepted {len(accepted)}, deliveries "
        f"{len(expected)}, attempts over LMTP {sum(a.over_lmtp for a in attempts(log))}, "
        f"deferred {len(deferred)} (421 4.3.2 by command {dict(cut)}), duplicates "
        f"{len(duplicates)}, {said}"
    )
    assert len(accepted) >= 60 and big.accepted, (stream.sent, big.sent)
    assert not expected - set(found), sorted(expected - set(found))[:5]
    assert set(found) == expected
    assert set(duplicates) <= _cut_after_data(log), (duplicates, _cut_after_data(log))
    assert all(n == 2 for n in duplicates.values()), duplicates
    return log
