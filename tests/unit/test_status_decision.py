"""The pure state decision of `migrator status`: a journal state and the files as they are
now give the host's state, and what the next rollback would undo (a finalize applied on top
of its migration is finalized, and a rollback undoes the finalize only)."""

from __future__ import annotations

import pytest
from rich.console import Console

from migrator.cli.status import render, tally
from migrator.executor.journal import JournalState, JournalStatus, Original
from migrator.executor.status import HostState, StatusReport, Undoes, journaled_report
from migrator.transport.base import FileData, sha256

MASTER = "/etc/postfix/master.cf"
BEFORE, AFTER, EDITED = b"dovecot unix - n n - - pipe\n", b"smtp inet\n", b"# by hand\n"
ORIGINAL = Original(MASTER, True, "root", "root", 0o644, sha256(BEFORE), sha256(AFTER))


def _state(status: JournalStatus, follows: str = "", step: str = "done") -> JournalState:
    return JournalState(
        "f1" if follows else "m1",
        "mx1",
        status,
        step,
        "ctl:1",
        "t0",
        "t1",
        (ORIGINAL,),
        error="reload failed",
        follows=follows,
    )


def _now(content: bytes) -> dict[str, FileData]:
    return {MASTER: FileData(MASTER, content)}


def test_an_applied_finalize_is_finalized_and_its_rollback_leaves_the_migration() -> None:
    report = journaled_report("mx1", _state(JournalStatus.APPLIED, "m1"), _now(AFTER))
    assert (report.state, report.plan_id, report.migration_plan_id) == (
        HostState.FINALIZED,
        "f1",
        "m1",
    )
    assert report.rollback is not None
    assert report.rollback.data() == {
        "undoes": "finalize",
        "plan_id": "f1",
        "leaves": "migrated",
        "leaves_plan_id": "m1",
        "needs_force": False,
        "edited": [],
    }
    assert report.line() == (
        "mx1: finalized (plan f1): the LDA pipe service is removed (after migration m1); "
        "`migrator rollback mx1` would put it back and leave the host migrated, on LMTP"
    )


def test_an_applied_migration_is_migrated_and_its_rollback_goes_back_to_the_lda() -> None:
    report = journaled_report("mx1", _state(JournalStatus.APPLIED), _now(AFTER))
    assert report.line() == "mx1: migrated (plan m1)"
    assert report.migration_plan_id == ""
    assert report.rollback is not None
    assert (report.rollback.undoes, report.rollback.leaves) == (
        Undoes.MIGRATION,
        HostState.ROLLED_BACK,
    )
    assert report.rollback.text() == "the migration m1: back to the LDA"


def test_a_finalize_edited_since_is_drifted_and_its_rollback_needs_force() -> None:
    report = journaled_report("mx1", _state(JournalStatus.APPLIED, "m1"), _now(EDITED))
    assert report.state is HostState.DRIFTED and report.migration_plan_id == "m1"
    assert f"changed since finalize: {MASTER}; `migrator rollback mx1 --force`" in report.detail
    assert report.rollback is not None and report.rollback.edited == (MASTER,)
    assert report.rollback.text().endswith(f"needs --force (edited: {MASTER})")


def test_a_file_put_back_by_hand_is_drifted_but_needs_no_force() -> None:
    report = journaled_report("mx1", _state(JournalStatus.APPLIED), _now(BEFORE))
    assert report.state is HostState.DRIFTED
    assert "back as before it; `migrator rollback mx1` puts the rest back" in report.detail
    assert report.rollback is not None and report.rollback.edited == ()


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (JournalStatus.FAILED, HostState.FAILED),
        (JournalStatus.APPLYING, HostState.INTERRUPTED),
        (JournalStatus.ROLLING_BACK, HostState.INTERRUPTED),
    ],
)
def test_a_finalize_stopped_half_way_is_undone_by_the_next_rollback(
    status: JournalStatus, state: HostState
) -> None:
    report = journaled_report("mx1", _state(status, "m1", step="reload_postfix"))
    assert (report.state, report.step, report.migration_plan_id) == (state, "reload_postfix", "m1")
    assert report.rollback is not None
    assert (report.rollback.undoes, report.rollback.leaves) == (Undoes.FINALIZE, HostState.MIGRATED)
    assert "run `migrator rollback mx1`" in report.detail


def test_rolled_back_there_is_nothing_left_to_undo() -> None:
    report = journaled_report("mx1", _state(JournalStatus.ROLLED_BACK))
    assert (report.state, report.detail, report.rollback) == (HostState.ROLLED_BACK, "", None)


def test_a_finalize_rolled_back_but_still_current_names_the_migration_still_applied() -> None:
    report = journaled_report("mx1", _state(JournalStatus.ROLLED_BACK, "m1"))
    assert (report.state, report.rollback) == (HostState.ROLLED_BACK, None)
    assert "`migrator rollback mx1 --plan m1` undoes it" in report.detail


def test_the_fleet_table_tallies_states_and_says_what_each_rollback_undoes() -> None:
    finalized = journaled_report("mx1", _state(JournalStatus.APPLIED, "m1"), _now(AFTER))
    migrated = journaled_report("mx2", _state(JournalStatus.APPLIED), _now(AFTER))
    rows = [
        ("mx1", finalized, ""),
        ("mx2", migrated, ""),
        ("mx3", migrated, ""),
        ("mx4", StatusReport("mx4", HostState.CLEAN), ""),
        ("mx5", None, "unreachable"),
    ]
    assert tally(rows) == "2 migrated, 1 finalized, 1 clean, 1 error"
    console = Console(record=True, force_terminal=True, width=300)
    render(rows, console)
    text = console.export_text()
    assert "next rollback undoes" in text
    assert "the finalize f1: pipe service back, still migrated (m1)" in text
    assert "the migration m1: back to the LDA" in text
    assert "2 migrated, 1 finalized, 1 clean, 1 error" in text


def test_off_a_terminal_each_host_is_one_line_however_narrow() -> None:
    finalized = journaled_report("mx1", _state(JournalStatus.APPLIED, "m1"), _now(AFTER))
    console = Console(record=True, force_terminal=False, width=40)
    render([("mx1", finalized, ""), ("mx2", None, "unreachable")], console)
    assert console.export_text().splitlines() == [finalized.line(), "mx2: error: unreachable"]
