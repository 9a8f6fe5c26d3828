"""finalize on real lab hosts: a migrated host with an empty queue loses its LDA pipe (and
`postconf -M` agrees), delivery is proven, a second finalize changes nothing and rollback puts
it back byte-identical; a host still on the LDA, and one with mail bound to the pipe, are
refused with nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator.lab.state import LabHost

from .faults import sh
from .hostfiles import file_states
from .migrated_pair import RECIPIENT, Pair, migrated_pair

pytestmark = pytest.mark.lab

POSTFIX = ["/etc/postfix/main.cf", "/etc/postfix/master.cf"]
LIMIT = "dovecot_destination_recipient_limit"
# A message held in the queue with a content filter naming the LDA pipe service: the queue
# file itself binds it to that transport, whatever main.cf says when it is released.
HOLD_FOR_PIPE = r"""
cp -p /etc/postfix/main.cf /root/main.cf.kept
printf '/^Subject: finalize-hold/ FILTER dovecot:\n/^X-Hold: yes/ HOLD\n' > /etc/postfix/hold_checks
postconf -e header_checks=regexp:/etc/postfix/hold_checks && postfix reload >/dev/null 2>&1
printf 'Subject: finalize-hold\nX-Hold: yes\n\nheld for the pipe\n' |
  /usr/sbin/sendmail -f root alice@example.test
