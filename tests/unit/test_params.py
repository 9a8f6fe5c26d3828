"""main.cf ``$name`` expansion, checked against the real ``postconf -x`` where it is here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from migrator.config.params import MainParams, refers_to
from migrator.config.postfix import MasterEntry
from migrator.errors import RefusedError

BASE = {"a": "dove", "lda": "dovecot", "chain": "$lda", "empty": ""}
CASES = [
    ("$lda", "dovecot"),
    ("${lda}", "dovecot"),
    ("$(lda)", "dovecot"),
    ("$chain", "dovecot"),
    ("${a}cot", "dovecot"),
    ("$a${empty}cot", "dovecot"),
    ("${a?dovecot}", "dovecot"),
    ("${empty?smtp}dovecot", "dovecot"),
    ("${empty:dovecot}", "dovecot"),
    ("${a:smtp}dovecot", "dovecot"),
    ("${a?${lda}}", "dovecot"),
    ("$lda:[mx.example.test]", "dovecot:[mx.example.test]"),
    ("$default_transport", "smtp"),
    ("$relay_transport", "relay"),
    ("$undefined_here", ""),
    ("dovecot", "dovecot"),
    ("$$lda", "$lda"),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_expansion(value: str, expected: str) -> None:
    main = MainParams({**BASE, "virtual_transport": value})
    assert main.expand("virtual_transport") == expected


@pytest.mark.skipif(shutil.which("postconf") is None, reason="no postconf")
@pytest.mark.parametrize(("value", "expected"), [c for c in CASES if "$$" not in c[0]])
def test_expansion_is_what_postconf_says(value: str, expected: str, tmp_path: Path) -> None:
    lines = [f"{k} = {v}" for k, v in {**BASE, "virtual_transport": value}.items()]
    # The helpers must be used by some Postfix parameter, or postconf will not expand them.
    lines += ["smtpd_banner = $a $lda $chain $empty"]
    (tmp_path / "main.cf").write_text("\n".join(lines) + "\n")
    (tmp_path / "master.cf").write_text("")
    argv = ["postconf", "-c", str(tmp_path), "-x", "-h", "virtual_transport"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == expected


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"virtual_transport": "$a", "a": "$b", "b": "$a"}, "refers to itself through"),
        ({"virtual_transport": "$virtual_transport"}, "refers to itself"),
        ({"virtual_transport": "${a?{x}:{y}}", "a": "1"}, "a $-form migrator does not read"),
        ({"virtual_transport": "${a == b?x}", "a": "1"}, "a $-form migrator does not read"),
        ({"virtual_transport": "${a"}, "a $-form migrator does not read"),
    ],
)
def test_unknowable_values_are_refused_naming_the_line(values: dict[str, str], why: str) -> None:
    main = MainParams(values, "/etc/postfix/main.cf", {"virtual_transport": 12}, "mx1")
    with pytest.raises(RefusedError, match=re.escape(why)) as caught:
        main.expand("virtual_transport")
    assert str(caught.value).startswith("mx1: /etc/postfix/main.cf:12: virtual_transport ")


def test_edit_target_is_where_the_value_lives() -> None:
    values = {"virtual_transport": "${my_lda}", "my_lda": "$store", "store": "dovecot"}
    main = MainParams(values)
    assert main.edit_target("virtual_transport", {"virtual_transport"}, ()) == "store"
    assert MainParams({"virtual_transport": "dovecot"}).edit_target("virtual_transport", (), ())
    composite = MainParams({"virtual_transport": "${p}cot", "p": "dove"})
    assert composite.edit_target("virtual_transport", (), ()) == "virtual_transport"


def test_edit_target_refuses_a_parameter_used_elsewhere() -> None:
    lines = {"my_lda": 3, "virtual_transport": 4, "relay_transport": 9}
    values = {"my_lda": "dovecot", "virtual_transport": "$my_lda", "relay_transport": "$my_lda"}
    main = MainParams(values, "main.cf", lines)
    with pytest.raises(
        RefusedError,
        match=r"refers to \$my_lda \(main.cf:3\), and relay_transport \(main.cf:9\) does too",
    ):
        main.edit_target("virtual_transport", {"virtual_transport"}, ())
    # Both switched: one edit serves both.
    both = {"virtual_transport", "relay_transport"}
    assert main.edit_target("virtual_transport", both, ()) == "my_lda"


def test_edit_target_refuses_a_parameter_a_master_override_uses() -> None:
    entry = MasterEntry(
        "relay", "unix", "-", "-", "smtp -o transport=$my_lda", "smtp", (), ("smtp",), line=40
    )
    main = MainParams({"my_lda": "dovecot", "virtual_transport": "$my_lda"}, "main.cf")
    with pytest.raises(RefusedError, match=r"master.cf:40 \(relay\) does too"):
        main.edit_target("virtual_transport", {"virtual_transport"}, [entry])


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("$my", True),
        ("${my}", True),
        ("$(my)", True),
        ("${my?x}", True),
        ("$my_lda", False),
        ("${my_lda}", False),
        ("my", False),
        ("$$my", True),
    ],
)
def test_refers_to(text: str, found: bool) -> None:
    assert refers_to(text, "my") is found
