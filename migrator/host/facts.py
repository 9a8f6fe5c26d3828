"""What a host is, as far as the switch cares: versions, paths, lmtpd, the userdb's answer.

Command facts come from ONE remote shell script whose sectioned output is parsed by pure
functions (``parse_script_output``); a directory root (not live) cannot answer them, and
``Facts.unknown`` says which ones are missing and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from migrator.errors import FactError
from migrator.host.fifos import FIFO_GUARD, fifo_error
from migrator.host.platform import OsFamily, detect_family
from migrator.transport.base import Transport

MARK = "==migrator:"
FACT_TIMEOUT = 60.0
DOVECOT_DIRS = ("/etc/dovecot", "/usr/local/etc/dovecot", "/usr/share/dovecot/protocols.d")

# $1 is the test recipient (may be empty). Each section starts with a marker line. Dovecot's
# files are listed following symlinks (a linked conf.d, a linked 20-lmtp.conf), as its
# !include follows them; the paths stay as Dovecot names them. The LMTP binary is looked for
# beside the LDA that Postfix runs (a Dovecot built into /opt), then where Debian, RHEL and
# FreeBSD keep it. Each process costs the host CPU (a postconf ~10 ms: it reads main.cf and
# master.cf), times a fleet: one postconf for the parameters and one for master.cf, values
# split by the shell's own read. The programs pipe services and mailbox_command run are
# listed so that the snapshot reads them with the config files, in the same round trip
# (planning still decides from the parsed master.cf which ones it needs).
SCRIPT = (
    FIFO_GUARD
    + r"""
m() { echo "==migrator:$1=="; }
pf=$(postconf -h mail_version config_directory queue_directory mail_owner mailbox_command \
  2>/dev/null)
{ read -r pv; read -r cd; read -r qd; read -r mo; read -r mc; } <<MIGRATOR_EOF
$pf
MIGRATOR_EOF
m postfix_version; echo "$pv"
m postconf; [ -z "$pf" ] || printf '%s\n' "$cd" "$qd" "$mo"
m mail_owner_group; id -gn "$mo" 2>/dev/null
dc=$(doveconf -n 2>/dev/null | head -n 1)
# doveconf's first line is "# VERSION: CONFIG", VERSION as `dovecot --version` prints it.
m dovecot_version; case $dc in "# "*": /"*) v=${dc#"# "}; echo "${v%%": /"*}";;
  *) dovecot --version 2>/dev/null;; esac
