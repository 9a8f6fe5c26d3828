"""The remote scripts behind ``delivery.py``: each one runs as ONE command on the host.

They only talk and report; every decision (was it 250? which relay? which mailbox?) is made
by the pure readers in ``delivery_parse`` on the text they print. They are POSIX sh, plus an
LMTP client in perl (Debian's perl-base is Essential) with a python3 twin for hosts
without perl, and one in sh over nc for hosts with neither (FreeBSD). All print the same
transcript:

    using perl|python3|nc
    < 220 ...          a server line
    > LHLO ...         a line we sent
    error <reason>     the client gave up (connect failed, timeout, connection closed)
"""

from __future__ import annotations

PROBE_PERL = r"""
use strict; use warnings; use IO::Socket::UNIX; use IO::Socket::INET;
$| = 1;
my ($kind, $addr, $timeout, @cmds) = @ARGV;
print "using perl\n";
$SIG{ALRM} = sub { print "error no answer within ${timeout}s\n"; exit 3; };
alarm $timeout;
my $s = $kind eq 'unix'
  ? IO::Socket::UNIX->new(Peer => $addr)
  : IO::Socket::INET->new(PeerAddr => $addr, Proto => 'tcp', Timeout => $timeout);
unless ($s) { my $why = $! || $@; print "error connect to $addr: $why\n"; exit 2; }
sub reply {
  while (1) {
    my $l = <$s>;
    unless (defined $l) { print "error connection closed by server\n"; exit 4; }
    $l =~ s/\r?\n\z//;
    print "< $l\n";
    return unless $l =~ /^\d{3}-/;
  }
}
reply();
for my $c (@cmds) { print "> $c\n"; print $s "$c\r\n"; reply(); }
"""

PROBE_PYTHON = r"""
import socket, sys
kind, addr, timeout, *cmds = sys.argv[1:]
print("using python3", flush=True)
try:
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(float(timeout))
        s.connect(addr)
    else:
        host, _, port = addr.rpartition(":")
        s = socket.create_connection((host.strip("[]"), int(port)), float(timeout))
except OSError as exc:
    print(f"error connect to {addr}: {exc.strerror or exc}")
    sys.exit(2)
f = s.makefile("rb")
def reply():
    while True:
        try:
            line = f.readline()
        except OSError:
            print(f"error no answer within {timeout}s")
            sys.exit(3)
        if not line:
            print("error connection closed by server")
            sys.exit(4)
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        print("< " + text, flush=True)
        if text[3:4] != "-":
            return
reply()
for c in cmds:
    print("> " + c, flush=True)
    s.sendall((c + "\r\n").encode())
    reply()
"""

# What the probe sends on stdin: perl reads its program up to __END__; python3 runs the rest.
PROBE_STDIN = PROBE_PERL + "\n__END__\n" + PROBE_PYTHON

# The client for hosts with neither perl nor python3 (FreeBSD's base has nc, with -U): nc
# talks through a FIFO, its output is read a line at a time as it grows. $1 unix|inet, $2
# address, $3 timeout (s), then the commands.
_PROBE_NC = r"""
nc_client() {
  kind=$1 addr=$2 timeout=$3; shift 3
  echo "using nc"
  d=$(mktemp -d) && mkfifo "$d/in" || { echo "error cannot make a FIFO"; exit 5; }
  trap 'kill "$pid" 2>/dev/null; rm -rf -- "$d"' EXIT
  if [ "$kind" = unix ]; then nc -U "$addr" <"$d/in" >"$d/out" 2>"$d/err" &
  else h=${addr%:*}; h=${h#[}; nc "${h%]}" "${addr##*:}" <"$d/in" >"$d/out" 2>"$d/err" &
  fi
  pid=$!
  exec 3>"$d/in"
  seen=0
  for c in "" "$@"; do
    if [ -n "$c" ]; then echo "> $c"; printf '%s\r\n' "$c" >&3; fi
    i=0
    while :; do
      n=$(wc -l <"$d/out")
      while [ "$seen" -lt "$n" ]; do
        seen=$((seen + 1)); l=$(sed -n "${seen}p" "$d/out" | tr -d '\r'); echo "< $l"
        case $l in [0-9][0-9][0-9]-*) ;; *) continue 3;; esac
      done
      if ! kill -0 "$pid" 2>/dev/null && [ "$(wc -l <"$d/out")" -eq "$seen" ]; then
        if [ "$seen" -eq 0 ]; then echo "error connect to $addr: $(tail -n 1 "$d/err")"; exit 2
        fi; echo "error connection closed by server"; exit 4
      fi
      [ "$i" -ge "$((timeout * 10))" ] && { echo "error no answer within ${timeout}s"; exit 3; }
      sleep 0.1; i=$((i + 1))
    done
  done
  exit 0
}
"""

