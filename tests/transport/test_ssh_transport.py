"""SSHTransport against a real OpenSSH sshd on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest

from migrator.errors import HostKeyError, TransportError
from migrator.transport import connect
from migrator.transport.ssh import SSHTransport
from migrator.transport.ssh_config import resolve_host

from .conftest import Sshd, keygen, needs_sshd

pytestmark = needs_sshd


@pytest.fixture
def transport(sshd: Sshd) -> Iterator[SSHTransport]:
    sshd.trust()
    made = connect("target", ssh_config=sshd.ssh_config)
    assert isinstance(made, SSHTransport)
    yield made
    made.close()


def test_run_returns_rc_stdout_stderr_and_takes_stdin(transport: SSHTransport) -> None:
    result = transport.run(["sh", "-c", "cat; echo oops >&2; exit 3"], stdin=b"hello\x00bytes")
    assert (result.rc, result.stdout, result.stderr) == (3, b"hello\x00bytes", b"oops\n")
    assert result.host == "target" and not result.ok
    assert result.argv == ("sh", "-c", "cat; echo oops >&2; exit 3")


def test_run_quotes_every_argument(transport: SSHTransport) -> None:
    tricky = ["a b", "it's", "$HOME", "`id`", "*", ""]
    result = transport.run(["printf", "%s|", *tricky])
    assert result.ok and result.out == "|".join(tricky) + "|"


def test_large_output_and_input(transport: SSHTransport) -> None:
    blob = os.urandom(3 * 1024 * 1024)
    result = transport.run(["sh", "-c", "cat; head -c 2000000 /dev/zero >&2"], stdin=blob)
    assert result.stdout == blob and len(result.stderr) == 2_000_000


def test_timeout_raises_and_the_connection_stays_usable(transport: SSHTransport) -> None:
    with pytest.raises(TransportError, match=r"did not finish within 0\.5 s"):
        transport.run(["sleep", "5"], timeout=0.5)
    assert transport.run(["true"]).ok
    assert transport.connections == 1


def test_read_files_is_one_round_trip(transport: SSHTransport, tmp_path: Path) -> None:
    tree = tmp_path / "files"
    tree.mkdir()
    binary = bytes(range(256)) * 10 + b"no trailing newline"
    (tree / "bin").write_bytes(binary)
    (tree / "empty").write_bytes(b"")
    (tree / "text.cf").write_text("a = b\n\n.\n")
    os.chmod(tree / "text.cf", 0o640)
    (tree / "link").symlink_to(tree / "text.cf")
    (tree / "sub").mkdir()
    paths = [str(tree / name) for name in ("bin", "empty", "text.cf", "missing", "link", "sub")]
    before = transport.round_trips
    files = transport.read_files(paths)
    assert transport.round_trips == before + 1
    assert files[paths[0]].content == binary
    assert files[paths[1]].content == b""
    assert files[paths[2]].content == b"a = b\n\n.\n"
    assert (files[paths[2]].owner, files[paths[2]].group, files[paths[2]].mode) == (
        "root",
        "root",
        0o640,
    )
    assert files[paths[3]].content is None and not files[paths[3]].exists
    assert files[paths[4]].content == b"a = b\n\n.\n"
    assert files[paths[5]].content is None
    assert transport.read_files([]) == {}
    assert transport.round_trips == before + 1


def test_many_files_in_one_round_trip(transport: SSHTransport, tmp_path: Path) -> None:
    paths = []
    for index in range(200):
        path = tmp_path / f"f{index}.conf"
        path.write_text(f"file {index}\n" * index)
        paths.append(str(path))
    before = transport.round_trips
    files = transport.read_files(paths)
    assert transport.round_trips == before + 1
    assert all(files[p].content == Path(p).read_bytes() for p in paths)


def test_write_atomic_sets_owner_and_mode(transport: SSHTransport, tmp_path: Path) -> None:
    nobody = pwd.getpwuid(65534).pw_name
    nogroup = grp.getgrgid(65534).gr_name
    etc = tmp_path / "etc"
    etc.mkdir()
    target = etc / "main.cf"
    target.write_text("old\n")
    before = transport.round_trips
    transport.write_atomic(str(target), b"new\x00content", owner=nobody, group=nogroup, mode=0o640)
    assert transport.round_trips == before + 1
    info = target.stat()
    assert target.read_bytes() == b"new\x00content"
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o640)
    assert sorted(p.name for p in etc.iterdir()) == ["main.cf"]  # no temp file left
    read = transport.read_files([str(target)])[str(target)]
    assert (read.owner, read.group, read.mode) == (nobody, nogroup, 0o640)


def test_write_atomic_failure_leaves_the_file(transport: SSHTransport, tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    target = etc / "keep.cf"
    target.write_text("original\n")
    with pytest.raises(TransportError, match=r"keep\.cf") as caught:
        transport.write_atomic(
            str(target), b"x", owner="no-such-user-here", group="root", mode=0o644
        )
    assert caught.value.path == str(target)
    assert target.read_text() == "original\n"
    assert sorted(p.name for p in etc.iterdir()) == ["keep.cf"]
    with pytest.raises(TransportError, match="is a directory"):
        transport.write_atomic(str(etc), b"x", owner="root", group="root", mode=0o644)
    with pytest.raises(TransportError, match="absolute"):
        transport.write_atomic("relative", b"x", owner="root", group="root", mode=0o644)


def test_unknown_host_key_is_refused(sshd: Sshd) -> None:
    made = connect("target", ssh_config=sshd.ssh_config)
    with pytest.raises(HostKeyError) as caught:
        made.run(["true"])
    message = str(caught.value)
    assert message.startswith("target: unknown host key for [127.0.0.1]:")
    assert str(sshd.known_hosts) in message and "\n" not in message
    assert sshd.known_hosts.read_text() == ""


def test_accept_new_adds_the_key_then_it_is_known(sshd: Sshd) -> None:
    made = connect("target", ssh_config=sshd.ssh_config, accept_new_host_key=True)
    assert made.run(["true"]).ok
    made.close()
    assert sshd.known_hosts.read_text() == sshd.known_hosts_line()
    strict = connect("target", ssh_config=sshd.ssh_config)
    assert strict.run(["true"]).ok
    strict.close()


def test_changed_key_is_refused_even_with_accept_new(sshd: Sshd) -> None:
    other = paramiko.RSAKey.generate(2048)
    sshd.known_hosts.write_text(f"[127.0.0.1]:{sshd.port} ssh-rsa {other.get_base64()}\n")
    made = connect("target", ssh_config=sshd.ssh_config, accept_new_host_key=True)
    with pytest.raises(HostKeyError, match="CHANGED") as caught:
        made.run(["true"])
    assert str(sshd.known_hosts) in str(caught.value)
    assert sshd.known_hosts.read_text().count("\n") == 1


def test_hashed_and_revoked_entries(sshd: Sshd) -> None:
    name = f"[127.0.0.1]:{sshd.port}"
    hashed = sshd.known_hosts_line(paramiko.HostKeys.hash_host(name))
    sshd.known_hosts.write_text("# comment\n@cert-authority *.example ssh-ed25519 AAAA\n" + hashed)
    assert connect("target", ssh_config=sshd.ssh_config).run(["true"]).ok
    sshd.known_hosts.write_text("@revoked " + sshd.known_hosts_line("*") + hashed)
    with pytest.raises(HostKeyError, match="REVOKED"):
        connect("target", ssh_config=sshd.ssh_config).run(["true"])


def test_accept_new_hashes_when_config_says_so(sshd: Sshd) -> None:
    config = sshd.dir / "hashed_config"
    config.write_text("Host target\n  HashKnownHosts yes\n" + sshd.ssh_config.read_text())
    made = connect("target", ssh_config=config, accept_new_host_key=True)
    assert made.run(["true"]).ok
    made.close()
    line = sshd.known_hosts.read_text()
    assert line.startswith("|1|") and str(sshd.port) not in line
    assert connect("target", ssh_config=config).run(["true"]).ok


def test_proxy_jump_through_itself(sshd: Sshd) -> None:
    sshd.trust()
    made = connect("jumped", ssh_config=sshd.ssh_config)
    assert made.run(["echo", "via jump"]).out == "via jump\n"
    made.close()


def test_proxy_jump_chain(sshd: Sshd) -> None:
    sshd.trust()
    made = connect("chained", ssh_config=sshd.ssh_config)
    assert isinstance(made, SSHTransport)
    assert made.spec.jump is not None and made.spec.jump.jump is not None
    assert made.run(["echo", "two hops"]).out == "two hops\n"
    made.close()


def test_jump_host_key_is_checked_too(sshd: Sshd) -> None:
    made = connect("jumped", ssh_config=sshd.ssh_config)
    with pytest.raises(HostKeyError, match="unknown host key"):
        made.run(["true"])


def test_proxy_command(sshd: Sshd) -> None:
    sshd.trust()
    made = connect("proxied", ssh_config=sshd.ssh_config)
    assert made.run(["echo", "via proxy command"]).out == "via proxy command\n"
    made.close()


def test_reconnects_once_when_the_connection_died(sshd: Sshd) -> None:
    sshd.trust()
    made = connect("target", ssh_config=sshd.ssh_config)
    assert isinstance(made, SSHTransport)
    assert made.run(["true"]).ok
    sessions = sshd.session_pids()
    assert sessions
    for pid in sessions:
        os.kill(pid, 15)
    time.sleep(0.2)
    assert made.run(["echo", "again"]).out == "again\n"
    assert made.connections == 2
    made.close()


def test_dead_host_is_a_transport_error(sshd: Sshd, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(sshd.ssh_config.read_text().replace(f"Port {sshd.port}", "Port 1"))
    made = connect("target", ssh_config=config)
    with pytest.raises(TransportError, match="connection refused"):
        made.run(["true"])


def test_bad_key_is_an_authentication_error(sshd: Sshd) -> None:
    sshd.trust()
    (sshd.dir / "authorized_keys").write_text("")
    with pytest.raises(TransportError, match=r"authentication failed for root@127\.0\.0\.1"):
        connect("target", ssh_config=sshd.ssh_config).run(["true"])


def test_spec_is_resolved_without_connecting(sshd: Sshd) -> None:
    spec = resolve_host("target", config=sshd.ssh_config)
    made = SSHTransport(spec)
    assert made.round_trips == 0 and made.connections == 0 and made.live


def test_connection_lost_mid_command_is_not_rerun(sshd: Sshd, tmp_path: Path) -> None:
    sshd.trust()
    made = connect("target", ssh_config=sshd.ssh_config)
    assert isinstance(made, SSHTransport)
    counter = tmp_path / "runs"
    # The command kills its own sshd session process: the connection drops while it runs.
    script = f"echo run >> {counter}; kill -TERM $PPID; sleep 2"
    with pytest.raises(TransportError, match="connection lost while running sh"):
        made.run(["sh", "-c", script])
    assert counter.read_text() == "run\n"
    assert made.run(["true"]).ok and made.connections == 2
    assert counter.read_text() == "run\n"
    made.close()


def test_command_killed_by_a_signal_has_rc_minus_one(transport: SSHTransport) -> None:
    result = transport.run(["sh", "-c", "kill -KILL $$"])
    assert result.rc == -1 and not result.ok
    assert transport.run(["true"]).ok


FAKE_SUDO = """#!/bin/sh
here=$(dirname "$0")
echo "$1 $2 $3 $4" >> "$here/sudo.log"
if [ -e "$here/sudo.deny" ]; then echo "sudo: a password is required" >&2; exit 1; fi
[ "$1" = -n ] && [ "$2" = -- ] || { echo "fake sudo: wants -n --" >&2; exit 2; }
shift 2
exec "$@"
"""


def test_sudo_wraps_every_operation(sshd: Sshd, tmp_path: Path) -> None:
    # This machine has no sudo and no second user: a fake sudo on the session PATH checks
    # what a non-root login would send; the lab proves a real one.
    fake = sshd.dir / "bin" / "sudo"
    fake.write_text(FAKE_SUDO)
    fake.chmod(0o755)
    sshd.trust()
    made = SSHTransport(resolve_host("target", config=sshd.ssh_config), sudo=True)
    assert made.run(["printf", "%s", "a b"]).out == "a b"
    target = tmp_path / "written"
    made.write_atomic(str(target), b"data", owner="root", group="root", mode=0o600)
    assert made.read_files([str(target)])[str(target)].content == b"data"
    log = (sshd.dir / "bin" / "sudo.log").read_text().splitlines()
    assert log == ["-n -- printf %s", "-n -- sh -c", "-n -- sh -c"]
    (sshd.dir / "bin" / "sudo.deny").touch()
    with pytest.raises(TransportError, match="sudo -n refused for user root"):
        made.run(["true"])
    made.close()


def test_ecdsa_known_key_is_used_when_the_server_prefers_ed25519(sshd: Sshd) -> None:
    # paramiko alone negotiates the first key type both sides have and calls the host
    # unknown; ssh (and we) put the known key types first.
    key_type, key = (sshd.dir / "host_ecdsa.pub").read_text().split()[:2]
    sshd.known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key}\n")
    made = connect("target", ssh_config=sshd.ssh_config)
    assert made.run(["true"]).ok
    made.close()


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An ssh-agent of our own on a socket in tmp_path, stopped by its PID."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
    try:
        yield sock
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_agent_key_with_identities_only(sshd: Sshd, agent: Path, tmp_path: Path) -> None:
    subprocess.run(["ssh-add", "-q", str(sshd.client_key)], check=True, capture_output=True)
    public_only = tmp_path / "id_in_agent"
    (tmp_path / "id_in_agent.pub").write_text((sshd.dir / "client_ed25519.pub").read_text())
    config = tmp_path / "config"
    config.write_text(
        sshd.ssh_config.read_text().replace(
            f"IdentityFile {sshd.client_key}", f"IdentityFile {public_only}"
        )
    )
    sshd.trust()
    made = connect("target", ssh_config=config)
    assert made.run(["true"]).ok
    made.close()
    # IdentitiesOnly: an agent key that is not one of the IdentityFiles is not offered.
    keygen(tmp_path / "other", "other")
    config.write_text(config.read_text().replace(str(public_only), str(tmp_path / "nothing")))
    with pytest.raises(TransportError, match="offered no key"):
        connect("target", ssh_config=config).run(["true"])


def test_passphrase_key_without_agent_says_so(sshd: Sshd, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    keygen(locked, "locked", passphrase="secret phrase")
    config = tmp_path / "config"
    config.write_text(sshd.ssh_config.read_text().replace(str(sshd.client_key), str(locked)))
    sshd.trust()
    with pytest.raises(TransportError, match="needs a passphrase; add it to the agent"):
        connect("target", ssh_config=config).run(["true"])


def test_output_before_reading_stdin_does_not_deadlock(transport: SSHTransport) -> None:
    blob = os.urandom(6 * 1024 * 1024)
    result = transport.run(["sh", "-c", "head -c 6000000 /dev/zero; wc -c"], stdin=blob, timeout=30)
    assert result.ok and result.stdout.endswith(b"6291456\n")


def test_command_that_ignores_stdin(transport: SSHTransport) -> None:
    result = transport.run(["true"], stdin=os.urandom(8 * 1024 * 1024), timeout=30)
    assert result.rc == 0


def test_failed_connections_leave_no_threads(sshd: Sshd) -> None:
    before = threading.active_count()
    for _ in range(3):
        with pytest.raises(HostKeyError):
            connect("jumped", ssh_config=sshd.ssh_config).run(["true"])
    sshd.trust()
    (sshd.dir / "authorized_keys").write_text("")
    with pytest.raises(TransportError, match="authentication failed"):
        connect("target", ssh_config=sshd.ssh_config).run(["true"])
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before


def test_threads_share_one_connection(transport: SSHTransport) -> None:
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda i: transport.run(["echo", str(i)]).out, range(32)))
    assert outs == [f"{i}\n" for i in range(32)]
    assert transport.connections == 1 and transport.round_trips == 32
