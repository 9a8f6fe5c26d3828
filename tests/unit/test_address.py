"""Host, user and recipient names: the tables of what is taken and what is refused."""

from __future__ import annotations

import pytest

from migrator.address import check_hostname, check_recipient, check_user, shell_safe
from migrator.errors import UsageError

GOOD_HOSTS = [
    "mx1",
    "mx1.example.test",
    "mail_relay.example.test",  # underscores: OpenSSH takes them
    "192.0.2.7",
    "::1",
    "[::1]",
    "fe80::1%eth0",  # a scoped IPv6 address: '%' is not special to OpenSSH here
    "MX1.Example.TEST",
    "mx1.",
]
BAD_HOSTS = [
    ("", "empty"),
    ("-oProxyCommand=touch", "starts with '-'"),
    ("mx 1", "invalid characters"),
    ("mx1\t", "invalid characters"),
    ("mx1'", "invalid characters"),
    ('mx1"', "invalid characters"),
    ("mx1$(touch /tmp/x)", "invalid characters"),
    ("mx1${IFS}", "invalid characters"),
    ("mx1`id`", "invalid characters"),
    ("mx1\nRCPT", "invalid characters"),
    ("mx1\x00", "invalid characters"),
    ("mx1;id", "invalid characters"),
    ("mx1|id", "invalid characters"),
    ("mx1&", "invalid characters"),
    ("mx1<x", "invalid characters"),
    ("mx1\\", "invalid characters"),
    ("mx1\x7f", "invalid characters"),
]


@pytest.mark.parametrize("name", GOOD_HOSTS)
def test_host_names_openssh_takes_are_taken(name: str) -> None:
    assert check_hostname(name) == name


@pytest.mark.parametrize(("name", "why"), BAD_HOSTS)
def test_host_names_openssh_refuses_are_refused(name: str, why: str) -> None:
    with pytest.raises(UsageError, match=why) as caught:
        check_hostname(name, where="hosts.ini:3")
    message = str(caught.value)
    assert message.startswith("hosts.ini:3: host name ")
    assert "\n" not in message and "\x00" not in message  # one line, printable


@pytest.mark.parametrize("user", ["root", "deploy", "mail-admin", "svc_migrator", "u$er", "a.b"])
def test_user_names_openssh_takes_are_taken(user: str) -> None:
    assert check_user(user) == user


@pytest.mark.parametrize(
    "user",
    ["", "-l", "a b", "a'b", "a`id`", "a;b", "a$(id)", "a\nb", "a\x00", "a\\", "a|b", "a%0a\r"],
)
def test_user_names_openssh_refuses_are_refused(user: str) -> None:
    with pytest.raises(UsageError, match="user name") as caught:
        check_user(user, host="mx1")
    assert str(caught.value).startswith("mx1: user name ")


GOOD_RECIPIENTS = [
    "alice@example.test",
    "alice.smith+tag@mail.example.test",
    "postmaster@localhost",
    "o'brien@example.test",  # RFC 5321 atext includes the apostrophe
    "x@[192.0.2.1]",
    "x@[IPv6:2001:db8::1]",
    "a" * 64 + "@example.test",
]
BAD_RECIPIENTS = [
    ("alice@example.test\n", "newline .*nothing is stripped"),
    ("alice@example.test\r\nRCPT TO:<bob@example.test>", "control character"),
    ("alice@example.test\x00", "control character"),
    ("al\tice@example.test", "control character"),
    ("<alice@example.test>", "without <>"),
    ("alice@example.test>", "without <>"),
    ("alice", "not local@domain"),
    ("@example.test", "not local@domain"),
    ("alice@", "not local@domain"),
    ('"al ice"@example.test', "quoted local part"),
    ("al ice@example.test", "dot-string"),
    ("alice..x@example.test", "dot-string"),
    (".alice@example.test", "dot-string"),
    ("a" * 65 + "@example.test", "dot-string of at most 64"),
    ("alice@exa mple.test", "not a host name"),
    ("alice@-example.test", "not a host name"),
    ("alice@example..test", "not a host name"),
    ("alice@[not-an-ip]", "not an IP address"),
    ("a@" + "b" * 260, "longer than RFC 5321"),
]


@pytest.mark.parametrize("address", GOOD_RECIPIENTS)
def test_recipients_in_rfc5321_form_are_taken(address: str) -> None:
    assert check_recipient(address) == address


@pytest.mark.parametrize(("address", "why"), BAD_RECIPIENTS)
def test_bad_recipients_are_refused_on_one_line(address: str, why: str) -> None:
    with pytest.raises(UsageError, match=why) as caught:
        check_recipient(address, host="mx1", where="inventory.yml:4")
    message = str(caught.value)
    assert message.startswith("mx1: inventory.yml:4: test recipient ")
    assert "\n" not in message and "\r" not in message


@pytest.mark.parametrize(
    ("value", "safe"),
    [("mx1.example.test", True), ("fe80::1%eth0", True), ("[::1]", False), ("a b", False)],
)
def test_shell_safe_means_nothing_special_to_sh(value: str, safe: bool) -> None:
    assert shell_safe(value) is safe
