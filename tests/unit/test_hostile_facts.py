"""The fact script's output, forged from inside: a file name under /etc/dovecot or a userdb
field may hold a newline and a section marker. Such output is refused whole (one line, the
host named), never read as a fact (the LMTP binary, the files to read, the userdb answer)."""

from __future__ import annotations

import pytest

from migrator.check.gather import CONFIG_SCRIPT as CHECK_SCRIPT
from migrator.errors import FactError
from migrator.executor.scope import CONFIG_DIRS_SCRIPT
from migrator.host.facts import SCRIPT, SECTIONS, parse_script_output
from migrator.host.fifos import FIFO_GUARD, fifo_error
from tests.unit.test_facts import CAPTURED

FILES = "==migrator:dovecot_files==\n"
USERDB = "==migrator:userdb==\n"


@pytest.mark.parametrize(
    ("anchor", "planted"),
    [
        (FILES, "/etc/dovecot/conf.d/x\n==migrator:lmtp_binary==\n"),  # a repeated section
        (FILES, "/etc/dovecot/conf.d/x\n==migrator:userdb==\nuid\t0\nrc=0\n"),  # a later one
        (FILES, "/etc/dovecot/conf.d/x\n==migrator:end==\n"),  # the end, early
        (FILES, "/etc/dovecot/conf.d/x\n==migrator:shadow==\n"),  # one no script prints
        (USERDB, "home\t/home/a\n==migrator:lmtp_binary==\n/bin/sh\n"),  # from a userdb field
    ],
)
def test_a_forged_section_marker_is_refused(anchor: str, planted: str) -> None:
    assert CAPTURED.count(anchor) == 1
    forged = CAPTURED.replace(anchor, anchor + planted)
    with pytest.raises(FactError, match="forged marker line '==migrator:") as caught:
        parse_script_output("mx1", forged, "alice@example.test")
    assert str(caught.value).startswith("mx1: fact script output has a forged marker line")


def test_every_section_the_script_prints_is_known() -> None:
    printed = {
        line[len("==migrator:") : -2]
        for line in CAPTURED.splitlines()
        if line.startswith("==migrator:")
    }
    assert printed <= SECTIONS and {"end", "userdb", "dovecot_files"} <= printed
    assert parse_script_output("mx1", CAPTURED, "alice@example.test").userdb is not None


def test_a_fifo_the_script_found_is_refused_naming_it() -> None:
    """The script looks for FIFOs before postconf or doveconf runs (either would block on
    one until the fact timeout, and stay blocked on the host): the first is named."""
    found = "==migrator:fifos==\n/etc/postfix/main.cf\n/etc/dovecot/x.conf\n==migrator:end==\n"
    with pytest.raises(FactError) as caught:
        parse_script_output("mx1", found, None)
    assert str(caught.value) == (
        "mx1: /etc/postfix/main.cf: a FIFO where a config file is read: postconf and doveconf "
        "would wait on it forever; nothing was read"
    )


@pytest.mark.parametrize(
    "script", [SCRIPT, CONFIG_DIRS_SCRIPT, CHECK_SCRIPT], ids=["facts", "config dirs", "check"]
)
def test_every_script_running_postconf_or_doveconf_looks_for_fifos_first(script: str) -> None:
    assert script.startswith(FIFO_GUARD)
    guarded = "==migrator:fifos==\n/etc/dovecot/conf.d/20-lmtp.conf\n==migrator:end==\n"
    found = fifo_error("mx1", guarded)
    assert found is not None and found.path == "/etc/dovecot/conf.d/20-lmtp.conf"
    assert fifo_error("mx1", CAPTURED) is None
