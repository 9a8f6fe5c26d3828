"""Postfix 3's { } argument grouping in master.cf, read as Postfix reads it."""

from __future__ import annotations

from migrator.config.postfix import brace_groups
from migrator.rules.hooks import Destination, parse_lda_argv


def test_a_group_is_one_argument_without_its_braces() -> None:
    words = ["-f", "{", "${sender}", "}", "-d", "{${recipient}}", "-m", "{", "Junk", "Mail", "}"]
    assert brace_groups(words) == ["-f", "${sender}", "-d", "${recipient}", "-m", "Junk Mail"]


def test_macros_and_postfix_3_conditionals_inside_stay_balanced() -> None:
    assert brace_groups(["{", "${a?{b}:{c}}", "x", "}", "y"]) == ["${a?{b}:{c}} x", "y"]
    debian13 = "syslog_name=${multi_instance_name?{$multi_instance_name}:{postfix}}/$service_name"
    assert brace_groups([debian13]) == [debian13]


def test_an_unclosed_brace_stays_as_written() -> None:
    assert brace_groups(["-d", "{", "${recipient}"]) == ["-d", "{", "${recipient}"]


def test_the_lda_sees_the_full_address_through_a_group() -> None:
    """The misreading this prevents: "{" taken for -d's user (a local part, %Ln planned)."""
    argv = brace_groups(["/usr/lib/dovecot/dovecot-lda", "-d", "{", "${recipient}", "}"])
    assert parse_lda_argv(argv).destination_kind is Destination.FULL_ADDRESS