m dovecot_config; [ -z "$dc" ] || echo "$dc"
# Not `-d -h`: 2.4.1 answers it "Multiple settings matched" (exit 89) in some runs.
m protocols_default; doveconf -d protocols 2>&1; echo "rc=$?"
m os; uname -s; cat /etc/os-release 2>/dev/null
# Each word of master.cf's services and of mailbox_command: "d DIR" for a dovecot-lda or
# deliver in DIR, "p PATH" for an absolute program that a pipe service or mailbox_command runs.
words=$({ postconf -M 2>/dev/null; echo "- - - - - - - mailbox_command $mc"; } | awk '{
  for (i = 1; i <= NF; i++) { w = $i; sub(/^argv=/, "", w)
    if (w ~ /^\/.*\/dovecot-lda$/) print "d " substr(w, 1, length(w) - 12)
    else if (w ~ /^\/.*\/deliver$/) print "d " substr(w, 1, length(w) - 8)
    if (i > 8 && ($8 == "pipe" || $8 == "mailbox_command") && w ~ /^\// && w !~ /\$/)
      print "p " w } }')
listed() { printf '%s\n' "$words" | while read -r k w; do [ "$k" != "$1" ] || echo "$w"; done; }
m lmtp_binary; for d in $(listed d) /usr/lib/dovecot /usr/libexec/dovecot \
  /usr/local/libexec/dovecot; do [ -x "$d/lmtp" ] && echo "$d/lmtp"; done
m programs; listed p
m dovecot_files; for d in /etc/dovecot /usr/local/etc/dovecot /usr/share/dovecot/protocols.d; do
  [ -d "$d" ] && find -L "$d" -type f 2>/dev/null; done
rc=0
m userdb; if [ -n "$1" ]; then doveadm user "$1" 2>&1; rc=$?; echo "rc=$rc"; fi
m userdb_local; case "$rc:$1" in 0:*) ;; *@*) doveadm user "${1%@*}" 2>&1; echo "rc=$?";; esac
m end
"""
)

# The sections SCRIPT prints, each once, in order.
SECTIONS = frozenset(re.findall(r"^m (\w+);", SCRIPT, flags=re.MULTILINE)) | {"fifos", "end"}


@dataclass(frozen=True, slots=True)
class UserdbAnswer:
    """What ``doveadm user RECIPIENT`` said: whether the user exists, and its uid/gid."""

    recipient: str
    exists: bool
    uid: str | None = None
    gid: str | None = None
    # True when only the local part is known (system users: passwd knows "bob", not
    # "bob@example.test"), so LMTP needs auth_username_format = %Ln to find the user.
    by_local_part: bool = False
    home: str | None = None
    """The home the userdb returns: "" none (Sieve and the duplicate DB are then off), None
    not known (a fixture's facts that do not say)."""


@dataclass(frozen=True, slots=True)
class Facts:
    """A host's facts; a None field is unknown, with the reason in ``unknown``."""

    host: str
    live: bool
    postfix_version: str | None
    dovecot_version: str | None
    config_directory: str
    queue_directory: str
    mail_owner: str
    mail_owner_group: str | None
    dovecot_config: str
    lmtp_binary: str | None
    lmtp_binary_known: bool
    dovecot_files: tuple[str, ...]
    userdb: UserdbAnswer | None
    unknown: tuple[str, ...] = field(default=())
    protocols_default: str | None = None
    """Dovecot's built-in ``protocols`` (empty on Debian, "imap pop3 lmtp" upstream); None
    when not known (a directory, or ``doveconf -d protocols`` failed: see ``unknown``)."""
    os_family: OsFamily | None = None
    """Debian, RHEL or FreeBSD (their packages differ); None when not known."""
    programs: tuple[str, ...] = ()
    """The absolute programs pipe services and mailbox_command name, as the host's shell split
    them: what the snapshot reads with the config files (not recorded in the plan)."""

    @property
    def main_cf(self) -> str:
        return f"{self.config_directory.rstrip('/')}/main.cf"

    @property
    def master_cf(self) -> str:
        return f"{self.config_directory.rstrip('/')}/master.cf"

    def summary(self) -> dict[str, object]:
        """The facts a plan records, as plain data."""
        return {
            "live": self.live,
            "postfix_version": self.postfix_version,
            "dovecot_version": self.dovecot_version,
            "config_directory": self.config_directory,
            "queue_directory": self.queue_directory,
            "mail_owner": self.mail_owner,
            "mail_owner_group": self.mail_owner_group,
            "dovecot_config": self.dovecot_config,
            "lmtp_binary": self.lmtp_binary if self.lmtp_binary_known else "unknown",
            "protocols_default": self.protocols_default,
            "os_family": self.os_family.value if self.os_family else None,
            "userdb": None
            if self.userdb is None
            else {
                "recipient": self.userdb.recipient,
                "exists": self.userdb.exists,
                "uid": self.userdb.uid,
                "gid": self.userdb.gid,
                "by_local_part": self.userdb.by_local_part,
                "home": self.userdb.home,
            },
            "unknown": list(self.unknown),
        }


@dataclass(frozen=True, slots=True)
class FactOverrides:
    """Live facts supplied from elsewhere (a fixture's expected.yaml) for a directory root."""

    dovecot_version: str | None = None
    postfix_version: str | None = None
    lmtp_binary: str | None = None
    lmtp_binary_known: bool = False
    userdb: UserdbAnswer | None = None
    protocols_default: str | None = None
    os_family: OsFamily | None = None


def split_sections(output: str, host: str | None = None) -> dict[str, list[str]]:
    """Split the script's output into its sections' lines (pure).

    Raises FactError for a marker the script does not print, or prints a second time: a
    file name under /etc/dovecot or a userdb field can hold a newline and a marker line, and
    must not pass for a fact (the LMTP binary, the files to read, the userdb's answer).
    """
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith(MARK) and line.endswith("=="):
            name = line[len(MARK) : -2]
            if name not in SECTIONS or name in sections:
                raise FactError(f"fact script output has a forged marker line {line!r}", host=host)
            current = sections[name] = []
        elif current is not None:
            current.append(line)
    if "end" not in sections:
        raise FactError("fact script output is truncated (no end marker)")
    return sections


def parse_userdb(recipient: str, lines: list[str]) -> UserdbAnswer:
    """Parse ``doveadm user`` output (a ``field value`` table, then ``rc=N``)."""
    rc_lines = [line for line in lines if line.startswith("rc=")]
    rc = int(rc_lines[-1][3:]) if rc_lines else 1
    fields: dict[str, str] = {}
    for line in lines:
        parts = line.split(None, 1)
        if len(parts) == 2 and not line.startswith("rc="):
            fields[parts[0]] = parts[1].strip()
    if rc != 0:
        if rc == 67 or any("doesn't exist" in line for line in lines):
            return UserdbAnswer(recipient, exists=False)
        raise FactError(f"doveadm user {recipient} failed: {' '.join(lines).strip()}")
    return UserdbAnswer(
        recipient,
        exists=True,
        uid=fields.get("uid"),
        gid=fields.get("gid"),
        home=fields.get("home", ""),
    )


def _userdb(recipient: str | None, sections: dict[str, list[str]]) -> UserdbAnswer | None:
    lines = sections.get("userdb", [])
    if not recipient or not lines:
        return None
    answer = parse_userdb(recipient, lines)
    local = sections.get("userdb_local", [])
    if not answer.exists and local:
        by_name = parse_userdb(recipient, local)
        if by_name.exists:
            return replace(by_name, by_local_part=True)
    return answer


def parse_dovecot_config_path(lines: list[str]) -> str:
    """The config file named in ``doveconf -n``'s first line, else Dovecot's default."""
    for line in lines:
        found = re.search(r":\s+(/\S+)\s*$", line)
        if line.startswith("#") and found:
            return found.group(1)
    return "/etc/dovecot/dovecot.conf"


def parse_protocols_default(lines: list[str]) -> tuple[str | None, str]:
    """``doveconf -d protocols`` then ``rc=N``: the built-in list, words space-separated, and
    "" (or None and why not). 2.3 and 2.4 print ``protocols = imap lmtp``; 2.4 prints a
    list it has set as a block (``protocols {``, then ``imap = yes`` lines, ``}``)."""
    rc = next((line[3:] for line in reversed(lines) if line.startswith("rc=")), "")
    said = [line.strip() for line in lines if line.strip() and not line.startswith("rc=")]
    if rc != "0":
        return None, (said[-1] if said else f"exit {rc or 'unknown'}")
    if said and said[0].startswith("protocols =") and len(said) == 1:
        return " ".join(said[0].split("=", 1)[1].split()), ""
    if said[:1] == ["protocols {"] and said[-1:] == ["}"]:
        pairs = [line.split("=", 1) for line in said[1:-1]]
        if all(len(pair) == 2 for pair in pairs):
            return " ".join(k.strip() for k, v in pairs if v.strip() == "yes"), ""
    return None, f"unexpected output {' '.join(said)[:80]!r}"


def parse_script_output(host: str, output: str, recipient: str | None) -> Facts:
    """Turn the fact script's output into Facts (pure; tested on captured strings).

    Raises FactError when Postfix's paths are missing from the output.
    """
    found = fifo_error(host, output)
    if found is not None:
        raise found
    sections = split_sections(output, host)
    postconf = [line.strip() for line in sections.get("postconf", []) if line.strip()]
    if len(postconf) != 3:
        raise FactError("postconf -h config_directory queue_directory mail_owner failed", host=host)
    config_directory, queue_directory, mail_owner = postconf
    userdb = _userdb(recipient, sections)
    protocols, failed = parse_protocols_default(sections.get("protocols_default", []))
    unknown: tuple[str, ...] = () if userdb else ("userdb answer (no --test-recipient given)",)
    if protocols is None:
        unknown += (f"Dovecot's built-in protocols (doveconf -d protocols: {failed})",)
    binaries = [line.strip() for line in sections.get("lmtp_binary", []) if line.strip()]
    return Facts(
        host=host,
        live=True,
        postfix_version=_first(sections.get("postfix_version", [])),
        dovecot_version=_first(sections.get("dovecot_version", [])),
        config_directory=config_directory,
        queue_directory=queue_directory,
        mail_owner=mail_owner,
        mail_owner_group=_first(sections.get("mail_owner_group", [])),
        dovecot_config=parse_dovecot_config_path(sections.get("dovecot_config", [])),
        lmtp_binary=binaries[0] if binaries else None,
        lmtp_binary_known=True,
        dovecot_files=tuple(sorted({f.strip() for f in sections.get("dovecot_files", []) if f})),
        userdb=userdb,
        unknown=unknown,
        protocols_default=protocols,
        os_family=_family(sections.get("os", [])),
        programs=tuple(dict.fromkeys(p.strip() for p in sections.get("programs", []) if p.strip())),
    )


def directory_facts(
    host: str,
    main_params: Mapping[str, str],
    dovecot_files: list[str],
    owner_group: str | None,
    overrides: FactOverrides | None,
    dovecot_root: str = "/etc/dovecot/dovecot.conf",
    config_directory: str = "/etc/postfix",
) -> Facts:
    """Facts for a directory root: Postfix paths from main.cf, else where main.cf was found
    (``config_directory``) and Postfix's defaults."""
    unknown = []
    over = overrides or FactOverrides()
    if over.dovecot_version is None:
        unknown.append("Dovecot version (not known from a directory)")
    if not over.lmtp_binary_known:
        unknown.append("LMTP binary presence (not known from a directory)")
    if over.userdb is None:
        unknown.append("userdb answer (not known from a directory)")
    mail_owner = main_params.get("mail_owner", "postfix")
    return Facts(
        host=host,
        live=False,
        postfix_version=over.postfix_version,
        dovecot_version=over.dovecot_version,
        config_directory=main_params.get("config_directory", config_directory),
        queue_directory=main_params.get("queue_directory", "/var/spool/postfix"),
        mail_owner=mail_owner,
        mail_owner_group=owner_group,
        dovecot_config=dovecot_root,
        lmtp_binary=over.lmtp_binary,
        lmtp_binary_known=over.lmtp_binary_known,
        dovecot_files=tuple(dovecot_files),
        userdb=over.userdb,
        unknown=tuple(unknown),
        protocols_default=over.protocols_default,
        os_family=over.os_family,
    )


def _family(lines: list[str]) -> OsFamily | None:
    """The os section: ``uname -s``, then /etc/os-release."""
    return detect_family(lines[0] if lines else "", "\n".join(lines[1:]))


def read_live_facts(transport: Transport, recipient: str | None) -> Facts:
    """Run the fact script on a live host (one round trip).

    Raises FactError when the script fails or its output makes no sense.
    """
    argv = ["sh", "-c", SCRIPT, "migrator-facts", recipient or ""]
    # A stuck doveadm or postconf must not hang a plan (or a whole fleet) forever.
    result = transport.run(argv, timeout=FACT_TIMEOUT)
    if not result.out.strip():
        raise FactError(f"fact script failed: {result.err.strip()}", host=transport.host)
    return parse_script_output(transport.host, result.out, recipient)


def with_group(facts: Facts, group: str | None) -> Facts:
    return facts if facts.mail_owner_group else replace(facts, mail_owner_group=group)


def _first(lines: list[str]) -> str | None:
    for line in lines:
        if line.strip():
            return line.strip()
    return None
