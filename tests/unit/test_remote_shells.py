"""Every remote script, run for real under dash and under busybox sh with busybox's applets
first in PATH (no GNU stat, mv, find or ps), in a temporary directory, as root like on a host.
The lock's lease is also taken where /proc is absent (ps says who the sshd is)."""

from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import migrator
from migrator.delivery import scripts as delivery
from migrator.delivery.parse import parse_transcript, probe_commands, probe_failure
from migrator.executor import actions, services
from migrator.executor import journal_scripts as js
from migrator.executor.journal import parse_lock
from migrator.host import facts
from migrator.transport.remote_scripts import (
    CHANGED_RC,
    PORTABLE_SH,
    READ_SCRIPT,
    WRITE_SCRIPT,
    parse_read_stream,
)

BUSYBOX = shutil.which("busybox")
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the scripts run as root on a host")


@dataclass(frozen=True, slots=True)
class Shell:
    """A POSIX shell and the PATH its scripts find their tools in."""

    argv: tuple[str, ...]
    path: str

    def run(
        self, script: str, *args: str, stdin: bytes = b"", path: str = ""
    ) -> subprocess.CompletedProcess[bytes]:
        env = {"PATH": path or self.path, "LC_ALL": "C"}
        argv = [*self.argv, "-c", script, "sh", *args]
        return subprocess.run(argv, input=stdin, capture_output=True, env=env, check=False)


@pytest.fixture(scope="module")
def applets() -> Iterator[Path]:
    """A directory holding one link to busybox per applet."""
    if BUSYBOX is None:
        pytest.fail("busybox is not installed (scripts/setup installs it)")
    where = Path(tempfile.mkdtemp(prefix="migrator-busybox-"))
    listed = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    for applet in listed.stdout.split():
        (where / applet).symlink_to(BUSYBOX)
    yield where
    shutil.rmtree(where)


@pytest.fixture(params=["dash", "busybox"])
def shell(request: pytest.FixtureRequest, applets: Path) -> Shell:
    system = os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    if request.param == "dash":
        return Shell((shutil.which("dash") or "/bin/dash",), system)
    return Shell((str(applets / "sh"),), f"{applets}:{system}")


def _scripts() -> dict[str, str]:
    """Every shell script a module of migrator sends to a host (``*_SCRIPT``, ``*_SH``); the
    lab's own run on this machine, not on hosts."""
    found = {}
    for info in pkgutil.walk_packages(migrator.__path__, "migrator."):
        if info.name.startswith("migrator.lab"):
            continue
        module = importlib.import_module(info.name)
        source = Path(module.__file__ or "").read_text()
        for name, value in vars(module).items():
            script = name.isupper() and name.endswith(("SCRIPT", "_SH"))
            if script and isinstance(value, str) and f"\n{name} = " in source:  # defined here
                found[f"{info.name}.{name}"] = value
    return found


def test_the_scripts_are_found() -> None:
    names = set(_scripts())
    for expected in ("transport.remote_scripts.READ_SCRIPT", "host.queue.QUEUE_SCRIPT"):
        assert f"migrator.{expected}" in names


@pytest.mark.parametrize("name", sorted(_scripts()))
def test_every_remote_script_parses_and_calls_no_gnu_stat(shell: Shell, name: str) -> None:
    script = _scripts()[name]
    parsed = subprocess.run([*shell.argv, "-n", "-c", script], capture_output=True, check=False)
    assert parsed.returncode == 0, (name, parsed.stderr)
    gnu_only = script.replace(PORTABLE_SH, "")
    assert "stat -c" not in gnu_only and "sha256sum" not in gnu_only
    assert "/dev/tcp" not in gnu_only.replace("bash -c 'exec 3<>\"/dev/tcp/", "")


