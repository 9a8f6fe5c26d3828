"""apply's Postfix validation fails exactly where `postfix check` fails, on every release:
it runs postfix check's fatal checks without its repairs and warnings (a quarter of the CPU),
and also parses master.cf, which postfix check never does."""

from __future__ import annotations

import pytest

from migrator.errors import ValidationError
from migrator.executor.actions import validate_postfix
from migrator.lab import lifecycle
from migrator.lab.state import Lab, LabHost
from migrator.transport import connect

from .conftest import RELEASES, LabFactory
from .faults import sh

pytestmark = pytest.mark.lab

# (file, line appended): broken input of every kind, and some that postfix check lets pass.
CASES = (
    ("main.cf", ""),
    ("main.cf", "this line is not a parameter"),
    ("main.cf", "mail_owner = nosuchuser"),
    ("main.cf", "setgid_group = nosuchgroup"),
    ("main.cf", "inet_protocols = bogus"),
    ("main.cf", "myhostname = -bad..name"),
    ("main.cf", "compatibility_level = abc"),
    ("main.cf", "virtual_transport = ${foo"),
    ("main.cf", "virtual_transport = $nosuchparam"),
    ("main.cf", "lmtp_destination_recipient_limit = abc"),
    ("main.cf", "default_privs = root"),
    ("main.cf", "daemon_directory = /nonexistent"),
    ("main.cf", "command_directory = /nonexistent"),
    ("main.cf", "queue_directory = /nonexistent/q"),
    ("main.cf", "soft_bounce = maybe"),
    ("main.cf", "header_size_limit = abc"),
    ("main.cf", "mydomain ="),
    ("main.cf", "transport_maps = nosuchtype:/etc/postfix/x"),
    ("master.cf", "garbage line here"),
    ("master.cf", "foo unix - n"),
)

# $1 the file, $2 the line: the originals back, then the line appended (files dated back:
# Postfix naps while main.cf is younger than a second or two).
_SET = """cd /etc/postfix && cp -p /root/main.cf.orig main.cf &&
cp -p /root/master.cf.orig master.cf && printf '%s\\n' "$2" >> "$1" &&
touch -d '1 minute ago' main.cf master.cf"""


def _set(lab: Lab, host: LabHost, file: str, line: str) -> None:
    done = lifecycle.run_in_host(host, lab, ["sh", "-c", _SET, "sh", file, line], capture=True)
    assert done.returncode == 0, done.stderr.decode()


def _check(lab: Lab, host: LabHost) -> bool:
    verdict = sh(lab, host, "postfix check >/dev/null 2>&1 && echo pass || echo fail")
    return verdict.strip() == "pass"


@pytest.mark.parametrize("release", RELEASES)
def test_validation_fails_where_postfix_check_fails(make_lab: LabFactory, release: str) -> None:
    lab = make_lab("virtual-lda", release=release, prefix="vp")
    host = lab.hosts[0]
    sh(
        lab,
        host,
        "cd /etc/postfix && cp -p main.cf /root/main.cf.orig && "
        "cp -p master.cf /root/master.cf.orig",
    )
    transport = connect(host.name, ssh_config=lab.ssh_config)
    verdicts = []
    try:
        for file, line in CASES:
            _set(lab, host, file, line)
            try:
                validate_postfix(transport)
                ours = True
            except ValidationError:
                ours = False
            verdicts.append((file, line, _check(lab, host), ours))
        _set(lab, host, "main.cf", "")
        sh(lab, host, "postfix stop")
        with pytest.raises(ValidationError, match="Postfix is not running"):
            validate_postfix(transport)
        sh(lab, host, "postfix start")
        validate_postfix(transport)
    finally:
        transport.close()
    assert [v for v in verdicts if v[2] != v[3]] == []
    assert sum(1 for v in verdicts if not v[2]) >= 14  # the matrix does break things