# $1 clients to try in order (perl, python3, nc), then the client's args; PROBE_STDIN on
# stdin. The perl and python clients come on stdin, not argv, so that sudo's log does not
# get a copy of each.
PROBE_SH = (
    _PROBE_NC
    + r"""
interps=$1
shift
for i in $interps; do
  case $i in
    perl) command -v perl >/dev/null 2>&1 && exec perl - "$@" ;;
    python3) command -v python3 >/dev/null 2>&1 &&
      exec python3 -c 'import sys; s = sys.stdin.read(); exec(s.split("\n__END__\n")[1])' "$@" ;;
    nc) command -v nc >/dev/null 2>&1 && nc -h 2>&1 | grep -q -- -U && nc_client "$@" ;;
  esac
done
echo "error no LMTP client: none of '$interps' is installed"
exit 5
"""
)

# Shared by the scripts below: pick the Dovecot user for a recipient. LDA with system users
# (mailbox_command, userdb passwd) knows "alice", not "alice@example.test".
_PICK_USER = r"""
if [ -z "$user" ]; then
  user=$rcpt
  doveadm user "$rcpt" >/dev/null 2>&1 || user=${rcpt%@*}
fi
echo "user $user"
"""

# $log is a file, "journald" (hosts that log only to the journal: stock Debian 12 and 13 have
# no syslog daemon), or "" (no log at all: the message and the queue are the proof).
_LOG_OPEN = r"""
since=$(($(date +%s) - 300))
case $log in
  journald) ;;
  /*) if [ -r "$log" ]; then size=$(wc -c < "$log"); start=$((size > window ? size - window : 0))
      else unreadable=$log; log=; fi ;;
  *) log= ;;
esac
"""

_LOG_SLICE = r"""
# RFC 5322 unfolding: a line starting with a space or tab continues the one before it.
unfold() {
  awk '/^[ \t]/ { sub(/[ \t]+$/, "", line); sub(/^[ \t]+/, " "); line = line $0; next }
    NR > 1 { print line } { line = $0 } END { if (NR) print line }'
}
slice() {
  if [ "$log" = journald ]; then
    journalctl -q --no-pager -o short --since "@$since" 2>/dev/null
    return
  fi
  size=$(wc -c < "$log")
  [ "$size" -lt "$start" ] && start=0
  tail -c +"$((start + 1))" "$log"
}
# The log from our message's cleanup line on: an older message whose queue id was reused
# must not count.
ours() {
  slice | awk -v m="message-id=$mid" 'index($0, m) { on = 1 } on'
}
find_qid() {
  ours | head -n 1 | sed -n 's/.* \([0-9A-Za-z]*\): message-id=.*/\1/p'
}
# Without a log: the queue entries (of the last minutes only: a big queue is not read whole)
# whose file holds our Message-ID, as postqueue -j shows them.
queued() {
  postqueue -j 2>/dev/null | while IFS= read -r entry; do
    q=$(printf '%s' "$entry" | sed -n 's/.*"queue_id": *"\([0-9A-Za-z]*\)".*/\1/p')
    at=$(printf '%s' "$entry" | sed -n 's/.*"arrival_time": *\([0-9]*\).*/\1/p')
    [ -n "$q" ] && [ "${at:-0}" -ge "$since" ] || continue
    postcat -hq "$q" 2>/dev/null | grep -qiF "$mid" && printf '%s\n' "$entry"
  done
}
"""

