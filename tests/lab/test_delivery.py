"""Delivery proofs on real lab hosts: LMTP probes, and test messages followed to the mailbox."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from migrator.delivery import proof
from migrator.delivery.parse import LmtpReply
from migrator.endpoint import Endpoint
from migrator.errors import DeliveryError
from migrator.lab import lifecycle
from migrator.transport import Transport, connect

from .conftest import LabFactory

pytestmark = pytest.mark.lab

LOG = "/var/log/postfix.log"
POSTFIX_LMTP = Endpoint.from_probe_target("unix:/var/spool/postfix/private/dovecot-lmtp")
DEFAULT_LMTP = Endpoint.from_probe_target("unix:/run/dovecot/lmtp")
ALICE, BOB, NOBODY = "alice@example.test", "bob@example.test", "nobody@example.test"


def _host(profile: str, prefix: str) -> Iterator[Transport]:
    """One lab host of a profile for the whole module, torn down at the end."""
    name = f"{prefix}{os.getpid() % 10000}"[:8]
    lab = lifecycle.bring_up(profile, 1, name)
    transport = connect(lab.hosts[0].name, ssh_config=lab.ssh_config)
    try:
        yield transport
    finally:
        transport.close()
        lifecycle.tear_down(name)


@pytest.fixture(scope="module")
def lmtp_host() -> Iterator[Transport]:
    yield from _host("lmtp", "dm")


@pytest.fixture(scope="module")
def virtual_lda_host() -> Iterator[Transport]:
    yield from _host("virtual-lda", "dv")


@pytest.fixture(scope="module")
def system_lda_host() -> Iterator[Transport]:
    yield from _host("system-lda", "ds")


def _in_mailbox(transport: Transport, user: str, message_id: str) -> list[str]:
    result = transport.run(
        ["doveadm", "-f", "tab", "fetch", "-u", user, "mailbox", "header", "message-id", message_id]
    )
    assert result.ok, result.err
    return result.out.splitlines()[1:]


def _queue_is_empty(transport: Transport) -> bool:
    return transport.run(["postqueue", "-j"]).out.strip() == ""


@pytest.mark.parametrize("interpreter", ["perl", "python3"])
def test_probe_postfix_socket_on_lmtp_host(lmtp_host: Transport, interpreter: str) -> None:
    result = proof.probe_lmtp(lmtp_host, POSTFIX_LMTP, [ALICE, BOB], interpreters=[interpreter])
    assert result.interpreter == interpreter
    assert [r.code for r in result.replies] == [220, 250, 250, 250, 250, 250, 221]
    assert [r.command for r in result.replies][3:5] == [f"RCPT TO:<{ALICE}>", f"RCPT TO:<{BOB}>"]
    assert "> RSET" in result.transcript


def test_probe_dovecot_default_listener_on_lda_host(virtual_lda_host: Transport) -> None:
    result = proof.probe_lmtp(virtual_lda_host, DEFAULT_LMTP, ALICE)
    assert result.replies[3] == LmtpReply(f"RCPT TO:<{ALICE}>", 250, "2.1.5 OK")


def test_probe_refuses_an_unknown_user(lmtp_host: Transport) -> None:
    with pytest.raises(DeliveryError) as caught:
        proof.probe_lmtp(lmtp_host, POSTFIX_LMTP, [ALICE, NOBODY])
    assert str(caught.value).startswith(
        f"{lmtp_host.host}: LMTP {POSTFIX_LMTP.probe_target}: RCPT TO:<{NOBODY}> answered 550 5.1.1"
    )
    assert "User doesn't exist" in str(caught.value)


@pytest.mark.parametrize("interpreter", ["perl", "python3"])
def test_probe_names_a_missing_socket(virtual_lda_host: Transport, interpreter: str) -> None:
    with pytest.raises(DeliveryError, match="No such file or directory"):
        proof.probe_lmtp(virtual_lda_host, POSTFIX_LMTP, ALICE, interpreters=[interpreter])
    with pytest.raises(DeliveryError, match=r"connect to 127\.0\.0\.1:24: Connection refused"):
        proof.probe_lmtp(
            virtual_lda_host,
            Endpoint.from_probe_target("inet:127.0.0.1:24"),
            ALICE,
            interpreters=[interpreter],
        )


def test_probe_without_a_client_says_so(lmtp_host: Transport) -> None:
    with pytest.raises(DeliveryError, match="no LMTP client: none of 'nc' is installed"):
        proof.probe_lmtp(lmtp_host, POSTFIX_LMTP, ALICE, interpreters=["nc"])


def test_prove_delivery_over_lmtp(lmtp_host: Transport) -> None:
    record = proof.prove_delivery(
        lmtp_host,
        ALICE,
        log_path=LOG,
        expect_relay="private/dovecot-lmtp",
        over_lmtp=True,
        tag="lmtp",
    )
    assert (record.status, record.dsn, record.mailbox, record.user) == (
        "sent",
        "2.0.0",
        "INBOX",
        ALICE,
    )
    assert record.relay.endswith("[private/dovecot-lmtp]")
    assert _in_mailbox(lmtp_host, ALICE, record.message_id) == []


def test_prove_delivery_over_the_lda_pipe(virtual_lda_host: Transport) -> None:
    record = proof.prove_delivery(
        virtual_lda_host,
        BOB,
        log_path=LOG,
        expect_relay=lambda r: r == "dovecot",
        over_lmtp=False,
        tag="lda",
    )
    assert (record.relay, record.status, record.mailbox) == ("dovecot", "sent", "INBOX")
    assert _in_mailbox(virtual_lda_host, BOB, record.message_id) == []


def test_prove_delivery_through_local_for_a_system_user(system_lda_host: Transport) -> None:
    record = proof.prove_delivery(
        system_lda_host, ALICE, log_path=LOG, expect_relay="local", over_lmtp=False, tag="local"
    )
    assert (record.relay, record.status, record.mailbox, record.user) == (
        "local",
        "sent",
        "INBOX",
        "alice",
    )
    assert _in_mailbox(system_lda_host, "alice", record.message_id) == []


@pytest.mark.parametrize("profile", ["lmtp", "virtual-lda"])
def test_sieve_files_list_mail_into_lists(
    profile: str, lmtp_host: Transport, virtual_lda_host: Transport
) -> None:
    transport, relay = {
        "lmtp": (lmtp_host, "private/dovecot-lmtp"),
        "virtual-lda": (virtual_lda_host, "dovecot"),
    }[profile]
    record = proof.prove_delivery(
        transport,
        BOB,
        log_path=LOG,
        expect_relay=relay,
        over_lmtp=profile == "lmtp",
        tag="sieve",
        list_id="<news.example.test>",
    )
    assert record.mailbox == "Lists"
    assert _in_mailbox(transport, BOB, record.message_id) == []


def test_a_bounce_is_named(virtual_lda_host: Transport) -> None:
    with pytest.raises(DeliveryError) as caught:
        proof.prove_delivery(
            virtual_lda_host,
            NOBODY,
            log_path=LOG,
            expect_relay="dovecot",
            over_lmtp=False,
            tag="bounce",
        )
    message = str(caught.value)
    assert message.startswith(f"{virtual_lda_host.host}: {LOG}: test message <migrator.bounce.")
    assert "status=bounced dsn=5.1.1 (user unknown)" in message


def test_a_deferral_is_named_and_leaves_no_queued_copy(system_lda_host: Transport) -> None:
    with pytest.raises(DeliveryError, match=r"status=deferred dsn=4\.3\.0"):
        proof.prove_delivery(
            system_lda_host,
            NOBODY,
            log_path=LOG,
            expect_relay="local",
            over_lmtp=False,
            tag="defer",
        )
    assert _queue_is_empty(system_lda_host)


def test_the_wrong_relay_fails_and_the_message_is_removed(virtual_lda_host: Transport) -> None:
    message_id = proof.send_test_message(virtual_lda_host, ALICE, tag="relay")
    with pytest.raises(DeliveryError, match="over relay=dovecot, not a relay containing 'lmtp'"):
        proof.confirm_delivery(
            virtual_lda_host, ALICE, message_id, log_path=LOG, expect_relay="lmtp", over_lmtp=True
        )
    assert len(_in_mailbox(virtual_lda_host, ALICE, message_id)) == 1
    proof.remove_test_message(virtual_lda_host, ALICE, message_id)
    assert _in_mailbox(virtual_lda_host, ALICE, message_id) == []


def test_a_stopped_postfix_times_out(make_lab: LabFactory) -> None:
    lab = make_lab("lmtp", prefix="dt")
    transport = connect(lab.hosts[0].name, ssh_config=lab.ssh_config)
    try:
        assert transport.run(["postfix", "stop"]).ok
        with pytest.raises(DeliveryError, match="no cleanup line with this Message-ID within 2 s"):
            proof.prove_delivery(
                transport,
                ALICE,
                log_path=LOG,
                expect_relay="lmtp",
                over_lmtp=True,
                tag="stopped",
                timeout=2,
            )
        with pytest.raises(DeliveryError, match=r"cannot read /var/log/none\.log"):
            proof.confirm_delivery(
                transport,
                ALICE,
                "<x@y>",
                log_path="/var/log/none.log",
                expect_relay="lmtp",
                over_lmtp=True,
            )
    finally:
        transport.close()


# Stock Debian 12 and 13 keep no mail log file (no syslog daemon): the message itself, its
# trace headers and the queue are then the proof.
@pytest.mark.parametrize("over_lmtp", [True, False])
def test_prove_delivery_without_a_mail_log(
    over_lmtp: bool, lmtp_host: Transport, virtual_lda_host: Transport
) -> None:
    transport = lmtp_host if over_lmtp else virtual_lda_host
    record = proof.prove_delivery(
        transport, ALICE, log_path="", expect_relay="unused", over_lmtp=over_lmtp, tag="nolog"
    )
    wanted = "lmtp (Received: trace)" if over_lmtp else "no LMTP trace"
    assert (record.relay, record.status, record.mailbox) == (wanted, "sent", "INBOX")
    assert _in_mailbox(transport, ALICE, record.message_id) == []


def test_without_a_mail_log_the_wrong_path_is_named(virtual_lda_host: Transport) -> None:
    with pytest.raises(DeliveryError, match="not Dovecot's LMTP trace") as caught:
        proof.prove_delivery(
            virtual_lda_host, ALICE, log_path="", expect_relay="", over_lmtp=True, tag="nolog"
        )
    assert "(Postfix, from userid 0)" in str(caught.value)
    assert _in_mailbox(virtual_lda_host, ALICE, "migrator.nolog.") == []


def test_without_a_mail_log_a_deferral_is_named_from_the_queue(
    system_lda_host: Transport,
) -> None:
    with pytest.raises(
        DeliveryError,
        match=r"no mail log; not in nobody's mailboxes, still queued: temporary failure",
    ) as caught:
        proof.prove_delivery(
            system_lda_host,
            NOBODY,
            log_path="",
            expect_relay="",
            over_lmtp=False,
            tag="nolog",
            timeout=3,
        )
    assert "no mail log" in str(caught.value)
    assert _queue_is_empty(system_lda_host)
