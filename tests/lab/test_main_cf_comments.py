"""A main.cf with comment lines inside continued values, as Postfix accepts it (issue 12): a
Debian 13 host is planned, switched to LMTP, delivers, and rolls back byte-identical, and the
comments stay where the admin put them."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from migrator.lab import mail
from migrator.lab.state import Lab, LabHost

from .conftest import LabFactory
from .faults import sh
from .hostfiles import LabCli, file_states

pytestmark = pytest.mark.lab

MAIN = "/etc/postfix/main.cf"
NETWORKS = "mynetworks = 127.0.0.0/8\n# the office\n\n    192.0.2.0/24\n#\n  198.51.100.0/24\n"
TRANSPORT = "virtual_transport =\n# the LDA, until the LMTP switch\n  dovecot\n"


def _postconf(lab: Lab, host: LabHost, name: str) -> str:
    return sh(lab, host, f"postconf -h {name}").strip()


def test_comments_inside_values_are_read_kept_and_rolled_back(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda", release="trixie")
    host = lab.hosts[0]
    stock = sh(lab, host, f"cat {MAIN}")
    assert "mynetworks = 127.0.0.0/8\n" in stock and "virtual_transport = dovecot\n" in stock
    text = stock.replace("mynetworks = 127.0.0.0/8\n", NETWORKS).replace(
        "virtual_transport = dovecot\n", TRANSPORT
    )
    sh(lab, host, f"printf %s {shlex.quote(text)} > {MAIN} && postfix reload")
    assert _postconf(lab, host, "virtual_transport") == "dovecot"
    assert _postconf(lab, host, "mynetworks").split() == [
        "127.0.0.0/8",
        "192.0.2.0/24",
        "198.51.100.0/24",
    ]

    cli = LabCli(lab, tmp_path)
    plan = cli.plan(host)
    [main_cf] = [f for f in plan.files if f.path == MAIN]
    # the edited value is written whole; its comment line follows it; the other value is untouched
    assert main_cf.content_after.count(NETWORKS) == 1
    assert (
        "virtual_transport = lmtp:unix:private/dovecot-lmtp\n# the LDA, until the LMTP switch\n"
    ) in main_cf.content_after
    paths = [f.path for f in plan.files]
    before = file_states(lab, host, paths)

    applied = cli("apply", host.name, "--plan", str(cli.latest_plan(host)), "--rollback-on-fail")
    assert applied.exit_code == 0, applied.output
    assert _postconf(lab, host, "virtual_transport") == "lmtp:unix:private/dovecot-lmtp"
    assert sh(lab, host, f"cat {MAIN}") == main_cf.content_after
    sent = mail.send(host, ["alice@example.test"])
    [delivery] = mail.wait_delivered(lab, host, sent)
    assert (delivery.status, "private/dovecot-lmtp" in delivery.relay) == ("sent", True)

    again = cli("plan", host.name, "--test-recipient", "alice@example.test", "--detailed-exitcode")
    assert again.exit_code == 0, again.output

    rolled = cli("rollback", host.name)
    assert rolled.exit_code == 0, rolled.output
    assert file_states(lab, host, paths) == before
    assert sh(lab, host, f"cat {MAIN}") == text
