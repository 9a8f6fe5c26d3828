"""Text from a host reaching the reviewer's terminal: ESC sequences (clear the screen, move
up and erase: hide a line of a diff), carriage returns, newlines in a one-line error,
bidirectional overrides and bytes that are not UTF-8. Each is printed as its escape, in the
diff `plan` and `show` print and in the one-line error; nothing raw reaches the terminal."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.cli.terminal_text import printable

FIXTURE = Path(__file__).parents[2] / "fixtures" / "hosts" / "virtual-lda"
# What no output line of migrator may hold: the escapes' raw forms (TAB is fine).
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HOSTILE = {
    "clear screen": (b"\x1b[2J\x1b[H", r"\x1b[2J\x1b[H"),
    "up and erase a line": (b"\x1b[1A\x1b[2K", r"\x1b[1A\x1b[2K"),
    "title (OSC) and bell": (b"\x1b]0;pwned\x07", r"\x1b]0;pwned\x07"),
    # The diff (as Python's splitlines) ends a line at a CR or FF too: the next one is a
    # context line of its own, its " " shown after the escape.
    "carriage return": (b"shown\rhidden", r"shown\r hidden"),
    "form feed": (b"a\x0cb", r"a\x0c b"),
    "C1 CSI": ("a\u009b2Jb".encode(), r"a\x9b2Jb"),
    "right-to-left override": ("a\u202eb".encode(), r"a\u202eb"),
    "not UTF-8": (b"caf\xe9 \xff", r"caf\xe9 \xff"),
}


def _host(tmp_path: Path) -> Path:
    root = tmp_path / "mx1"
    shutil.copytree(FIXTURE, root, symlinks=True)
    return root


@pytest.mark.parametrize(("raw", "shown"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_diff_line_shows_its_control_characters_as_escapes(
    tmp_path: Path, raw: bytes, shown: str
) -> None:
    root = _host(tmp_path)
    main_cf = root / "etc/postfix/main.cf"
    main_cf.write_bytes(main_cf.read_bytes() + b"# note " + raw + b" end\n")
    plans = tmp_path / "plans"
    planned = CliRunner().invoke(main, ["plan", "--root", str(root), "--plans-dir", str(plans)])
    assert planned.exit_code == 0, planned.output
    shown_plan = CliRunner().invoke(main, ["show", str(next(plans.glob("mx1/*.json")))])
    assert shown_plan.exit_code == 0, shown_plan.output
    for output in (planned.output, shown_plan.output):
        assert f" # note {shown} end\n" in output
        assert not RAW.search(output), output


# What the Dovecot lens reads in an !include's name (no CR, UTF-8) and no glob's "[".
IN_A_NAME = {
    "save and restore the cursor": (b"\x1b7\x1b8", r"\x1b7\x1b8"),
    "title (OSC) and bell": (b"\x1b]0;pwned\x07", r"\x1b]0;pwned\x07"),
    "C1 CSI": ("a\u009b2Jb".encode(), r"a\x9b2Jb"),
    "right-to-left override": ("a\u202eb".encode(), r"a\u202eb"),
    "backspaces": (b"a\x08\x08b", r"a\x08\x08b"),
}


@pytest.mark.parametrize(("raw", "shown"), IN_A_NAME.values(), ids=IN_A_NAME.keys())
def test_an_error_naming_hostile_text_stays_one_printable_line(
    tmp_path: Path, raw: bytes, shown: str
) -> None:
    root = _host(tmp_path)
    local = root / "etc/dovecot/local.conf"
    local.write_bytes(local.read_bytes() + b"!include odd" + raw + b".conf\n")
    result = CliRunner().invoke(main, ["plan", "--root", str(root), "--no-save"])
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"migrator: error: mx1: /etc/dovecot/local.conf: "
        f"!include /etc/dovecot/odd{shown}.conf: file not found\n"
    )


def test_a_newline_in_an_error_is_shown_not_a_second_line() -> None:
    assert printable("one\ntwo\r\n") == r"one\ntwo\r\n"
    assert printable("tab\tstays, é and ü stay") == "tab\tstays, é and ü stay"


@pytest.mark.parametrize("terminal", [True, False], ids=["table", "lines"])
def test_status_shows_a_tampered_journals_text_as_text(terminal: bool) -> None:
    """The step, plan id and detail come from the host: rich markup in them raised a
    MarkupError on a terminal ("[/]"), or restyled the table; controls reached it raw."""
    from io import StringIO

    from rich.console import Console

    from migrator.cli.status import render
    from migrator.executor.status import HostState, StatusReport

    hostile = "[/][bold]x[/bold] \x1b[2J"
    report = StatusReport("mx1", HostState.INTERRUPTED, hostile, f"write {hostile}", hostile)
    out = StringIO()
    console = Console(file=out, force_terminal=terminal, color_system=None, width=300)
    render([("mx1", report, ""), ("mx2", None, f"lock node {hostile}")], console)
    shown = out.getvalue()
    assert r"[/][bold]x[/bold] \x1b[2J" in shown
    assert "\x1b[2J" not in shown
