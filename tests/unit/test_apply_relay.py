"""The LMTP endpoint in every spelling, and which relay= strings prove a delivery over it."""

from __future__ import annotations

import pytest

from migrator.endpoint import Endpoint
from migrator.errors import UsageError


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
def test_relay_matches(endpoint: str, relay: str, expected: bool) -> None:
    assert Endpoint.from_probe_target(endpoint).relay_matches(relay) is expected


@pytest.mark.parametrize(
    ("value", "socket_path", "address", "port"),
    [
        ("lmtp:unix:private/dovecot-lmtp", "/q/private/dovecot-lmtp", None, None),
        ("lmtp:unix:/run/dovecot/lmtp", "/run/dovecot/lmtp", None, None),
        ("lmtp:inet:127.0.0.1:24", None, "127.0.0.1", "24"),
        ("lmtp:inet:[::1]:2424", None, "::1", "2424"),
        ("lmtp:inet:mail.example", None, "mail.example", "24"),
        ("lmtp:[127.0.0.1]:10025", None, "127.0.0.1", "10025"),
        ("lmtp:[::1]", None, "::1", "24"),
        ("lmtp:localhost:10024", None, "localhost", "10024"),
        ("lmtp:mail.example", None, "mail.example", "24"),
    ],
)
def test_every_postfix_next_hop(
    value: str, socket_path: str | None, address: str | None, port: str | None
) -> None:
    found = Endpoint.from_postfix(value, "/q/")
    assert (found.postfix, found.socket_path, found.address, found.port) == (
        value,
        socket_path,
        address,
        port,
    )


@pytest.mark.parametrize("value", ["dovecot", "lmtp:", "smtp:[127.0.0.1]:25", "lmtp:inet:"])
def test_not_an_lmtp_next_hop(value: str) -> None:
    with pytest.raises(UsageError):
        Endpoint.from_postfix(value, "/q")


def test_probe_targets() -> None:
    assert Endpoint.from_probe_target("unix:/run/dovecot/lmtp").probe_target == (
        "unix:/run/dovecot/lmtp"
    )
    assert Endpoint.from_probe_target("inet:[::1]:24").probe_target == "inet:[::1]:24"
    assert Endpoint.from_probe_target("inet:127.0.0.1:24").address == "127.0.0.1"
    for bad in ("unix:private/dovecot-lmtp", "lmtp:unix:/x", "inet:127.0.0.1", "tcp:h:24"):
        with pytest.raises(UsageError):
            Endpoint.from_probe_target(bad)
