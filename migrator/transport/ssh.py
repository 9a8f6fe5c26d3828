"""SSHTransport: a host reached over SSH with paramiko, the way the user's ``ssh`` reaches it.

Connection settings come from the OpenSSH client config (``ssh_config.HostSpec``), host keys
from known_hosts (``known_hosts.KnownHosts``, strict unless told otherwise). Every operation
is one remote command, so one round trip: ``read_files`` streams all files from one small
POSIX sh script, ``write_atomic`` sends the content on stdin to another (both in
``remote_scripts.py``). A non-root login runs each command through ``sudo -n``. The client is
made on first use and made again, once, when the connection died in between; a command that
was already sent is never re-run. The login shell must be POSIX-like (sh, bash, dash, zsh):
OpenSSH hands it the command line, quoted with ``shlex.join``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import paramiko

import migrator.transport.remote_scripts as remote_scripts
from migrator.errors import HostKeyError, TransportError
from migrator.transport.base import ClosingTransport, FileData, RunResult
from migrator.transport.known_hosts import KnownHosts
from migrator.transport.ssh_auth import KeyAuth
from migrator.transport.ssh_config import HostSpec

_CHUNK = 65536
# paramiko logs its transport thread's failures (a dead ProxyCommand, a reset) with their
# tracebacks, and with no handler Python prints them on stderr. Those failures reach us as
# exceptions, which become one-line TransportErrors below: the log is not for the user.
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False
_SUDO_REFUSED = re.compile(
    rb"^sudo: (a password is required|a terminal is required|sorry, you must have a tty"
    rb"|.*is not in the sudoers file|.*is not allowed to execute)",
    re.MULTILINE,
)


@dataclass(slots=True)
class _Connection:
    """The client for the host and everything it rides on (jump clients, proxy commands)."""

    client: paramiko.SSHClient
    stack: list[Any] = field(default_factory=list)

    def active(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def close(self) -> None:
        for item in reversed([*self.stack, self.client]):
            _close(item)


class SSHTransport(ClosingTransport):
    """A host over SSH. Library exceptions stop here and become TransportError."""

    def __init__(
        self,
        spec: HostSpec,
        *,
        accept_new_host_key: bool = False,
        sudo: bool | None = None,
        connect_timeout: float | None = None,
        file_timeout: float = 120.0,
    ) -> None:
        self.spec = spec
        # read_files/write_atomic never legitimately take long: a hung host must not hang us.
        self.file_timeout = file_timeout
        self.accept_new_host_key = accept_new_host_key
        self.sudo = spec.user != "root" if sudo is None else sudo
        self.connect_timeout = connect_timeout or spec.connect_timeout or 15.0
        self.round_trips = 0
        self.connections = 0
        self._connection: _Connection | None = None
        # Commands may run from several threads on one connection; (re)connecting may not.
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return self.spec.name

    @property
    def live(self) -> bool:
        return True

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """Run ARGV on the host (quoted with shlex.join). Never raises on rc != 0.

        Raises TransportError when the host cannot be reached, sudo refuses, or the command
        does not finish within TIMEOUT seconds.
        """
        rc, out, err = self._exec(list(argv), stdin, timeout)
        return RunResult(host=self.host, argv=tuple(argv), rc=rc, stdout=out, stderr=err)

    def read_files(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        """Read PATHS in one round trip (two if a file changed meanwhile); missing: None.

        Anything that is not a regular file (a directory, a socket) reads as missing.
        Raises TransportError when the files cannot be read consistently.
        """
        return remote_scripts.read_files(self._run_file_script, self.host, paths)

    def write_atomic(
        self,
        path: str,
        content: bytes,
        *,
        owner: str,
        group: str,
        mode: int,
        expected_sha256: str | None = None,
    ) -> None:
        """Write PATH (through a symlink) as WRITE_SCRIPT does, in one round trip.

        Raises PlanDriftError when the file no longer has ``expected_sha256``, TransportError
        (naming the path) when any step fails; PATH is then unchanged."""
        stat = (owner, group, mode)
        remote_scripts.write_file(
            self._run_file_script, self.host, path, content, stat, expected_sha256 or ""
        )

    def _run_file_script(self, argv: list[str], stdin: bytes | None) -> tuple[int, bytes, bytes]:
        return self._exec(argv, stdin, self.file_timeout)

    def close(self) -> None:
        """Close the connection and every hop under it."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def wrap(self, argv: Sequence[str]) -> str:
        """The command line sent to the host for ARGV (``sudo -n --`` for a non-root login)."""
        prefix = ["sudo", "-n", "--"] if self.sudo else []
        return shlex.join([*prefix, *argv])

    def _exec(
        self, argv: list[str], stdin: bytes | None, timeout: float | None
    ) -> tuple[int, bytes, bytes]:
        with self._lock:
            channel = self._open_channel()
            self.round_trips += 1
        sender = None
        try:
            channel.exec_command(self.wrap(argv))
            # stdin goes from its own thread: a command may write a window's worth of output
            # before it reads, and one that exits early must not turn into an error.
            sender = threading.Thread(target=_send, args=(channel, stdin or b""), daemon=True)
            sender.start()
            rc, out, err = _collect(channel, timeout)
        except TimeoutError as exc:
            raise TransportError(f"{argv[0]}: {exc}", host=self.host) from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # The command may have run: it is never sent again.
            raise TransportError(
                f"connection lost while running {argv[0]}: {exc}", host=self.host
            ) from exc
        finally:
            channel.close()
            if sender is not None:
                sender.join()
        if self.sudo:
            self._check_sudo(rc, err)
        return rc, out, err

    def _check_sudo(self, rc: int, err: bytes) -> None:
        refused = _SUDO_REFUSED.search(err)
        if rc == 1 and refused:
            raise TransportError(
                f"sudo -n refused for user {self.spec.user} ({refused.group(1).decode()}): "
                "migrator needs passwordless sudo (NOPASSWD) for a non-root login",
                host=self.host,
            )
        if rc == 127 and b"sudo" in err and b"not found" in err:
            raise TransportError(
                f"user {self.spec.user} is not root and sudo is not installed", host=self.host
            )

    def _open_channel(self) -> paramiko.Channel:
        for attempt in (1, 2):
            fresh = self._connection is None or not self._connection.active()
            if fresh:
                self.close()
                self._connection = self._connect()
            assert self._connection is not None
            transport = self._connection.client.get_transport()
            try:
                if transport is None:
                    raise paramiko.SSHException("no transport")
                return transport.open_session(timeout=self.connect_timeout)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self.close()
                if fresh or attempt == 2:
                    raise TransportError(f"cannot open a session: {exc}", host=self.host) from exc
        raise AssertionError("unreachable")

    def _connect(self) -> _Connection:
        stack: list[Any] = []
        agent = paramiko.Agent()  # no keys when SSH_AUTH_SOCK is unset
        try:
            client = _open_client(
                self.spec, self.accept_new_host_key, self.connect_timeout, stack, agent
            )
            stack.pop()  # the client itself, last on the stack
        except BaseException:
            for item in reversed(stack):
                _close(item)
            raise
        finally:
            agent.close()
        self.connections += 1
        return _Connection(client, stack)