def test_read_reports_modes_owners_links_and_missing(shell: Shell, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real/main.cf").write_bytes(b"a = 1\n")
    (tmp_path / "real/main.cf").chmod(0o640)
    (tmp_path / "main.cf").symlink_to("real/main.cf")
    paths = [str(tmp_path / "main.cf"), str(tmp_path / "real/main.cf"), str(tmp_path / "gone")]
    done = shell.run(READ_SCRIPT, *paths)
    assert done.returncode == 0, done.stderr
    data = parse_read_stream(paths, done.stdout)
    linked = data[paths[0]]
    assert (linked.content, linked.link, linked.target) == (b"a = 1\n", "real/main.cf", paths[1])
    assert (linked.owner, linked.group, linked.mode) == ("root", "root", 0o640)
    assert data[paths[2]].content is None


def test_write_is_a_compare_and_swap(shell: Shell, tmp_path: Path) -> None:
    target = tmp_path / "main.cf"
    target.write_bytes(b"old\n")
    args = (str(target), "root", "root", "0600")
    stale = hashlib.sha256(b"other\n").hexdigest()
    refused = shell.run(WRITE_SCRIPT, *args, stale, stdin=b"new\n")
    assert refused.returncode == CHANGED_RC, refused.stderr
    old = hashlib.sha256(b"old\n").hexdigest()
    assert f"sha256 is now {old}".encode() in refused.stderr
    done = shell.run(WRITE_SCRIPT, *args, old, stdin=b"new\n")
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == b"new\n" and target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["main.cf"]


def test_lock_peek_read_and_unlock(shell: Shell, base: Path) -> None:
    taken = shell.run(js.LOCK_SCRIPT, str(base), "plan-1", "node-1", "", "")
    assert taken.returncode == 0 and taken.stdout.startswith(b"acquired"), taken.stderr
    assert (base.stat().st_mode & 0o777, base.stat().st_uid) == (0o700, 0)
    held = shell.run(js.LOCK_SCRIPT, str(base), "plan-2", "node-2", "", "")
    assert parse_lock(held.stdout.decode()).plan_id == "plan-1"
    (base / "current").write_text("plan-1\n")
    peek = shell.run(js.PEEK_SCRIPT, str(base))
    assert peek.returncode == 0 and b"current=plan-1" in peek.stdout, peek.stderr
    read = shell.run(js.JOURNAL_READ_SCRIPT, str(base), str(base / "current"))
    assert parse_read_stream([str(base / "current")], read.stdout)[str(base / "current")].content
    journal = base / "journal/plan-1"
    original = base / "main.cf"
    original.write_bytes(b"x = 1\n")
    digest = hashlib.sha256(b"x = 1\n").hexdigest()

    def open_journal(index: str, sha: str) -> subprocess.CompletedProcess[bytes]:
        """OPEN_SCRIPT for plan-1, copying the original as orig/INDEX if it has sha256 SHA."""
        current = str(base / "current")
        return shell.run(
            js.OPEN_SCRIPT, str(journal), "1024", "{}", current, "plan-1", index, str(original), sha
        )

    opened = open_journal("0", digest)
    assert opened.returncode == 0, opened.stderr
    assert (journal / "reserve").stat().st_size == 1024
    assert (journal / "orig/0").read_bytes() == b"x = 1\n"
    assert (journal / "state.json").read_bytes() == b"{}"
    changed = open_journal("1", "0" * 64)
    assert changed.returncode == 9 and f"changed: {original}".encode() in changed.stderr
    assert shell.run(js.UNLOCK_SCRIPT, str(base), "plan-1").returncode == 0
    assert not (base / "lock").exists()


def test_the_lock_runs_its_then_script_only_once_taken(shell: Shell, base: Path) -> None:
    then = "echo ran; ls /proc/self/fd; exit 3"  # its status is not the lock's
    taken = shell.run(js.LOCK_SCRIPT, str(base), "plan-1", "node-1", "", "", then)
    lock, marker, said = taken.stdout.decode().partition("==then==\n")
    assert taken.returncode == 0 and lock == "acquired\n" and marker, taken.stderr
    assert said.splitlines()[0] == "ran" and "9" not in said.splitlines()[1:]  # mutex let go
    held = shell.run(js.LOCK_SCRIPT, str(base), "plan-2", "node-2", "", "", then)
    assert b"==then==" not in held.stdout and parse_lock(held.stdout.decode()).held


def test_a_carried_state_is_written_before_the_command_runs_under_its_umask(
    shell: Shell, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    probe = 'cat "$1"; echo; umask; printf "%s|" "$@"'
    command = ("sh", "-c", probe, "sh", str(state))
    done = shell.run(js.CARRY_SCRIPT, str(state), "n1", "2", "one", "two", *command)
    done_args = done.stdout.decode().splitlines()
    assert done.returncode == 0, done.stderr
    assert state.read_text() == "two" and oct(state.stat().st_mode & 0o777) == "0o600"
    assert done_args[0] == "two"  # the command ran after the last state was in place
    mask = os.umask(0)
    os.umask(mask)
    assert int(done_args[1], 8) == mask != 0o077  # not the journal's own
    assert done_args[2] == f"{state}|"  # its own arguments, nothing of ours


def test_a_carried_state_that_cannot_be_written_stops_the_command(
    shell: Shell, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    state = tmp_path / "missing-dir" / "state.json"
    done = shell.run(js.CARRY_SCRIPT, str(state), "n2", "1", "one", "touch", str(ran))
    assert done.returncode == 125
    assert done.stderr.decode().splitlines()[-1] == "journal-unwritten n2"
    assert not ran.exists()


def test_an_unsafe_base_is_named_with_its_mode(shell: Shell, base: Path) -> None:
    base.mkdir(mode=0o700)
    (base / "current").write_text("plan-1\n")
    (base / "current").chmod(0o666)
    done = shell.run(js.PEEK_SCRIPT, str(base))
    assert done.returncode == 4
    said = done.stderr.decode()
    assert f"{base}/current is not root's alone" in said and "mode 666" in said, said
    base.chmod(0o777)
    done = shell.run(js.LOCK_SCRIPT, str(base), "plan", "node", "", "")
    assert done.returncode == 4 and b"writable by group or others (mode 777)" in done.stderr


def _without_proc(script: str) -> str:
    """The script as it runs on a host with no /proc: the same text, its probe pointed away."""
    probe = 'if [ -r "/proc/$$/stat" ]; then'
    assert probe in script
    return script.replace(probe, 'if [ -r "/nonexistent/$$/stat" ]; then')


# busybox's ps reads /proc itself and has no -p: the ps walk is for hosts without /proc.
@pytest.mark.parametrize(
    ("shell", "proc"),
    [("dash", "/proc"), ("busybox", "/proc"), ("dash", "ps")],
    indirect=["shell"],
)
def test_the_lease_is_the_sshd_above_with_or_without_proc(
    shell: Shell, base: Path, tmp_path: Path, proc: str
) -> None:
    lock, peek = js.LOCK_SCRIPT, js.PEEK_SCRIPT
    if proc == "ps":
        lock, peek = _without_proc(lock), _without_proc(peek)
    sshd = tmp_path / "sshd"  # a process whose name is sshd: the session the lease is
    shutil.copy(shutil.which("dash") or "/bin/dash", sshd)
    inner = " ".join(shell.argv) + ' -c "$0" sh "$@"; read hold'
    env = {"PATH": shell.path}
    session = subprocess.Popen(
        [str(sshd), "-c", inner, lock, str(base), "plan-1", "node", "", ""],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert session.stdout is not None
        assert session.stdout.readline() == b"acquired\n"
        owner = (base / "lock/owner").read_text()
        assert f"holder={session.pid} " in owner, owner
        alive = parse_lock(shell.run(peek, str(base)).stdout.decode())
        assert alive.held and alive.alive, alive
        refused = shell.run(lock, str(base), "plan-2", "node", "takeover", "*")
        assert parse_lock(refused.stdout.decode()).plan_id == "plan-1"
    finally:
        session.communicate(b"\n", timeout=30)
    gone = parse_lock(shell.run(peek, str(base)).stdout.decode())
    assert gone.held and not gone.alive, gone
    taken = shell.run(lock, str(base), "plan-2", "node", "takeover", "plan-1")
    assert taken.stdout.startswith(b"acquired"), taken


def test_wait_socket_sees_owner_group_and_mode(shell: Shell, tmp_path: Path) -> None:
    path = str(tmp_path / "lmtp")
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(path)
        os.chmod(path, 0o600)
        ok = shell.run(actions.WAIT_SOCKET_SCRIPT, path, "root root 600", "5")
        assert ok.returncode == 0, ok
        wrong = shell.run(actions.WAIT_SOCKET_SCRIPT, path, "postfix postfix 600", "2")
        assert (wrong.returncode, wrong.stdout) == (1, b"root root 600\n")
    finally:
        listener.close()


def test_wait_port_with_bash_or_only_busybox(shell: Shell, applets: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = str(listener.getsockname()[1])
    paths = [shell.path] + ([str(applets)] if "busybox" in shell.argv[0] else [])
    try:
        for path in paths:  # the second: no bash, busybox's nc (no -z)
            up = shell.run(actions.WAIT_PORT_SCRIPT, "127.0.0.1", port, "20", path=path)
            assert up.returncode == 0, (path, up)
    finally:
        listener.close()
    down = shell.run(actions.WAIT_PORT_SCRIPT, "127.0.0.1", port, "2")
    assert down.returncode == 1, down


def test_wait_port_without_any_tcp_client_says_so(shell: Shell, tmp_path: Path) -> None:
    for tool in ("sleep", "grep"):
        found = shutil.which(tool)
        assert found is not None
        (tmp_path / tool).symlink_to(found)
    done = shell.run(actions.WAIT_PORT_SCRIPT, "127.0.0.1", "24", "2", path=str(tmp_path))
    assert (done.returncode, done.stdout) == (
        2,
        b"no TCP client on the host (neither bash nor nc)\n",
    )


def test_remove_only_what_still_has_its_sha256(shell: Shell, tmp_path: Path) -> None:
    made = tmp_path / "made.conf"
    made.write_bytes(b"ours\n")
    stale = shell.run(actions.REMOVE_SCRIPT, str(made), hashlib.sha256(b"x").hexdigest())
    assert stale.returncode == 9 and made.exists()
    done = shell.run(actions.REMOVE_SCRIPT, str(made), hashlib.sha256(b"ours\n").hexdigest())
    assert done.returncode == 0 and not made.exists(), done


def test_link_replaces_a_link_to_a_directory_not_its_inside(shell: Shell, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    path = tmp_path / "conf"
    path.symlink_to("dir")
    done = shell.run(actions.LINK_SCRIPT, str(path), "real.conf")
    assert done.returncode == 0, done
    assert os.readlink(path) == "real.conf" and list((tmp_path / "dir").iterdir()) == []


def test_runtime_and_facts_run_to_their_end(shell: Shell) -> None:
    runtime = shell.run(services.RUNTIME_SCRIPT)
    managers = runtime.stdout.decode().splitlines()[:2]
    assert set(managers) <= {"systemd", "service", "direct"} and len(managers) == 2, runtime
    found = shell.run(facts.SCRIPT, "")
    assert found.stdout.decode().rstrip().endswith("==migrator:end==")


def _lmtp_server(path: str, transcript: list[str]) -> threading.Thread:
    """A one-connection LMTP server on a unix socket: 250 to everything, 221 to QUIT."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, connection.makefile("rb") as lines:
            connection.sendall(b"220 fake LMTP\r\n")
            for raw in lines:
                command = raw.decode().rstrip("\r\n")
                transcript.append(command)
                if command.startswith("LHLO"):
                    connection.sendall(b"250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif command == "QUIT":
                    connection.sendall(b"221 bye\r\n")
                    break
                else:
                    connection.sendall(b"250 ok\r\n")
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_the_nc_client_speaks_lmtp_where_there_is_no_perl_or_python(
    shell: Shell, tmp_path: Path
) -> None:
    path = str(tmp_path / "lmtp")
    sent: list[str] = []
    server = _lmtp_server(path, sent)
    commands = probe_commands(["alice@example.test"])
    done = shell.run(delivery.PROBE_SH, "nc", "unix", path, "5", *commands)
    interpreter, replies, error = parse_transcript(done.stdout.decode())
    if "busybox" in shell.argv[0]:  # busybox's nc has no -U: no client, said so
        assert done.stdout.endswith(b"error no LMTP client: none of 'nc' is installed\n")
        with socket.socket(socket.AF_UNIX) as end:  # let the server end
            end.connect(path)
            end.sendall(b"QUIT\r\n")
            assert end.recv(100).startswith(b"220")
        server.join(10)
        return
    server.join(10)
    assert done.returncode == 0 and interpreter == "nc", done
    assert probe_failure(path, commands, replies, error) is None, done.stdout
    assert [r.code for r in replies] == [220, 250, 250, 250, 250, 221]
    assert sent == commands


@pytest.mark.parametrize("shell", ["dash"], indirect=True)  # busybox's nc has no -U
def test_the_nc_client_names_a_connect_error(shell: Shell, tmp_path: Path) -> None:
    path = str(tmp_path / "none")
    done = shell.run(delivery.PROBE_SH, "nc", "unix", path, "5", "LHLO x")
    _, replies, error = parse_transcript(done.stdout.decode())
    assert done.returncode == 2 and replies == () and error is not None, done
    assert error.startswith(f"connect to {path}: ") and "No such file" in error, error


def test_the_lmtp_drain_reloads_then_waits_for_the_agents_listed_before(
    shell: Shell, tmp_path: Path
) -> None:
    """Apply's wait_lmtp and rollback's reload_postfix: the agents running before the reload
    (a child of Postfix's master named lmtp) are waited for until they exit; a reload that
    fails is exit 3, with its words."""
    (tmp_path / "pid").mkdir()
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "postconf").write_text(f"#!/bin/sh\necho {tmp_path}\n")
    (tools / "postconf").chmod(0o755)
    (tools / "lmtp").symlink_to(shutil.which("sleep") or "/bin/sleep")
    master = subprocess.Popen(["sh", "-c", f"{tools}/lmtp 30 & echo $! > {tmp_path}/agent; wait"])
    try:
        (tmp_path / "pid" / "master.pid").write_text(f"{master.pid:>10}\n")
        agent = ""
        for _ in range(50):
            agent = (
                (tmp_path / "agent").read_text().strip() if (tmp_path / "agent").exists() else ""
            )
            if agent:
                break
            threading.Event().wait(0.1)
        path = f"{tools}:{shell.path}"
        busy = shell.run(services.LMTP_DRAIN_SCRIPT, "3", "true", path=path)
        assert busy.stdout.decode().split() == ["busy", agent], busy
        failed = shell.run(
            services.LMTP_DRAIN_SCRIPT, "3", "sh", "-c", "echo no; exit 1", path=path
        )
        assert (failed.returncode, failed.stderr) == (3, b"no\n"), failed
        done = shell.run(services.LMTP_DRAIN_SCRIPT, "50", "kill", agent, path=path)
        assert (done.returncode, done.stdout) == (0, b"drained\n"), done
    finally:
        master.kill()
        master.wait()


def test_the_lmtp_drain_still_reloads_postfix_when_no_master_is_found(
    shell: Shell, tmp_path: Path
) -> None:
    """No master.pid (Postfix stopped, or its pid file elsewhere): nothing to wait for, but
    the reload is run all the same, so rollback never leaves Postfix on LMTP unreloaded and
    a Postfix that is not running is reported (exit 3), not passed over."""
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "postconf").write_text(f"#!/bin/sh\necho {tmp_path}\n")
    (tools / "postconf").chmod(0o755)
    path = f"{tools}:{shell.path}"
    reloaded = tmp_path / "reloaded"
    done = shell.run(services.LMTP_DRAIN_SCRIPT, "3", "touch", str(reloaded), path=path)
    assert (done.returncode, done.stdout) == (0, b"drained (no Postfix master)\n"), done
    assert reloaded.exists()
    stopped = "echo 'postfix/postfix-script: fatal: the Postfix mail system is not running'; exit 1"
    failed = shell.run(services.LMTP_DRAIN_SCRIPT, "3", "sh", "-c", stopped, path=path)
    assert (failed.returncode, failed.stderr) == (
        3,
        b"postfix/postfix-script: fatal: the Postfix mail system is not running\n",
    ), failed
