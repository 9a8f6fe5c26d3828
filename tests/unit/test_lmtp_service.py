"""The lmtp(8) client service the switched hooks name: added when master.cf lacks it."""

from __future__ import annotations

import pytest

from migrator.config.dovecot import DovecotConfig
from migrator.config.postfix import MasterEntry
from migrator.endpoint import Endpoint
from migrator.errors import RefusedError
from migrator.host.config import HostConfig
from migrator.rules.lmtp_service import lmtp_service

ENDPOINT = Endpoint.from_postfix("lmtp:unix:private/dovecot-lmtp", "/var/spool/postfix")


def _config(*entries: MasterEntry) -> HostConfig:
    dovecot = DovecotConfig("/etc/dovecot/dovecot.conf", (), (), ())
    return HostConfig(
        "/etc/postfix/main.cf", {}, {}, "/etc/postfix/master.cf", entries, (), dovecot
    )


def _service(name: str, kind: str, program: str) -> MasterEntry:
    return MasterEntry(name, kind, "-", "y", program, program, (), (), 9)


def test_a_master_cf_without_it_gets_postfixs_own_line() -> None:
    (edit,) = lmtp_service("h", _config(_service("smtp", "unix", "smtp")), ENDPOINT)
    assert (edit.name, edit.type, edit.columns, edit.command) == (
        "lmtp", "unix", ("-", "-", "n", "-", "-"), "lmtp"
    )  # fmt: skip


def test_one_already_there_is_left_and_an_inet_service_of_that_name_is_not_it() -> None:
    assert lmtp_service("h", _config(_service("lmtp", "unix", "lmtp")), ENDPOINT) == []
    assert len(lmtp_service("h", _config(_service("lmtp", "inet", "smtpd")), ENDPOINT)) == 1


def test_a_unix_service_of_that_name_running_something_else_is_refused() -> None:
    with pytest.raises(RefusedError, match="service lmtp \\(unix\\) runs pipe, not lmtp") as err:
        lmtp_service("h", _config(_service("lmtp", "unix", "pipe")), ENDPOINT)
    assert (err.value.path, err.value.line) == ("/etc/postfix/master.cf", 9)
