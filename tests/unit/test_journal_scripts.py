"""The journal's and the file transport's shell scripts, run by this machine's sh on a
temporary directory (as root, like on a host): safety checks, the lock, symlinks, CAS."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from migrator.delivery import scripts as delivery_scripts
from migrator.executor.journal import parse_lock
from migrator.executor.journal_scripts import (
    JOURNAL_READ_SCRIPT,
    LOCK_SCRIPT,
    OPEN_SCRIPT,
    PEEK_SCRIPT,
    WRITE_STATES_SCRIPT,
)
from migrator.transport.remote_scripts import (
    CHANGED_RC,
    READ_SCRIPT,
    WRITE_SCRIPT,
    parse_read_stream,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the scripts run as root on a host")
NOBODY = 65534


def sh(script: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["sh", "-c", script, "sh", *args], input=stdin, capture_output=True, check=False
    )


def test_a_new_base_is_made_root_only_and_locked(base: Path) -> None:
    done = sh(LOCK_SCRIPT, str(base), "plan-1", "node-1", "", "")
    assert done.returncode == 0, done.stderr
    assert parse_lock(done.stdout.decode()).held is False
    assert (base.stat().st_mode & 0o777, base.stat().st_uid) == (0o700, 0)
    assert "plan=plan-1\nnode=node-1\n" in (base / "lock/owner").read_text()


@pytest.mark.parametrize(
    "make_unsafe",
    [
        lambda b: b.chmod(0o777),
        lambda b: os.chown(b, NOBODY, NOBODY),
        lambda b: (b / "journal").symlink_to("/etc"),
        lambda b: os.chown(b / "current", NOBODY, NOBODY),
        lambda b: (b / "current").chmod(0o666),
    ],
    ids=["world-writable", "not-root", "symlink-inside", "file-not-root", "file-writable"],
)
def test_an_unsafe_base_is_refused_by_every_script(base: Path, make_unsafe: object) -> None:
    base.mkdir(mode=0o700)
    (base / "current").write_text("plan-1\n")
    (base / "current").chmod(0o600)
    make_unsafe(base)  # type: ignore[operator]
    before = sorted(str(p) for p in base.rglob("*"))
    for script, args in (
        (LOCK_SCRIPT, ("plan-2", "node", "", "")),
        (PEEK_SCRIPT, ()),
        (JOURNAL_READ_SCRIPT, (str(base / "current"),)),
    ):
        done = sh(script, str(base), *args)
        assert done.returncode == 4, (script[-80:], done.stdout, done.stderr)
        assert str(base) in done.stderr.decode()
    assert sorted(str(p) for p in base.rglob("*")) == before  # nothing made, nothing chmod'ed
    assert not (base / "lock").exists()


def test_a_symlinked_base_is_refused(base: Path) -> None:
    real = base.parent / "real"
    real.mkdir(mode=0o700)
    base.symlink_to(real)
    done = sh(LOCK_SCRIPT, str(base), "plan", "node", "", "")
    assert done.returncode == 4 and b"is a symlink" in done.stderr
    assert list(real.iterdir()) == []


def test_the_loser_of_concurrent_locks_always_sees_the_owner(base: Path) -> None:
    for _ in range(8):
        with ThreadPoolExecutor(2) as pool:
            runs = list(
                pool.map(
                    lambda n: sh(LOCK_SCRIPT, str(base), f"plan-{n}", f"node-{n}", "", ""),
                    (1, 2),
                )
            )
        infos = [parse_lock(run.stdout.decode()) for run in runs]
        assert sorted(info.held for info in infos) == [False, True], runs
        loser = next(info for info in infos if info.held)
        assert loser.plan_id.startswith("plan-") and loser.node.startswith("node-"), runs
        shutil.rmtree(base)  # the next pair also races to create the base


def test_takeover_only_of_the_named_dead_plan(base: Path) -> None:
    sh(LOCK_SCRIPT, str(base), "old", "node", "", "")
    # A holder that is gone: PID 1's start time never matches this.
    (base / "lock/owner").write_text("plan=old\nnode=node\nholder=1 0\n")
    other = sh(LOCK_SCRIPT, str(base), "new", "node", "takeover", "not-old")
    assert parse_lock(other.stdout.decode()).plan_id == "old"
    taken = sh(LOCK_SCRIPT, str(base), "new", "node", "takeover", "old")
    assert taken.stdout.startswith(b"acquired")
    assert "plan=new" in (base / "lock/owner").read_text()


def test_read_follows_a_symlink_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real/main.cf").write_bytes(b"a = 1\n")
    (tmp_path / "main.cf").symlink_to("real/main.cf")
    paths = [str(tmp_path / "main.cf"), str(tmp_path / "real/main.cf")]
    data = parse_read_stream(paths, sh(READ_SCRIPT, *paths).stdout)
    linked = data[paths[0]]
    assert (linked.content, linked.link, linked.target) == (b"a = 1\n", "real/main.cf", paths[1])
    assert (data[paths[1]].content, data[paths[1]].link) == (b"a = 1\n", "")


def test_write_goes_through_a_symlink_and_is_a_compare_and_swap(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real/main.cf"
    target.write_bytes(b"old\n")
    link = tmp_path / "main.cf"
    link.symlink_to("real/main.cf")
    args = (str(link), "root", "root", "0644")
    stale = hashlib.sha256(b"something else\n").hexdigest()
    refused = sh(WRITE_SCRIPT, *args, stale, stdin=b"new\n")
    assert refused.returncode == CHANGED_RC and b"sha256 is now" in refused.stderr
    assert target.read_bytes() == b"old\n" and len(list(target.parent.iterdir())) == 1
    done = sh(WRITE_SCRIPT, *args, hashlib.sha256(b"old\n").hexdigest(), stdin=b"new\n")
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and os.readlink(link) == "real/main.cf"
    assert target.read_bytes() == b"new\n"


def test_a_folded_message_id_is_found_in_a_queue_file() -> None:
    unfold = delivery_scripts._LOG_SLICE.split("slice()")[0]
    mid = "<migrator.20261202T010203Z-abcdef12.0123456789abcdef0123456789abcdef@mx1>"
    headers = f"Subject: test\nMessage-ID: \n {mid}\nX-Migrator-Test: t\n".encode()
    found = sh(unfold + 'unfold | grep -qiF "message-id: $1"', mid, stdin=headers)
    assert found.returncode == 0
    other = sh(unfold + 'unfold | grep -qiF "message-id: $1"', "<other@mx1>", stdin=headers)
    assert other.returncode == 1


def test_states_of_one_moment_are_written_in_turn_in_one_command(base: Path) -> None:
    journal = base / "journal" / "plan-1"
    journal.mkdir(parents=True)
    state = journal / "state.json"
    # Each content is written whole by rename: what a reader meanwhile sees is one of them.
    done = sh(WRITE_STATES_SCRIPT, str(state), '{"step": "a"}\n', '{"step": "b"}\n')
    assert done.returncode == 0, done.stderr
    assert state.read_text() == '{"step": "b"}\n'
    assert (state.stat().st_mode & 0o777, state.stat().st_uid) == (0o600, 0)
    assert [p.name for p in journal.iterdir()] == ["state.json"]


def test_a_state_that_cannot_be_written_is_named_and_stops_the_rest(base: Path) -> None:
    state = base / "journal" / "gone" / "state.json"
    done = sh(WRITE_STATES_SCRIPT, str(state), "{}\n", "{}\n")
    assert done.returncode == 5
    why = done.stderr.decode().splitlines()[-1]
    assert str(state) in why and "No such file or directory" in why, why
    assert not state.parent.exists()


def _open(base: Path, config: Path, sha: str) -> subprocess.CompletedProcess[bytes]:
    journal = base / "journal" / "plan-1"
    journal.parent.mkdir(parents=True, exist_ok=True)
    current = str(base / "current")
    return sh(OPEN_SCRIPT, str(journal), "1024", "{}\n", current, "plan-1", "0", str(config), sha)


def test_the_journal_opens_with_the_hosts_own_copy_of_each_original(base: Path) -> None:
    config = base.parent / "main.cf"
    config.write_bytes(b"virtual_transport = dovecot\n")
    config.chmod(0o644)
    done = _open(base, config, hashlib.sha256(config.read_bytes()).hexdigest())
    assert done.returncode == 0, done.stderr
    journal = base / "journal" / "plan-1"
    copy = journal / "orig" / "0"
    assert copy.read_bytes() == config.read_bytes()
    assert (copy.stat().st_mode & 0o777, copy.stat().st_uid) == (0o600, 0)
    assert len((journal / "reserve").read_bytes()) == 1024
    assert (journal / "state.json").read_text() == "{}\n"
    assert (base / "current").read_text() == "plan-1\n"
    assert sorted(p.name for p in (journal / "orig").iterdir()) == ["0"]


def test_an_original_changed_since_the_drift_check_opens_no_journal(base: Path) -> None:
    config = base.parent / "main.cf"
    config.write_bytes(b"edited meanwhile\n")
    done = _open(base, config, hashlib.sha256(b"as the drift check read it\n").hexdigest())
    assert done.returncode == CHANGED_RC
    assert done.stderr.decode().strip() == f"changed: {config}"
    journal = base / "journal" / "plan-1"
    assert list((journal / "orig").iterdir()) == []
    assert not (journal / "state.json").exists()
    assert not (base / "current").exists()
