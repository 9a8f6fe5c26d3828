"""The OS family a host is, read from what it says, and the refusal that names its package."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from migrator.check import gather
from migrator.errors import FactError
from migrator.host.fact_overrides import overrides_from_mapping
from migrator.host.facts import SCRIPT, parse_script_output
from migrator.host.platform import OsFamily, detect_family, lmtp_missing
from migrator.transport.remote_scripts import PORTABLE_SH

ROCKY = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
UBUNTU = "ID=ubuntu\nID_LIKE=debian\n"
ALPINE = "ID=alpine\n"


@pytest.mark.parametrize(
    ("uname", "release", "family"),
    [
        ("FreeBSD", "", OsFamily.FREEBSD),
        ("Linux", DEBIAN, OsFamily.DEBIAN),
        ("Linux", UBUNTU, OsFamily.DEBIAN),
        ("Linux", ROCKY, OsFamily.RHEL),
        ("Linux", "ID=fedora\n", OsFamily.RHEL),
        ("", "ID=freebsd\n", OsFamily.FREEBSD),
        ("Linux", ALPINE, None),
        ("Linux", "", None),
    ],
)
def test_the_family_from_uname_and_os_release(
    uname: str, release: str, family: OsFamily | None
) -> None:
    assert detect_family(uname, release) is family


def test_the_refusal_names_the_family_package_and_path() -> None:
    assert lmtp_missing(OsFamily.DEBIAN) == (
        "Dovecot's LMTP binary is missing (/usr/lib/dovecot/lmtp): install it first (debian): "
        "`apt install dovecot-lmtpd`"
    )
    assert "(/usr/libexec/dovecot/lmtp)" in lmtp_missing(OsFamily.RHEL)
    assert "`dnf install dovecot`" in lmtp_missing(OsFamily.RHEL)
    assert "`pkg install dovecot`" in lmtp_missing(OsFamily.FREEBSD)
    unknown = lmtp_missing(None)
    for said in ("apt install dovecot-lmtpd", "dnf install dovecot", "pkg install dovecot"):
        assert said in unknown


def test_a_fixture_names_only_a_known_family() -> None:
    assert overrides_from_mapping({"os_family": "rhel"}).os_family is OsFamily.RHEL
    with pytest.raises(FactError, match="os_family 'suse' is not one of debian, rhel, freebsd"):
        overrides_from_mapping({"os_family": "suse"})


def _stub(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(f"#!/bin/sh\n{text}\n")
    (directory / name).chmod(0o755)


@pytest.mark.skipif(os.geteuid() != 0, reason="makes an LMTP binary under /opt as on a host")
def test_the_lmtp_binary_is_found_beside_the_lda_postfix_runs(tmp_path: Path) -> None:
    """The fact script for real (dash), with a postconf that answers as a host with Dovecot
    built into a prefix of its own does: its lmtp is found beside its dovecot-lda."""
    opt = f"/opt/migrator-unit-{os.getpid()}"
    prefix = Path(opt)
    (prefix / "libexec/dovecot").mkdir(parents=True)
    try:
        _stub(prefix / "libexec/dovecot", "lmtp", "exit 0")
        tools = tmp_path / "bin"
        tools.mkdir()
        master = f"dovecot unix - n n - - pipe flags=DRhu user=vmail:vmail argv={opt}/"
        master += "libexec/dovecot/dovecot-lda -f ${sender} -d ${recipient}"
        _stub(
            tools,
            "postconf",
            f"""case "$*" in
  -M) echo '{master}';;
  "-h mailbox_command") echo;;
  *) printf '3.7.11\\n/etc/postfix\\n/var/spool/postfix\\npostfix\\n';;
esac""",
        )
        env = {"PATH": f"{tools}:/usr/bin:/bin"}
        done = subprocess.run(
            ["dash", "-c", SCRIPT, "sh", ""], capture_output=True, text=True, env=env, check=False
        )
        facts = parse_script_output("h", done.stdout, None)
        assert facts.lmtp_binary == f"{opt}/libexec/dovecot/lmtp", done.stdout
        assert facts.os_family is detect_family("Linux", Path("/etc/os-release").read_text())
    finally:
        subprocess.run(["rm", "-rf", "--", str(prefix)], check=True)


FREEBSD_NETSTAT = """\
Active Internet connections (including servers)
Proto Recv-Q Send-Q Local Address          Foreign Address        (state)
tcp4       0      0 127.0.0.1.24           *.*                    LISTEN
tcp6       0      0 ::1.24                 *.*                    LISTEN
tcp4       0      0 *.25                   *.*                    LISTEN
tcp4       0      0 10.0.0.5.22            10.0.0.9.51234         ESTABLISHED
"""


def test_listeners_without_proc_come_from_netstat(tmp_path: Path) -> None:
    """STATE_SCRIPT's listen section for real (dash) where /proc is absent: FreeBSD's
    netstat output (a stub prints it) read as the judge reads Linux's."""
    _stub(tmp_path, "netstat", f"cat <<'EOF'\n{FREEBSD_NETSTAT}EOF")
    probe = "if [ -r /proc/net/tcp ]; then"
    assert probe in gather.STATE_SCRIPT
    script = gather.STATE_SCRIPT.replace(probe, "if [ -r /nonexistent/net/tcp ]; then")
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    argv = ["dash", "-c", script, "sh", "", "", "1024", "-1h", "10"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    state = gather.parse_state(done.stdout)
    assert state.listeners == ("127.0.0.1:24", "[::1]:24", "*:25"), done.stdout


def test_a_bsd_stat_is_asked_in_its_own_letters(tmp_path: Path) -> None:
    """PORTABLE_SH where stat has no -c (FreeBSD's stat(1), a stub that prints its argv):
    fstat turns GNU's letters into -f's, and sha256 falls back to sha256 -q."""
    _stub(tmp_path, "stat", 'case $1 in -c) exit 1;; esac; printf "%s|" "$@"')
    _stub(tmp_path, "sha256", 'printf "sha256 %s\\n" "$*"')
    (tmp_path / "sed").symlink_to(shutil.which("sed") or "/bin/sed")
    env = {"PATH": str(tmp_path)}  # no sha256sum
    script = PORTABLE_SH + "fstat -L '%a %U %G %s %i %Y %u %n %F' /x; echo; sha256 </dev/null"
    argv = [shutil.which("dash") or "/bin/dash", "-c", script]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert done.stdout.splitlines() == [
        "-L|-f|%Mp%Lp %Su %Sg %z %i %m %u %N %HT|--|/x|",
        "sha256 -q",
    ], done
