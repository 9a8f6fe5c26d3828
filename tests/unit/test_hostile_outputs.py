"""Output options that would block or do nothing: a FIFO no process reads given as --log or
--report-json (one line naming it, never a hang; a FIFO that is read still works, as
``--log >(jq .)``), and fleet options given for one HOST, where they were silently dropped
(one line naming the option; apply still writes its one host's --report-json)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from tests.unit.no_hang import no_hang

__all__ = ["no_hang"]
pytestmark = pytest.mark.usefixtures("no_hang")
FIXTURE = Path(__file__).parents[2] / "fixtures" / "hosts" / "virtual-lda"


def _plan(tmp_path: Path, *args: str) -> tuple[int, str]:
    root = tmp_path / "mx1"
    if not root.exists():
        shutil.copytree(FIXTURE, root)
    argv = ["plan", "--root", str(root), "--no-save", *args]
    result = CliRunner().invoke(main, argv)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--log", "migrator: error: {fifo}: cannot write the run log: a FIFO no process reads"),
        ("--report-json", "migrator: error: cannot write report {fifo}: a FIFO no process reads"),
    ],
)
def test_a_fifo_no_process_reads_is_one_line_not_a_hang(
    tmp_path: Path, option: str, message: str
) -> None:
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    fleet = ["-i", "mx1.invalid,", "--plans-dir", str(tmp_path)]  # a report is a fleet's
    argv = ["plan", option, str(fifo), *(fleet if option == "--report-json" else [])]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == message.format(fifo=fifo)


def test_a_fifo_that_is_read_gets_the_run_log(tmp_path: Path) -> None:
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()))
    reader.start()
    try:
        code, output = _plan(tmp_path, "--log", str(fifo))
    finally:
        reader.join(10)
    assert code == 0, output
    events = [json.loads(line)["event"] for line in read[0].decode().splitlines()]
    assert events[0] == "run" and events[-1] == "end"


def test_a_report_replaces_what_the_file_held(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("x" * 100_000)
    argv = ["plan", "-i", "mx1.invalid,", "--report-json", str(report), "--plans-dir", "p"]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 1, result.output
    assert json.loads(report.read_text())["hosts"][0]["host"] == "mx1.invalid"


FLEET_ONLY = [
    ("plan", ["--report-json", "r.json"], "--report-json"),
    ("plan", ["--report-junit", "r.xml"], "--report-junit"),
    ("plan", ["--limit", "web*"], "--limit"),
    ("plan", ["-f", "3"], "--forks"),
    ("apply", ["mx1", "--report-junit", "r.xml"], "--report-junit"),
    ("apply", ["mx1", "--canary", "1"], "--canary"),
    ("apply", ["mx1", "--wave", "2", "--yes"], "--wave"),
    ("apply", ["mx1", "--saved-plans"], "--saved-plans"),
    ("rollback", ["mx1", "--max-fail", "1"], "--max-fail"),
    ("finalize", ["mx1", "--report-json", "r.json"], "--report-json"),
]


@pytest.mark.parametrize(("command", "args", "flag"), FLEET_ONLY)
def test_a_fleet_option_for_one_host_is_refused_naming_it(
    tmp_path: Path, command: str, args: list[str], flag: str
) -> None:
    argv = [command, *args, *(["--root", str(FIXTURE), "--no-save"] if command == "plan" else [])]
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert (
        result.output == f"migrator: error: {flag} goes with -i INVENTORY: one HOST has no fleet\n"
    )


def test_defaults_of_fleet_options_from_the_environment_do_not_refuse_one_host(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        main, ["plan", "--root", str(FIXTURE), "--no-save"], env={"MIGRATOR_FORKS": "3"}
    )
    assert result.exit_code == 0, result.output
