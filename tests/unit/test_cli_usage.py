"""Usage errors exit 64 (sysexits' EX_USAGE), never 2, the code of "plan has changes"."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.exit_status import ExitStatus

BAD_RECIPIENT = "alice@example.test\r\nRCPT TO:<bob@example.test>"


@pytest.mark.parametrize(
    "args",
    [
        ["--no-such-option"],
        ["no-such-command"],
        ["plan", "--no-such-option"],
        ["plan", "mx1", "--lmtp"],  # an option without its value
        ["plan", "mx1", "--forks", "0", "-i", "a,b,"],  # out of range (click.IntRange)
        ["status"],  # missing argument
        ["apply", "mx1", "--test-recipient", BAD_RECIPIENT],
        ["plan", "mx1", "--test-recipient", "alice@example.test\n"],
        ["plan", "mx1", "--test-recipient", "<alice@example.test>"],
    ],
)
def test_usage_errors_exit_64(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == ExitStatus.USAGE == 64, result.output
    assert "Traceback" not in result.output


def test_a_bad_test_recipient_is_named_on_one_line() -> None:
    result = CliRunner().invoke(main, ["apply", "mx1", "--test-recipient", BAD_RECIPIENT])
    last = result.output.strip().splitlines()[-1]
    assert "--test-recipient" in last and "control character" in last
    assert "\\r\\n" in last  # shown escaped, never as a line break


def test_help_and_version_still_exit_0() -> None:
    assert CliRunner().invoke(main, ["--help"]).exit_code == 0
    assert CliRunner().invoke(main, ["plan", "--help"]).exit_code == 0
    assert CliRunner().invoke(main, ["--version"]).exit_code == 0


def test_migrator_errors_still_exit_1() -> None:
    result = CliRunner().invoke(main, ["apply", "-i", "mx1,", "mx2"])
    assert result.exit_code == ExitStatus.ERROR, result.output
