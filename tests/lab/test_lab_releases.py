"""Lab hosts of other Debian releases: each runs from its release's own root (Dovecot 2.3 or
2.4, Postfix 3.5 to 3.10), in the profile syntax that release needs, and delivers mail."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.lab import lifecycle, mail, roots, sandbox
from migrator.lab.state import Lab

from .conftest import LabFactory
from .leftovers import lab_leftovers

pytestmark = pytest.mark.lab

# release -> (Debian major, Dovecot, Postfix, OpenSSH) version prefixes
_RELEASES = {
    "bullseye": ("11", "2.3.13", "3.5.", "8.4p1"),
    "bookworm": ("12", "2.3.19", "3.7.", "9.2p1"),
    "trixie": ("13", "2.4.", "3.10.", "10.0p1"),
}
# bookworm, the default, runs every profile in the other lab tests.
_OTHERS = ("bullseye", "trixie")


def _in_host(lab: Lab, script: str) -> str:
    done = lifecycle.run_in_host(lab.hosts[0], lab, ["sh", "-c", script], capture=True)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def _ls_row(lab: Lab) -> dict[str, object]:
    result = CliRunner().invoke(main, ["lab", "ls", "--json"])
    assert result.exit_code == 0, result.output
    [row] = [r for r in json.loads(result.output) if r["lab"] == lab.name]
    return dict(row)


@pytest.mark.parametrize("release", sorted(_RELEASES))
def test_a_release_host_delivers_over_the_lda_with_its_own_daemons(
    make_lab: LabFactory, release: str
) -> None:
    debian, dovecot, postfix, openssh = _RELEASES[release]
    lab = make_lab("virtual-lda", release=release)
    host = lab.hosts[0]
    row = _ls_row(lab)
    assert row["release"] == release
    versions = row["versions"]
    assert isinstance(versions, dict)
    assert versions["dovecot"].startswith(dovecot), versions
    assert versions["postfix"].startswith(postfix), versions
    assert versions["openssh"] == openssh, versions
    # The daemons running are the root's, not this machine's.
    out = _in_host(lab, "cat /etc/debian_version; dovecot --version; postconf -h mail_version")
    assert out.split()[0].startswith(debian)
    assert out.split()[1].startswith(versions["dovecot"])
    assert out.split()[-1] == versions["postfix"]
    # Every queue directory is there, so Postfix's tools work (without hold/ and trace/,
    # postqueue failed "malformed showq server response" and postsuper could not hold).
    queue = _in_host(lab, "postqueue -j; echo rc=$?; postqueue -p; cd /var/spool/postfix && ls")
    assert "rc=0" in queue and "Mail queue is empty" in queue, queue
    assert {"hold", "trace", "maildrop", "deferred"} <= set(queue.split()), queue

    result = CliRunner().invoke(
        main, ["lab", "send", host.name, "--to", "team@example.test", "--list-id", "<n.example>"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2, result.output
    assert all(line.endswith("(for team@example.test): sent via dovecot") for line in lines)
    assert sorted(line.split()[3] for line in lines) == ["alice@example.test", "bob@example.test"]
    # Sieve ran under the LDA: list mail is in each user's Lists folder.
    filed = _in_host(lab, "find /var/vmail/example.test -path '*/Maildir/.Lists/new/*' | wc -l")
    assert filed.split() == ["2"]


@pytest.mark.parametrize("release", _OTHERS)
@pytest.mark.parametrize(("profile", "relay"), [("lmtp", "dovecot-lmtp"), ("system-lda", "local")])
def test_every_profile_delivers_on_a_release(
    make_lab: LabFactory, release: str, profile: str, relay: str
) -> None:
    lab = make_lab(profile, release=release)
    host = lab.hosts[0]
    sent = mail.send(host, ["alice@example.test"], list_id="<l.example.test>")
    [delivery] = mail.wait_delivered(lab, host, sent)
    assert delivery.status == "sent", delivery
    assert relay in delivery.relay
    maildir = (
        "/home/alice/Maildir"
        if profile == "system-lda"
        else "/var/vmail/example.test/alice/Maildir"
    )
    found = _in_host(lab, f"grep -rl '{sent.message_id}' {maildir}/.Lists/new")
    assert found.strip(), "Sieve did not file the list message"


def test_a_trixie_lab_leaves_nothing_and_the_root_stays_clean(make_lab: LabFactory) -> None:
    lab = make_lab("lmtp", hosts=2, release="trixie")
    root = roots.load_root("trixie")
    assert root is not None
    pids = {pid for host in lab.hosts for pid in sandbox.host_pids(lab, host.name)}
    assert len(pids) >= 2 * 3
    _in_host(lab, "echo changed >> /etc/postfix/main.cf; touch /usr/local/lab-was-here")
    assert sandbox.host_file(lab, lab.hosts[0], "/usr/local/lab-was-here").exists()
    assert not (root.fs / "usr/local/lab-was-here").exists()
    assert "changed" not in (root.fs / "etc/postfix/main.cf").read_text()
    assert lifecycle.tear_down(lab.name)
    assert lab_leftovers(lab.name, pids) == []
