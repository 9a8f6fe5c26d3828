"""A deferred test message is removed from Postfix's queue even when its Message-ID header is
folded (a short host name makes Python fold it onto its own line)."""

from __future__ import annotations

import re
import time

import pytest

from migrator.delivery import proof
from migrator.lab import mail
from migrator.lab.state import Lab, LabHost
from migrator.transport import connect

from .conftest import LabFactory
from .faults import sh

pytestmark = pytest.mark.lab
LOG = "/var/log/postfix.log"
ALICE = "alice@example.test"


def _folding_tag(host: str) -> str:
    """A tag for which the test message's Message-ID header is folded on this host."""
    for length in range(1, 65):
        tag = "t" * length
        message = proof.build_test_message(ALICE, tag=tag, sender="", host=host)
        if b"Message-ID:\n" in message.as_bytes() or b"Message-ID: \n" in message.as_bytes():
            return tag
    raise AssertionError(f"no tag folds the Message-ID for host {host}")


def test_a_deferred_test_message_with_a_folded_message_id_is_removed(
    make_lab: LabFactory,
) -> None:
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    sh(lab, host, "postconf -e defer_transports=dovecot && postfix reload >/dev/null 2>&1")
    transport = connect(host.name, ssh_config=lab.ssh_config)
    try:
        message_id = proof.send_test_message(transport, ALICE, tag=_folding_tag(host.name))
        queue_id = _queue_id(lab, host, message_id)
        assert f'"queue_id": "{queue_id}"' in sh(lab, host, "postqueue -j")
        proof.remove_test_message(transport, ALICE, message_id, log_path=LOG)
    finally:
        transport.close()
    assert f'"queue_id": "{queue_id}"' not in sh(lab, host, "postqueue -j")


def _queue_id(lab: Lab, host: LabHost, message_id: str) -> str:
    """The queue id Postfix's cleanup logged for message_id (waits up to 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        found = re.search(
            rf" ([0-9A-Za-z]+): message-id={re.escape(message_id)}", mail.postfix_log(lab, host)
        )
        if found:
            return found.group(1)
        assert time.monotonic() < deadline, "no cleanup line for the test message"
        time.sleep(0.2)
