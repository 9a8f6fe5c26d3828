"""Which Postfix relay= strings prove a delivery over the planned LMTP endpoint (pure)."""

from __future__ import annotations

import pytest

from migrator.executor.apply import lmtp_relay_matcher


@pytest.mark.parametrize(
    ("endpoint", "relay", "expected"),
    [
        ("unix:/var/spool/postfix/private/dovecot-lmtp", "h.example[private/dovecot-lmtp]", True),
        ("unix:/var/spool/postfix/private/dovecot-lmtp", "dovecot", False),
        ("unix:/var/spool/postfix/private/dovecot-lmtp", "h[private/dovecot-lmtp-old]", False),
        ("inet:127.0.0.1:24", "127.0.0.1[127.0.0.1]:24", True),
        ("inet:127.0.0.1:24", "127.0.0.1[127.0.0.1]:2424", False),
        ("inet:[::1]:24", "localhost[::1]:24", True),
        ("inet:127.0.0.1:24", "local", False),
    ],
)
def test_lmtp_relay_matcher(endpoint: str, relay: str, expected: bool) -> None:
    assert lmtp_relay_matcher(endpoint)(relay) is expected
