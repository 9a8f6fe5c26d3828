"""AnsibleTransport: migrator's Transport over an Ansible action plugin's own connection.

Everything goes through ``ActionBase._low_level_execute_command``, as Ansible's own action
plugins run their shell commands, so the inventory's connection settings, keys, jump hosts
and become (sudo, with a password too) apply unchanged, and migrator's SSH code is not used.
Each operation is one remote command, as with migrator's ``SSHTransport``: ``read_files``
runs migrator's read script, ``write_atomic`` its write script with the content on stdin.
Output must come back byte for byte, so commands never get a terminal (``use_tty`` off).
A connection that cannot take stdin gets it as a file copied into Ansible's remote temp
directory first (one more round trip). Ansible's errors stop here as ``TransportError``.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleError

import migrator.transport.remote_scripts as remote_scripts
from migrator.errors import TransportError
from migrator.transport.base import ClosingTransport, FileData, RunResult

_TIMED_OUT = 124  # timeout(1)'s exit status when the command ran out of time
_FILE_TIMEOUT = 120.0


class AnsibleTransport(ClosingTransport):
    """One host reached through the running action plugin (``action``).

    ``stdin_inline`` (default: when the connection can pipeline) sends stdin with the
    command; otherwise stdin is copied to the host first.
    """

    def __init__(self, action: Any, host: str, *, stdin_inline: bool | None = None) -> None:
        self._action = action
        self._host = host
        self._tmp: str | None = None
        self.round_trips = 0
        connection = action._connection
        for terminal in ("use_tty", "pty"):  # ssh's and paramiko_ssh's names for it
            if terminal in getattr(connection, "_options", {}):
                connection.set_option(terminal, False)
        if stdin_inline is None:
            stdin_inline = bool(getattr(connection, "has_pipelining", False))
        self._stdin_inline = stdin_inline

    @property
    def host(self) -> str:
        return self._host

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
        """Run ARGV on the host (as the become user, when become is on). Never raises on
        rc != 0; raises TransportError when the connection fails or TIMEOUT passes."""
        command = shlex.join(argv)
        if timeout is not None:
            # Ansible's connections have no per-command timeout: timeout(1) on the host.
            command = shlex.join(["timeout", "-k", "5", f"{timeout:g}", *argv])
        if stdin and not self._stdin_inline:
            command = f"{command} < {shlex.quote(self._upload(stdin))}"
            stdin = None
        rc, out, err = self._exec(command, stdin, argv[0])
        if timeout is not None and rc == _TIMED_OUT:
            raise TransportError(f"{argv[0]}: did not finish within {timeout:g} s", host=self.host)
        return RunResult(host=self.host, argv=tuple(argv), rc=rc, stdout=out, stderr=err)

    def read_files(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        """Read PATHS in one round trip (two if a file changed meanwhile); missing: None.

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
        """Write PATH (through a symlink) as migrator's write script does, in one command.

        Raises PlanDriftError when the file no longer has ``expected_sha256``, TransportError
        (naming the path) when any step fails; PATH is then unchanged.
        """
        stat = (owner, group, mode)
        remote_scripts.write_file(
            self._run_file_script, self.host, path, content, stat, expected_sha256 or ""
        )

    def _run_file_script(self, argv: list[str], stdin: bytes | None) -> tuple[int, bytes, bytes]:
        result = self.run(argv, stdin=stdin, timeout=_FILE_TIMEOUT)
        return result.rc, result.stdout, result.stderr

    def close(self) -> None:
        """Nothing to release: the connection is Ansible's, and so is the remote temp
        directory (``ActionBase.cleanup`` removes it after the task)."""
        self._tmp = None

    def _exec(self, command: str, stdin: bytes | None, name: str) -> tuple[int, bytes, bytes]:
        self.round_trips += 1
        try:
            done = self._action._low_level_execute_command(
                command, sudoable=True, in_data=stdin, encoding_errors="surrogateescape"
            )
        except AnsibleError as exc:
            raise TransportError(f"{name}: {_one_line(str(exc))}", host=self.host) from exc
        out = done["stdout"].encode("utf-8", "surrogateescape")
        err = done["stderr"].encode("utf-8", "surrogateescape")
        return int(done["rc"]), out, err

    def _upload(self, data: bytes) -> str:
        """Copy DATA into Ansible's remote temp directory; return the file's path there."""
        try:
            if self._tmp is None:
                self.round_trips += 1
                self._tmp = self._action._make_tmp_path()
            self.round_trips += 1
            remote = self._action._connection._shell.join_path(self._tmp, "stdin")
            self._action._transfer_data(remote, data)
        except AnsibleError as exc:
            raise TransportError(
                f"cannot copy input: {_one_line(str(exc))}", host=self.host
            ) from exc
        return str(remote)


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "failed"