# $1 log, $2 Message-ID, $3 recipient, $4 timeout (s), $5 Dovecot user or "", $6 window (bytes)
CONFIRM_SH = (
    r"""
log=$1 mid=$2 rcpt=$3 timeout=$4 user=$5 window=$6
"""
    + _LOG_OPEN
    + _LOG_SLICE
    + r"""
[ -z "${unreadable:-}" ] || { echo "error cannot read $unreadable"; exit 2; }
end=$(($(date +%s) + timeout))
qid=
while [ -n "$log" ]; do
  [ -z "$qid" ] && qid=$(find_qid)
  if [ -n "$qid" ] && ours | grep -qF " $qid: to=<$rcpt>,"; then break; fi
  if [ "$(date +%s)" -ge "$end" ]; then echo "timeout $timeout"; break; fi
  sleep 0.2 2>/dev/null || sleep 1
done
if [ -n "$log" ]; then
  [ -n "$qid" ] && ours | grep -F " $qid: " | sed 's/^/log /'
  ours | grep -F " $qid: to=<$rcpt>," | tail -n 1 | grep -q 'status=sent' || exit 0
fi
"""
    + _PICK_USER
    + r"""
queue=
while :; do
  out=$(doveadm -f tab fetch -u "$user" 'mailbox uid' header message-id "$mid" 2>&1)
  rc=$?
  # Rows after doveadm's header line; its errors (a user with no mailbox yet) come before.
  found=$(printf '%s\n' "$out" | awk 'seen && NF; /^mailbox[[:space:]]+uid$/ { seen = 1 }')
  [ -n "$found" ] && break
  # Without a log, a deferral shows in the queue: a delay reason is an answer too.
  if [ -z "$log" ]; then queue=$(queued | grep -F '"delay_reason"'); [ -n "$queue" ] && break
  elif [ "$rc" -ne 0 ]; then break; fi
  if [ "$(date +%s)" -ge "$end" ]; then [ -z "$log" ] && echo "timeout $timeout"; break; fi
  sleep 0.2 2>/dev/null || sleep 1
done
echo "fetch $rc"
printf '%s\n' "$out" | sed 's/^/doveadm /'
if [ -z "$log" ] && [ -n "$found" ]; then
  doveadm fetch -u "$user" hdr header message-id "$mid" 2>/dev/null | sed 's/^/hdr /'
elif [ -z "$log" ]; then
  printf '%s\n' "${queue:-$(queued)}" | sed '/^$/d; s/^/queue /'
fi
"""
)

# $1 Message-ID, $2 recipient, $3 Dovecot user or "", $4 log ("" none, "-" delivered), $5 window
REMOVE_SH = (
    r"""
mid=$1 rcpt=$2 user=$3 log=$4 window=$5
"""
    + _LOG_OPEN
    + _LOG_SLICE
    + r"""
# A deferred test message must not be delivered later, e.g. after a rollback; the queue
# file is checked to be ours before it goes (its headers unfolded first: a Message-ID with a
# short host name is folded onto its own line). Without a log, the queue itself is searched;
# "-" for the log: the message was delivered, nothing can be queued.
qid=
if [ -n "$log" ]; then qid=$(find_qid)
elif [ "$4" != - ]; then qid=$(queued | sed -n 's/.*"queue_id": *"\([0-9A-Za-z]*\)".*/\1/p'); fi
for q in $qid; do
  # Logged as removed, the queue file is gone: postcat -q would wait a second to say so.
  [ -n "$log" ] && ours | grep -qF " $q: removed" && continue
  if postcat -hq "$q" 2>/dev/null | unfold | grep -qiF "message-id: $mid"; then
    postsuper -d "$q" 2>&1 | sed 's/^/postsuper /'
  fi
done
"""
    + _PICK_USER
    + r"""
out=$(doveadm expunge -u "$user" mailbox '*' header message-id "$mid" 2>&1)
echo "expunge $?"
printf '%s\n' "$out" | sed '/^$/d; s/^/doveadm /'
left=$(doveadm -f tab fetch -u "$user" 'mailbox uid' header message-id "$mid" 2>/dev/null | sed 1d)
printf '%s\n' "$left" | sed '/^$/d; s/^/left /'
"""
)

# The whole test delivery in one command: sendmail (the message on stdin, empty envelope
# sender: a failed test never bounces), then CONFIRM_SH, then REMOVE_SH given the log (a copy
# still queued goes too; a delivered message has none to find). $1 CONFIRM_SH, $2 REMOVE_SH,
# $3 log, $4 Message-ID, $5 recipient, $6 timeout (s), $7 Dovecot user or "", $8 window.
# Prints "sendmail <rc> <its output>" (nothing else when it failed), the confirm script's
# lines, "confirm-rc <rc>", the line "migrator-remove", the remove script's lines.
PROVE_SH = r"""
out=$(/usr/sbin/sendmail -i -f "" -- "$5" 2>&1)
rc=$?
echo "sendmail $rc $(printf '%s' "$out" | tr '\n' ' ')"
[ "$rc" -eq 0 ] || exit 0
sh -c "$1" sh "$3" "$4" "$5" "$6" "$7" "$8" </dev/null
echo "confirm-rc $?"
echo migrator-remove
sh -c "$2" sh "$4" "$5" "$7" "$3" "$8" </dev/null
"""

# Shared with ``batch_scripts``: the same log window, slicing and user pick.
LOG_OPEN, LOG_SLICE, PICK_USER = _LOG_OPEN, _LOG_SLICE, _PICK_USER
