"""Mail routed to an LDA pipe service where the switch cannot change it is refused: main.cf's
default_transport/relay_transport, and -o overrides on the daemons that route by them."""

from __future__ import annotations

import dataclasses

import pytest

from migrator.config.dovecot import DovecotConfig
from migrator.config.postfix import MasterEntry
from migrator.errors import RefusedError
from migrator.host.config import HostConfig, Instance
from migrator.rules.unswitched import instance_notes, overrides, refuse_unswitched

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


def test_each_other_postfix_instance_is_named_with_how_it_delivers() -> None:
    lda = MasterEntry(
        "dovecot", "unix", "n", "n", "pipe", "pipe", (), ("/usr/lib/dovecot/deliver",), 3
    )
    instances = (
        Instance("/etc/postfix-in", "/etc/postfix-in/main.cf",
                 {"virtual_transport": "dovecot", "multi_instance_enable": "yes",
                  "multi_instance_name": "postfix-in"}, {"virtual_transport": 7}, (lda,)),
        Instance("/etc/postfix-cmd", "/etc/postfix-cmd/main.cf",
                 {"mailbox_command": "/usr/lib/dovecot/dovecot-lda -a \"$RECIPIENT\""},
                 {"mailbox_command": 2}, ()),
        Instance("/etc/postfix-out", "/etc/postfix-out/main.cf",
                 {"multi_instance_enable": "yes"}, {}, ()),
        Instance("/etc/postfix-gone", None, {}, {}, ()),
    )  # fmt: skip
    config = dataclasses.replace(_config({}), instances=instances)
    notes = instance_notes("h", config)
    assert notes[0].startswith(
        "Postfix instance postfix-in (/etc/postfix-in/main.cf) delivers with Dovecot's LDA too "
        "(virtual_transport = dovecot (line 7)): migrator plans the primary instance only"
    )
    assert notes[1].startswith(
        "Postfix instance /etc/postfix-cmd (not enabled) (/etc/postfix-cmd/main.cf) delivers "
        "with Dovecot's LDA too (mailbox_command = /usr/lib/dovecot/dovecot-lda"
    )
    assert notes[2].startswith("Postfix instance /etc/postfix-out (/etc/postfix-out/main.cf): no")
    assert notes[3] == (
        "Postfix instance /etc/postfix-gone (multi_instance_directories) has no main.cf: not read"
    )