for i in $(seq 50); do postqueue -j | grep -q '"queue_name": "hold"' && break; sleep 0.2; done
cp -p /root/main.cf.kept /etc/postfix/main.cf && rm -f /etc/postfix/hold_checks
postfix reload >/dev/null 2>&1
postqueue -j
"""
RELEASE = r"""
postsuper -H ALL >/dev/null 2>&1; postqueue -f
for i in $(seq 100); do [ -z "$(postqueue -j)" ] && break; sleep 0.2; done
postqueue -j
"""


@pytest.fixture(scope="module", params=["bookworm", "trixie"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    """Two virtual-lda hosts of a release (Postfix 3.7 and 3.10): one migrated, one not."""
    plans = tmp_path_factory.mktemp("plans")
    with migrated_pair(f"fn{request.param[0]}", plans, request.param) as made:
        yield made


def _services(pair: Pair, host: LabHost) -> list[str]:
    """The master.cf services as `postconf -M` reads them (name/type)."""
    lines = sh(pair.lab, host, "postconf -M").splitlines()
    return [f"{line.split()[0]}/{line.split()[1]}" for line in lines if line.strip()]


def test_finalize_removes_the_pipe_proves_delivery_and_rolls_back(pair: Pair) -> None:
    lab, cli, host = pair.lab, pair.cli, pair.migrated
    migration = cli.latest_plan(host).stem
    before = file_states(lab, host, POSTFIX)
    assert "dovecot/unix" in _services(pair, host)
    done = cli("finalize", host.name, "--yes", "--test-recipient", RECIPIENT)
    assert done.exit_code == 0, done.output
    assert "remove service dovecot (unix)" in done.output
    assert "over LMTP in the mailbox" in done.output
    finalize_id = cli.latest_plan(host).stem
    assert f"applied plan {finalize_id}" in done.output
    assert "dovecot/unix" not in _services(pair, host)
    assert "dovecot-lda" not in sh(lab, host, "postconf -M")
    assert LIMIT not in sh(lab, host, "postconf -n")
    assert (
        sh(lab, host, "postconf -h virtual_transport").strip() == "lmtp:unix:private/dovecot-lmtp"
    )
    status = cli("status", host.name)
    assert f"finalized (plan {finalize_id})" in status.output, status.output
    # Planned again: nothing left to remove, nothing changes; the switch has nothing to do.
    again = cli("finalize", host.name, "--yes", "--test-recipient", RECIPIENT)
    assert again.exit_code == 0 and "no changes" in again.output, again.output
    replan = cli("plan", host.name, "--test-recipient", RECIPIENT, "--detailed-exitcode")
    assert replan.exit_code == 0, replan.output
    undone = cli("rollback", host.name)
    assert undone.exit_code == 0, undone.output
    assert "LMTP delivers it again" in undone.output
    assert file_states(lab, host, POSTFIX) == before
    assert "dovecot/unix" in _services(pair, host)
    status = cli("status", host.name)
    assert f"migrated (plan {migration})" in status.output, status.output


def test_a_host_still_on_the_lda_is_refused(pair: Pair) -> None:
    lab, cli, host = pair.lab, pair.cli, pair.lda
    before = file_states(lab, host, POSTFIX)
    refused = cli("finalize", host.name, "--yes", "--test-recipient", RECIPIENT)
    assert refused.exit_code == 1, refused.output
    assert f"{host.name}: not migrated (clean)" in refused.output
    assert file_states(lab, host, POSTFIX) == before
    assert "dovecot/unix" in _services(pair, host)


def test_mail_held_for_the_pipe_refuses_with_the_count_until_delivered(pair: Pair) -> None:
    lab, cli, host = pair.lab, pair.cli, pair.lda
    before = file_states(lab, host, POSTFIX)
    assert '"queue_name": "hold"' in sh(lab, host, HOLD_FOR_PIPE)
    assert file_states(lab, host, POSTFIX) == before
    cli.migrate(host, RECIPIENT)
    migrated = file_states(lab, host, POSTFIX)
    refused = cli("finalize", host.name, "--yes", "--test-recipient", RECIPIENT)
    assert refused.exit_code == 1, refused.output
    assert "1 message(s) queued for the old LDA transport dovecot" in refused.output
    assert "(hold)" in refused.output
    assert file_states(lab, host, POSTFIX) == migrated
    assert "dovecot/unix" in _services(pair, host)
    # Released, the held message goes through the pipe it names; then finalize proceeds.
    assert sh(lab, host, RELEASE).strip() == ""
    done = cli("finalize", host.name, "--yes", "--test-recipient", RECIPIENT)
    assert done.exit_code == 0, done.output
    assert "dovecot/unix" not in _services(pair, host)


def test_finalize_over_an_inventory_with_the_fleet_options(pair: Pair, tmp_path: Path) -> None:
    lab, cli = pair.lab, pair.cli
    # By now: the migrated host has its pipe back (rolled back), the other is finalized.
    assert "dovecot/unix" in _services(pair, pair.migrated)
    report = tmp_path / "finalize.json"
    inventory = f"{pair.migrated.name},{pair.lda.name},"
    done = cli(
        "finalize", "-i", inventory, "--yes", "--test-recipient", RECIPIENT, "--canary", "1",
        "--report-json", str(report),
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    outcomes = {h["host"]: h["outcome"] for h in json.loads(report.read_text())["hosts"]}
    assert outcomes == {pair.migrated.name: "applied", pair.lda.name: "no changes"}
    assert "dovecot/unix" not in _services(pair, pair.migrated)
    assert LIMIT not in sh(lab, pair.migrated, "postconf -n")
    # rollback -i says per host what it undid: first the finalizes (both hosts stay migrated,
    # LMTP delivering), then the migrations (back to the LDA).
    hosts = (pair.migrated, pair.lda)
    for undid, left, delivery in (
        ("finalize", "migrated", "lmtp"),
        ("migration", "rolled back", "lda"),
    ):
        report = tmp_path / f"rollback-{undid}.json"
        rolled = cli("rollback", "-i", inventory, "--report-json", str(report))
        assert rolled.exit_code == 0, rolled.output
        back = {h["host"]: h["rolled_back"] for h in json.loads(report.read_text())["hosts"]}
        assert {n: (b["undid"], b["left"], b["delivery"]) for n, b in back.items()} == {
            h.name: (undid, left, delivery) for h in hosts
        }, back
        for host in hosts:
            said = f"{host.name}: rolled back in "
            [line] = [line for line in rolled.output.splitlines() if line.startswith(said)]
            plan_id, left_plan_id = back[host.name]["plan_id"], back[host.name]["left_plan_id"]
            if undid == "finalize":
                assert line.endswith(
                    f"undid the finalize {plan_id}: pipe service back, left migrated on LMTP "
                    f"({left_plan_id})"
                ), line
                status = cli("status", host.name)
                assert f"migrated (plan {left_plan_id})" in status.output, status.output
                assert "dovecot/unix" in _services(pair, host)
            else:
                assert line.endswith(f"undid the migration {plan_id}: back to the LDA"), line
