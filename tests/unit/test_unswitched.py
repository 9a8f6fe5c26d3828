"""Mail routed to an LDA pipe service where the switch cannot change it is refused: main.cf's
default_transport/relay_transport, and -o overrides on the daemons that route by them."""

from __future__ import annotations

import pytest

from migrator.config.dovecot import DovecotConfig
from migrator.config.postfix import MasterEntry
from migrator.errors import RefusedError
from migrator.host.config import HostConfig
from migrator.rules.unswitched import overrides, refuse_unswitched

MAIN, MASTER = "/etc/postfix/main.cf", "/etc/postfix/master.cf"


def _service(name: str, program: str, options: str, line: int) -> MasterEntry:
    return MasterEntry(name, "unix", "-", "y", f"{program} {options}", program, (), (), line)


def _config(main: dict[str, str], master: tuple[MasterEntry, ...] = ()) -> HostConfig:
    lines = {name: number for number, name in enumerate(main, 40)}
    dovecot = DovecotConfig("/etc/dovecot/dovecot.conf", (), (), ())
    return HostConfig(MAIN, main, lines, MASTER, master, (), dovecot)


def test_overrides_in_both_spellings() -> None:
    entry = _service("r", "trivial-rewrite", "-o a=1 -o { b = two words } -o c= -x", 1)
    assert list(overrides(entry)) == [("a", "1"), ("b", "two words"), ("c", "")]


@pytest.mark.parametrize(
    "main",
    [{"default_transport": "dovecot"}, {"relay_transport": "$lda", "lda": "dovecot:"}],
)
def test_main_cf_routing_parameters_naming_the_lda_are_refused(main: dict[str, str]) -> None:
    name = next(iter(main))
    with pytest.raises(RefusedError, match=f"{name} = .* sends mail to the LDA service dovecot"):
        refuse_unswitched("h", _config(main), {"dovecot"})


def test_an_override_on_a_daemon_that_routes_by_it_is_refused_with_its_line() -> None:
    rewrite = _service("rewrite", "trivial-rewrite", "-o virtual_transport=$lda", 58)
    config = _config({"virtual_transport": "dovecot", "lda": "dovecot"}, (rewrite,))
    with pytest.raises(RefusedError, match="service rewrite overrides virtual_transport") as err:
        refuse_unswitched("h", config, {"dovecot"})
    assert (err.value.path, err.value.line) == (MASTER, 58)
    local = _service("local", "local", "-o mailbox_transport=dovecot", 60)
    with pytest.raises(RefusedError, match="service local overrides mailbox_transport"):
        refuse_unswitched("h", _config({}, (local,)), {"dovecot"})


def test_what_postfix_ignores_or_routes_elsewhere_is_fine() -> None:
    """smtpd does not route by virtual_transport (an override there changes nothing);
    default_transport = smtp and overrides naming other services stop nothing."""
    master = (
        _service("2525", "smtpd", "-o virtual_transport=dovecot", 70),
        _service("rewrite", "trivial-rewrite", "-o virtual_transport=virtual", 58),
    )
    refuse_unswitched("h", _config({"default_transport": "smtp"}, master), {"dovecot"})