def _no_delay(sock: Any) -> None:
    """Send small packets at once: each command is a few small writes, and Nagle's
    algorithm held every one of them for the peer's delayed ACK (~40 ms a command)."""
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _open_client(
    spec: HostSpec, accept_new: bool, timeout: float, stack: list[Any], agent: paramiko.Agent
) -> paramiko.SSHClient:
    """Connect to SPEC through its jump host or proxy command.

    Everything opened (proxy commands, hop clients, then SPEC's own client last) is pushed
    on STACK, so the caller can close it all, in reverse, whatever happens.
    """
    sock: Any = None
    where = f"{spec.user}@{spec.hostname}:{spec.port}"
    auth = KeyAuth(spec, agent)
    try:
        if spec.jump is not None:
            hop = _open_client(spec.jump, accept_new, timeout, stack, agent)
            hop_transport = hop.get_transport()
            assert hop_transport is not None
            sock = hop_transport.open_channel(
                "direct-tcpip", (spec.hostname, spec.port), ("127.0.0.1", 0), timeout=timeout
            )
        elif spec.proxy_command:
            # OpenSSH runs ProxyCommand through the shell; paramiko would shlex-split it.
            sock = paramiko.ProxyCommand(
                shlex.join(["/bin/sh", "-c", "exec " + spec.proxy_command])
            )
            stack.append(sock)
        known = KnownHosts(spec, accept_new=accept_new)
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
    except HostKeyError:
        raise
    except paramiko.AuthenticationException as exc:
        raise TransportError(
            f"authentication failed for {where}: {auth.summary()}", host=spec.name
        ) from exc
    except socket.gaierror as exc:
        raise TransportError(
            f"cannot resolve {spec.hostname}: {exc.strerror}", host=spec.name
        ) from exc
    except TimeoutError as exc:
        raise TransportError(f"timed out connecting to {where}", host=spec.name) from exc
    except paramiko.ssh_exception.NoValidConnectionsError as exc:
        raise TransportError(
            f"cannot connect to {where}: connection refused", host=spec.name
        ) from exc
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise TransportError(
            f"cannot connect to {where}: {_reason(exc, spec, sock)}", host=spec.name
        ) from exc


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


def _send(channel: paramiko.Channel, data: bytes) -> None:
    """Write DATA to the command's stdin, then EOF; a closed channel ends it quietly."""
    try:
        if data:
            channel.sendall(data)
        channel.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the command exited or the connection died: _collect reports which


def _collect(channel: paramiko.Channel, timeout: float | None) -> tuple[int, bytes, bytes]:
    """Drain stdout and stderr until EOF and the exit status; raise TimeoutError past TIMEOUT."""
    out: list[bytes] = []
    err: list[bytes] = []
    deadline = None if timeout is None else time.monotonic() + timeout

    def drain() -> None:
        while channel.recv_ready():
            out.append(channel.recv(_CHUNK))
        while channel.recv_stderr_ready():
            err.append(channel.recv_stderr(_CHUNK))

    def remaining() -> float:
        if deadline is None:
            return 1.0
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"did not finish within {timeout:g} s")
        return min(left, 1.0)

    while not channel.eof_received:
        if channel.closed:
            raise EOFError("channel closed before the command finished")
        select.select([channel], [], [], remaining())
        drain()
    drain()
    while not channel.status_event.wait(remaining()):
        if channel.closed:
            break
    transport = channel.get_transport()
    if channel.exit_status == -1 and not (transport and transport.is_active()):
        raise EOFError("connection closed before the exit status came")
    # No exit status on a live connection: killed by a signal; -1, as paramiko reports it.
    return channel.exit_status, b"".join(out), b"".join(err)
