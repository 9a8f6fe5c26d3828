"""The LDA pipe service's own queue-manager limits carried to Postfix's LMTP client."""

from __future__ import annotations

import pytest

from migrator.config.dovecot import DovecotConfig
from migrator.config.postfix import MasterEntry
from migrator.errors import RefusedError
from migrator.host.config import HostConfig
from migrator.rules.hooks import lda_services
from migrator.rules.transport_limits import carried_limits

MAIN = "/etc/postfix/main.cf"
ARGV = ("/usr/lib/dovecot/deliver", "-d", "${recipient}")


def _pipe(name: str) -> MasterEntry:
    return MasterEntry(name, "unix", "n", "n", "pipe", "pipe", (("flags", "DRhu"),), ARGV, 1)


def _run(
    main: dict[str, str], names: tuple[str, ...] = ("dovecot",)
) -> tuple[list[str], list[str]]:
    lines = {name: number for number, name in enumerate(main, 40)}
    dovecot = DovecotConfig("/etc/dovecot/dovecot.conf", (), (), ())
    config = HostConfig(MAIN, main, lines, "/etc/postfix/master.cf", (), (), dovecot)
    services = lda_services([_pipe(name) for name in names])
    edits, warnings = carried_limits("h", config, services, "lmtp")
    return [f"{e.name} = {e.value}" for e in edits], warnings


def test_the_services_limits_become_the_lmtp_clients() -> None:
    edits, warnings = _run(
        {
            "dovecot_destination_concurrency_limit": "1",
            "dovecot_destination_rate_delay": "1s",
            "dovecot_destination_recipient_limit": "1",  # equivalence's, not carried here
            "smtp_destination_concurrency_limit": "5",  # another transport's
            "dovecot_time_limit": "600s",
        }
    )
    assert edits == ["lmtp_destination_concurrency_limit = 1", "lmtp_destination_rate_delay = 1s"]
    assert warnings == [
        "dovecot_time_limit = 600s limited the pipe(8) LDA only; Postfix's LMTP client has no "
        "such limit (left as is, it now limits nothing)"
    ]


def test_an_equal_lmtp_limit_is_left_and_a_different_one_is_said() -> None:
    assert _run({"dovecot_destination_concurrency_limit": "2",
                 "lmtp_destination_concurrency_limit": "2"}) == ([], [])  # fmt: skip
    edits, _ = _run({"dovecot_destination_concurrency_limit": "2",
                     "lmtp_destination_concurrency_limit": "10"})  # fmt: skip
    assert edits == ["lmtp_destination_concurrency_limit = 2"]


def test_two_services_that_disagree_are_refused() -> None:
    main = {"dovecot_destination_concurrency_limit": "1", "lda2_destination_concurrency_limit": "4"}
    with pytest.raises(RefusedError, match="the LDA services disagree") as refused:
        _run(main, ("dovecot", "lda2"))
    assert (refused.value.path, refused.value.line) == (MAIN, 41)
