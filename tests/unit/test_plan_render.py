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


def test_a_host_without_lda_is_never_said_to_switch_from_it() -> None:
    """Class 3: LMTP to a filter proxy: no changes, a note on what delivers, no "switch"."""
    text = _render("lmtp-filter-proxy").export_text()
    assert "lmtp-filter-proxy: no changes (nothing hands mail to Dovecot's LDA)" in text
    assert "switch delivery from Dovecot LDA" not in text
    assert "note: Postfix already delivers over LMTP (virtual_transport = lmtp:[127.0.0.1]" in text
