"""Pure parts of the journal and rollback: lock messages, old state files, what counts as an
edit made after apply."""

from __future__ import annotations

import json

import pytest

from migrator.executor.journal import (
    JournalState,
    JournalStatus,
    LockInfo,
    Original,
    locked_error,
    parse_lock,
    state_from_json,
    state_to_json,
)
from migrator.executor.rollback import edited_since_apply
from migrator.transport.base import FileData, sha256

BEFORE, AFTER, EDITED = b"before\n", b"after\n", b"after\nmessage_size_limit = 52428800\n"


def _original(existed: bool = True) -> Original:
    return Original(
        "/etc/postfix/main.cf",
        existed,
        "root",
        "root",
        0o644,
        sha256(BEFORE) if existed else sha256(b""),
        sha256(AFTER),
    )


@pytest.mark.parametrize(
    ("existed", "content", "drifted"),
    [
        (True, BEFORE, False),  # not written yet (an interrupted apply)
        (True, AFTER, False),  # as apply wrote it
        (True, EDITED, True),  # edited after apply
        (True, None, True),  # deleted after apply
        (False, None, False),  # apply would have created it, and did not yet
        (False, AFTER, False),
        (False, EDITED, True),
    ],
)
def test_what_counts_as_an_edit_since_apply(
    existed: bool, content: bytes | None, drifted: bool
) -> None:
    assert (
        edited_since_apply(_original(existed), FileData("/etc/postfix/main.cf", content)) is drifted
    )


def test_a_lock_message_never_has_empty_fields_and_names_the_way_out() -> None:
    running = str(locked_error("mx1", LockInfo(True, "p1", "node:1", alive=True)))
    assert running == (
        "mx1: /var/lib/migrator/lock: locked by plan p1 from node:1, running; "
        "see `migrator status mx1`"
    )
    dead = str(locked_error("mx1", LockInfo(True, alive=False)))
    assert "plan (unknown) from (unknown), interrupted" in dead
    assert "run `migrator rollback mx1`" in dead
    assert parse_lock("held\nalive=no\n") == LockInfo(True, "", "", False)


def test_an_old_state_file_without_symlink_fields_still_reads() -> None:
    state = JournalState(
        "p1", "mx1", JournalStatus.APPLIED, "done", "n", "t0", "t1", (_original(),)
    )
    raw = json.loads(state_to_json(state))
    for original in raw["originals"]:
        del original["link"], original["target"]
    again = state_from_json(json.dumps(raw).encode(), "mx1")
    assert again == state and again.originals[0].link == ""
