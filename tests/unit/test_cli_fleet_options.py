"""N|P% amounts of the fleet form are checked when the command line is read: a bad one is a
usage error (exit 64) before any host is planned or reached."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["apply", "--wave", "abc", "--yes"], "--wave"),
        (["apply", "--max-fail", "200%", "--yes"], "--max-fail"),
        (["finalize", "--wave", "-1", "--yes"], "--wave"),
        (["rollback", "--max-fail", "x"], "--max-fail"),
    ],
)
def test_a_bad_amount_is_a_usage_error_before_any_host(
    tmp_path: Path, argv: list[str], option: str
) -> None:
    inventory = tmp_path / "hosts"
    inventory.write_text("mx1.invalid\n")
    result = CliRunner().invoke(main, [*argv, "-i", str(inventory)])
    assert result.exit_code == 64, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert "mx1.invalid" not in result.output
    assert not (tmp_path / "plans").exists()
