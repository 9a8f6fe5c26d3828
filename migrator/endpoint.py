"""The LMTP endpoint: where Postfix hands mail to an LMTP server, in every spelling it has.

One record for the three places that speak of it: Postfix's next hop (``lmtp:unix:...``,
``lmtp:inet:host:port``, ``lmtp:[addr]:port``, ``lmtp:host:port``, ``lmtp:host``), Dovecot's
listener (a socket path, or an address and port) and the relay Postfix logs for a delivery.
Stdlib only: rules, plans, delivery and the executor all stand on it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from migrator.errors import UsageError

LMTP_PORT = "24"
"""The port Postfix uses for an LMTP next hop that names none (``lmtp`` in services)."""

DEFAULT_SOCKET = "private/dovecot-lmtp"
"""Dovecot's socket in Postfix's queue directory, as the Dovecot wiki and Debian name it."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where Postfix reaches an LMTP server: its Postfix name and the listener it means.

    Exactly one of ``socket_path`` (absolute, on the host) or ``address`` and ``port`` is set.
    """

    postfix: str
    socket_path: str | None = None
    address: str | None = None
    port: str | None = None

    @property
    def is_unix(self) -> bool:
        return self.socket_path is not None

    @property
    def probe_target(self) -> str:
        """``unix:/abs/path`` or ``inet:host:port``: what the remote probe script connects to."""
        if self.socket_path is not None:
            return f"unix:{self.socket_path}"
        host = f"[{self.address}]" if ":" in (self.address or "") else self.address
        return f"inet:{host}:{self.port}"

    def relay_matches(self, relay: str) -> bool:
        """Whether Postfix's logged ``relay=`` is a delivery over this endpoint.

        Postfix logs a socket in its queue directory as ``host[private/NAME]`` and TCP as
        ``host[address]:port``.
        """
        if self.socket_path is not None:
            return relay.endswith("[private/" + self.socket_path.rsplit("/private/", 1)[-1] + "]")
        return relay.endswith(f"[{self.address}]:{self.port}")

    @classmethod
    def default_unix(cls, queue_directory: str) -> Endpoint:
        """Dovecot's socket at ``private/dovecot-lmtp`` under Postfix's queue directory."""
        path = f"{queue_directory.rstrip('/')}/{DEFAULT_SOCKET}"
        return cls(f"lmtp:unix:{DEFAULT_SOCKET}", socket_path=path)

    @classmethod
    def from_option(cls, option: str, queue_directory: str, *, allow_remote: bool) -> Endpoint:
        """Parse ``--lmtp unix|inet:ADDRESS:PORT``; refuse a non-loopback address unless allowed.

        Raises UsageError for anything else.
        """
        if option == "unix":
            return cls.default_unix(queue_directory)
        kind, _, rest = option.partition(":")
        host, _, port = rest.rpartition(":")
        if kind != "inet" or not host or not port.isdigit():
            raise UsageError(f"--lmtp must be unix or inet:ADDRESS:PORT, not {option!r}")
        _check_port(port, option)
        bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            address = ipaddress.ip_address(bare)
        except ValueError as exc:
            raise UsageError(f"--lmtp address must be an IP address, not {host!r}") from exc
        if address.version == 6 and bare == host:
            raise UsageError(
                f"--lmtp {option}: an IPv6 address goes in brackets: inet:[{host}]:PORT"
            )
        loopback = address.is_loopback
        if not loopback and not allow_remote:
            raise UsageError(f"--lmtp {option}: not a loopback address (use --allow-remote-lmtp)")
        return cls(f"lmtp:inet:{host}:{port}", address=bare, port=port)

    @classmethod
    def from_postfix(cls, value: str, queue_directory: str) -> Endpoint:
        """The endpoint a Postfix ``lmtp:NEXTHOP`` value names, in any form Postfix accepts.

        ``unix:NAME`` is relative to the queue directory unless absolute; ``inet:`` may be
        left out; ``[addr]`` means no MX lookup; a missing port is LMTP's 24.
        Raises UsageError when the value is not an LMTP next hop.
        """
        transport, _, nexthop = value.partition(":")
        if transport != "lmtp" or not nexthop:
            raise UsageError(f"not an LMTP next hop: {value!r}")
        kind, _, where = nexthop.partition(":")
        if kind == "unix" and where:
            path = where if where.startswith("/") else f"{queue_directory.rstrip('/')}/{where}"
            return cls(value, socket_path=path)
        if kind != "inet":
            where = nexthop
        address, port = _host_port(where)
        if not address:
            raise UsageError(f"LMTP next hop without a host: {value!r}")
        return cls(value, address=address, port=port)

    @classmethod
    def from_probe_target(cls, target: str) -> Endpoint:
        """Parse ``unix:/abs/path`` or ``inet:host:port`` (``inet:[::1]:24``).

        Raises UsageError for anything else.
        """
        kind, _, where = target.partition(":")
        if kind == "unix" and where.startswith("/"):
            return cls(f"lmtp:{target}", socket_path=where)
        if kind == "inet":
            address, port = _host_port(where, default_port="")
            if address and port.isdigit() and "[" not in address and "]" not in address:
                return cls(f"lmtp:{target}", address=address, port=port)
        raise UsageError(
            f"LMTP endpoint {target!r}: expected unix:/absolute/path or inet:HOST:PORT"
        )


def _host_port(where: str, default_port: str = LMTP_PORT) -> tuple[str, str]:
    """Split ``host``, ``host:port``, ``[addr]`` or ``[addr]:port`` (IPv6 inside brackets)."""
    if where.startswith("["):
        address, _, rest = where[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return address, port or default_port
    if where.count(":") > 1:  # a bare IPv6 address
        return where, default_port
    address, _, port = where.partition(":")
    return address, port or default_port


def _check_port(port: str, option: str) -> None:
    if not is_port(port):
        raise UsageError(f"--lmtp {option}: the port must be a number from 1 to 65535")


def is_port(port: str) -> bool:
    """Whether PORT is a TCP port as Postfix and Dovecot read one: ASCII digits ("٢٤" is
    digits to Python's isdigit), no leading zero, 1-65535."""
    return re.fullmatch(r"[1-9][0-9]{0,4}", port) is not None and int(port) <= 65535
