"""One SSH connection to a host, the way ``ssh`` makes it: through its jump host or proxy
command, host keys checked against known_hosts (``known_hosts.KnownHosts``), keys tried as
``ssh_auth.KeyAuth`` tries them. Library exceptions become one-line TransportErrors here.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Any

import paramiko

from migrator.errors import HostKeyError, TransportError
from migrator.transport.known_hosts import KnownHosts
from migrator.transport.ssh_auth import KeyAuth
from migrator.transport.ssh_config import HostSpec

# paramiko logs its transport thread's failures (a dead ProxyCommand, a reset) with their
# tracebacks, and with no handler Python prints them on stderr. Those failures reach us as
# exceptions, which become one-line TransportErrors below: the log is not for the user.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False


@dataclass(slots=True)
class Connection:
    """The client for the host and everything it rides on (jump clients, proxy commands)."""

    client: paramiko.SSHClient
    stack: list[Any] = field(default_factory=list)

    def active(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def close(self) -> None:
        for item in reversed([*self.stack, self.client]):
            _close(item)


def open_connection(spec: HostSpec, accept_new: bool, timeout: float) -> Connection:
    """Connect to SPEC (and every hop on the way), closing whatever was opened on failure.

    Raises TransportError (HostKeyError for a host key known_hosts refuses).
    """
    stack: list[Any] = []
    agent = paramiko.Agent()  # no keys when SSH_AUTH_SOCK is unset
    try:
        client = _open_client(spec, accept_new, timeout, stack, agent)
        stack.pop()  # the client itself, last on the stack
    except BaseException:
        for item in reversed(stack):
            _close(item)
        raise
    finally:
        agent.close()
    return Connection(client, stack)


def _open_client(
    spec: HostSpec, accept_new: bool, timeout: float, stack: list[Any], agent: paramiko.Agent
) -> paramiko.SSHClient:
    """Connect to SPEC through its jump host or proxy command.

    Everything opened (proxy commands, hop clients, then SPEC's own client last) is pushed
    on STACK, so the caller can close it all, in reverse, whatever happens.
    """
    sock: Any = None
    auth = KeyAuth(spec, agent)
    try:
        sock = _open_socket(spec, accept_new, timeout, stack, agent)
        known = KnownHosts(spec, accept_new=accept_new)
        return _connect_client(spec, known, auth, sock, timeout, stack)
    except HostKeyError:
        raise
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise TransportError(_failure(exc, spec, auth, sock), host=spec.name) from exc


def _open_socket(
    spec: HostSpec, accept_new: bool, timeout: float, stack: list[Any], agent: paramiko.Agent
) -> Any:
    """The channel through SPEC's jump host, or its proxy command; None: connect directly."""
    if spec.jump is not None:
        hop = _open_client(spec.jump, accept_new, timeout, stack, agent)
        hop_transport = hop.get_transport()
        assert hop_transport is not None
        return hop_transport.open_channel(
            "direct-tcpip", (spec.hostname, spec.port), ("127.0.0.1", 0), timeout=timeout
        )
    if spec.proxy_command:
        # OpenSSH runs ProxyCommand through the shell; paramiko would shlex-split it.
        sock = paramiko.ProxyCommand(shlex.join(["/bin/sh", "-c", "exec " + spec.proxy_command]))
        stack.append(sock)
        return sock
    return None


def _connect_client(
    spec: HostSpec, known: KnownHosts, auth: KeyAuth, sock: Any, timeout: float, stack: list[Any]
) -> paramiko.SSHClient:
    """SPEC's own client, connected over SOCK (pushed on STACK before it connects)."""
    client = paramiko.SSHClient()
    stack.append(client)  # closed with the rest if anything below fails
    client.set_missing_host_key_policy(_VerifyPolicy(known))
    client.connect(
        spec.hostname,
        port=spec.port,
        username=spec.user,
        sock=sock,
        timeout=timeout,
        banner_timeout=timeout,
        auth_timeout=timeout,
        transport_factory=_transport_factory(known),
        auth_strategy=auth,
    )
    transport = client.get_transport()
    if transport is not None:
        _no_delay(transport.sock)
        if spec.server_alive_interval:
            transport.set_keepalive(spec.server_alive_interval)
    return client


def _failure(exc: BaseException, spec: HostSpec, auth: KeyAuth, sock: Any) -> str:
    """Why connecting to SPEC failed, in words, from what paramiko or the socket raised."""
    where = f"{spec.user}@{spec.hostname}:{spec.port}"
    if isinstance(exc, paramiko.AuthenticationException):
        return f"authentication failed for {where}: {auth.summary()}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {spec.hostname}: {exc.strerror}"
    if isinstance(exc, TimeoutError):
        return f"timed out connecting to {where}"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return f"cannot connect to {where}: connection refused"
    return f"cannot connect to {where}: {_reason(exc, spec, sock)}"


def _close(item: Any) -> None:
    """Close a client or proxy command; a proxy command already gone (and reaped) is closed."""
    with contextlib.suppress(ProcessLookupError):
        item.close()


def _reason(exc: BaseException, spec: HostSpec, sock: Any = None) -> str:
    """A connection failure in words; a dead ProxyCommand names the command, not its argv,
    whether paramiko saw it die or only saw no banner come (which one is a race)."""
    if isinstance(exc, paramiko.ProxyCommandFailure):
        return f"ProxyCommand failed ({exc.error}): {spec.proxy_command}"
    process = getattr(sock, "process", None)
    if isinstance(sock, paramiko.ProxyCommand) and process is not None:
        try:
            code = process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        if code:
            return f"ProxyCommand failed (exit {code}): {spec.proxy_command}"
    return str(exc) or type(exc).__name__


class _VerifyPolicy(paramiko.MissingHostKeyPolicy):
    """Every server key goes through KnownHosts: no host keys are loaded into paramiko."""

    def __init__(self, known: KnownHosts) -> None:
        self.known = known

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        self.known.verify(key)


def _transport_factory(known: KnownHosts) -> Any:
    def make(sock: Any, disabled_algorithms: Any = None) -> paramiko.Transport:
        transport = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
        options = transport.get_security_options()
        options.key_types = known.preferred_algorithms(tuple(options.key_types))
        return transport

    return make


def _no_delay(sock: Any) -> None:
    """Send small packets at once: each command is a few small writes, and Nagle's
    algorithm held every one of them for the peer's delayed ACK (~40 ms a command)."""
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
