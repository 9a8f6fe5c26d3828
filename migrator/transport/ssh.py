"""SSHTransport: a host reached over SSH with paramiko, the way the user's ``ssh`` reaches it.

Connection settings come from the OpenSSH client config (``ssh_config.HostSpec``), host keys
from known_hosts (``known_hosts.KnownHosts``, strict unless told otherwise); the connection
itself is made in ``ssh_connect.py``. Every operation
is one remote command, so one round trip: ``read_files`` streams all files from one small
POSIX sh script, ``write_atomic`` sends the content on stdin to another (both in
``remote_scripts.py``). A non-root login runs each command through ``sudo -n``. The client is
made on first use and made again, once, when the connection died in between; a command that
was already sent is never re-run. The login shell must be POSIX-like (sh, bash, dash, zsh):
OpenSSH hands it the command line, quoted with ``shlex.join``.
"""

from __future__ import annotations

import re
import select
import shlex
import threading
import time
from collections.abc import Mapping, Sequence

import paramiko

import migrator.transport.remote_scripts as remote_scripts
from migrator.errors import TransportError
from migrator.transport.base import ClosingTransport, FileData, RunResult
from migrator.transport.ssh_config import HostSpec
from migrator.transport.ssh_connect import Connection, open_connection

_CHUNK = 65536
_SUDO_REFUSED = re.compile(
    rb"^sudo: (a password is required|a terminal is required|sorry, you must have a tty"
    rb"|.*is not in the sudoers file|.*is not allowed to execute)",
    re.MULTILINE,
)


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
        self._connection: Connection | None = None
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
                self._connection = open_connection(
                    self.spec, self.accept_new_host_key, self.connect_timeout
                )
                self.connections += 1
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
