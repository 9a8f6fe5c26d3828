"""The fact ``protocols_default`` (Dovecot's built-in ``protocols``) on each lab release.

2.4.1 answers the former ``doveconf -d -h protocols`` with "Multiple settings matched" (exit
89) in some runs and nothing in others, which left the fact empty whatever it was; the fact
now comes from ``doveconf -d protocols``, and is unknown (with the reason) when that fails."""

from __future__ import annotations

import pytest

from migrator.host.facts import parse_protocols_default, read_live_facts
from migrator.transport import connect

from .conftest import RELEASES, LabFactory
from .faults import sh

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("release", RELEASES)
def test_protocols_default_is_known_on_every_release(make_lab: LabFactory, release: str) -> None:
    lab = make_lab("virtual-lda", release=release, prefix="pd")
    host = lab.hosts[0]
    transport = connect(host.name, ssh_config=lab.ssh_config)
    try:
        facts = read_live_facts(transport, "alice@example.test")
    finally:
        transport.close()
    # The whole default dump, read apart from the fact script: its protocols entry.
    entry = sh(lab, host, "doveconf -d | grep '^protocols '").splitlines()
    print(f"\n{release} {host.versions.dovecot}: protocols_default={facts.protocols_default!r}")
    assert facts.protocols_default is not None, facts.unknown
    assert not [u for u in facts.unknown if "protocols" in u], facts.unknown
    assert (facts.protocols_default, "") == parse_protocols_default([*entry, "rc=0"])
    assert facts.protocols_default == ""  # Debian builds Dovecot with no built-in protocols
