"""Fault injection on lab hosts: tampered plans, hidden binaries, frozen daemons, cut sessions."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import signal
import subprocess
from dataclasses import replace

from migrator.lab import lifecycle, sandbox
from migrator.lab.state import Lab, LabHost
from migrator.plan.document import Plan, Step


def sh(lab: Lab, host: LabHost, script: str) -> str:
    """Run a shell script inside the lab host as root; fail the test if it fails."""
    done = lifecycle.run_in_host(host, lab, ["sh", "-c", script], capture=True)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def dovecot_24(host: LabHost) -> bool:
    """True when the host runs Dovecot 2.4 or later (its own setting names and syntax)."""
    major, minor = (int(part) for part in host.versions.dovecot.split(".")[:2])
    return (major, minor) >= (2, 4)


def lmtp_mail_unusable(lab: Lab, host: LabHost) -> None:
    """Give LMTP, not the LDA, a mail location it cannot create (outside the plan's files, in
    the host's Dovecot syntax: 2.4 has no mail_location): its RCPT passes, delivery defers."""
    setting = (
        "mail_path = /proc/nowhere/%{user}"
        if dovecot_24(host)
        else "mail_location = maildir:/proc/nowhere/%u"
    )
    lines = shlex.join(["protocol lmtp {", f"  {setting}", "}"])
    sh(lab, host, f"printf '%s\\n' {lines} >> /etc/dovecot/local.conf")


def userdb_without_uid(lab: Lab, host: LabHost) -> None:
    """Make the virtual userdb stop returning uid and gid (in the host's Dovecot syntax)."""
    conf = "/etc/dovecot/conf.d/auth-vmail.conf.ext"
    if dovecot_24(host):
        edit = "-e '/^ *uid = vmail$/d' -e '/^ *gid = vmail$/d'"
    else:
        edit = "-e 's|args = uid=vmail gid=vmail home=|args = home=|'"
    sh(lab, host, f"sed -i {edit} {conf} && ! grep -q uid {conf}")


def with_content(plan: Plan, path: str, content: str) -> Plan:
    """The plan with one file's planned content replaced (as a broken rule would make it)."""
    digest = hashlib.sha256(content.encode()).hexdigest()
    files = tuple(
        replace(f, content_after=content, sha256_after=digest) if f.path == path else f
        for f in plan.files
    )
    steps = tuple(
        Step(s.action, {**s.args, "sha256_after": digest})
        if s.args.get("path") == path and s.action == "write_file"
        else s
        for s in plan.steps
    )
    return replace(plan, files=files, steps=steps)


def content_after(plan: Plan, path: str) -> str:
    return next(f.content_after for f in plan.files if f.path == path)


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    """Signal each of our lab host's processes by PID (one that already exited is skipped)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def hold_lmtp_socket(lab: Lab, host: LabHost) -> subprocess.Popen[bytes]:
    """A client that takes Dovecot's LMTP greeting on the host's socket and then idles."""
    client = (
        "my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die $!; my $greeting = <$s>;"
        "print $greeting; STDOUT->flush; sleep 120"
    )
    socket_path = "/var/spool/postfix/private/dovecot-lmtp"
    argv = sandbox.enter_argv(lab, host, ["perl", "-MIO::Socket::UNIX", "-e", client, socket_path])
    holder = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert holder.stdout is not None
    assert holder.stdout.readline().startswith(b"220"), "no LMTP greeting for the holder"
    return holder


def release(holders: list[subprocess.Popen[bytes]]) -> None:
    """End the holder clients we started (by PID)."""
    for holder in holders:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def lock_holder(lab: Lab, host: LabHost) -> int:
    """The PID of the sshd session that holds the host's migrator lock."""
    owner = sh(lab, host, "cat /var/lib/migrator/lock/owner")
    holder = next(line for line in owner.splitlines() if line.startswith("holder="))
    return int(holder.split("=", 1)[1].split()[0])


def over_quota(lab: Lab, host: LabHost, user: str, tempfail: bool) -> None:
    """Give every user a 100K quota (the plugin in protocol lda, in the host's Dovecot syntax)
    and fill USER's INBOX past it with a 200K message (doveadm loads no quota plugin here):
    USER is over quota, any other user far under it. quota_full_tempfail is set globally to
    TEMPFAIL. Dovecot is reloaded, with a second for the new config to be served."""
    lda = "/etc/dovecot/conf.d/15-lda.conf"
    if dovecot_24(host):
        plugin = f"sed -i '/^  mail_plugins {{$/a\\    quota = yes' {lda}"
        root = ['quota "User quota" {', "  quota_storage_size = 100K", "}"]
    else:
        plugin = f"sed -i 's/^  mail_plugins = [$]mail_plugins sieve$/& quota/' {lda}"
        root = ["plugin {", "  quota = maildir:User quota", "  quota_rule = *:storage=100K", "}"]
    lines = shlex.join([*root, f"quota_full_tempfail = {'yes' if tempfail else 'no'}"])
    body = "head -c 200000 /dev/zero | tr '\\0' x | fold -w 76"
    filler = f"{{ printf 'Subject: filler\\n\\n'; {body}; }}"
    sh(lab, host, f"{plugin} && grep -q quota {lda}")
    sh(lab, host, f"printf '%s\\n' {lines} > /etc/dovecot/conf.d/90-quota.conf")
    sh(lab, host, f"{filler} | doveadm save -u {shlex.quote(user)} && doveadm reload && sleep 1")
