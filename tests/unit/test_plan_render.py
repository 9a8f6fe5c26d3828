"""Rendering a plan on a console handed in (a recording one here): summary, then diffs."""

from __future__ import annotations

from rich.console import Console

from migrator.cli.plan_view import render_plan
from tests.unit.hosts import fixture_hosts


def _render(name: str) -> Console:
    host = next(h for h in fixture_hosts() if h.name == name)
    console = Console(record=True, force_terminal=True, color_system="standard", width=120)
    render_plan(host.plan(), console, saved_to="plans/x.json")
    return console


def test_summary_then_coloured_diff() -> None:
    console = _render("virtual-lda")
    text = console.export_text(styles=False, clear=False)
    assert text.index("why: virtual_transport named the LDA pipe service dovecot") < text.index(
        "--- a/etc/postfix/main.cf"
    )
    assert "plan 20260101T120000Z-" in text
    styled = console.export_text(styles=True)
    assert "\x1b[32m+virtual_transport = lmtp:unix:private/dovecot-lmtp" in styled
    assert "\x1b[31m-virtual_transport = dovecot" in styled


def test_no_changes() -> None:
    text = _render("already-lmtp").export_text()
    assert "already-lmtp: no changes" in text
    assert "---" not in text
