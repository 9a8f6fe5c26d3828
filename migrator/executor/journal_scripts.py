"""The POSIX sh scripts behind the remote journal (``journal.py``), one round trip each.

Every one first checks that the journal is root's alone (``check_base``, exit 4 with one
line on stderr otherwise): a directory a local user could write would let them plant the
state rollback trusts.
"""

from __future__ import annotations

from migrator.transport.remote_scripts import PORTABLE_SH, READ_SCRIPT

# Shared by the scripts below ($1 is always the base directory): field N of /proc/PID/stat
# after the command name (or what ps says of it), comm the process's name; holder_alive says
# whether the lock's SSH session still runs;
# check_base exits 4 (one line on stderr) unless the base, its parents and all beneath it are
# root's alone. The mutex serialises taking the lock against reading it, so a reader never
# sees a lock without its owner.
_PRELUDE = r"""
set -u
base=$1
if [ -r "/proc/$$/stat" ]; then
  # Read by the shell itself (no process): the lock walks up a few of them.
  field() {
    { IFS= read -r l < "/proc/$1/stat"; } 2>/dev/null || return 0
    n=$2; set -- ${l##*) }; shift $((n - 1)); echo "${1:-}"
  }
  comm() { { IFS= read -r c < "/proc/$1/comm"; } 2>/dev/null && echo "$c"; }
else
  # No /proc (the BSDs): ps says the same. Field 2 the parent, 20 the start time (a ps without
  # lstart: "up" while the process runs, so a live holder is never taken for a dead one).
  field() { if [ "$2" = 2 ]; then ps -o ppid= -p "$1" 2>/dev/null | tr -d ' '
    else ps -o lstart= -p "$1" 2>/dev/null | tr -d ' ' | grep . ||
      { ps -o pid= -p "$1" >/dev/null 2>&1 && echo up; }; fi; }
  comm() { ps -o comm= -p "$1" 2>/dev/null; }
fi
unsafe() { echo "$1" >&2; exit 4; }
# Not a safety question (a read-only or full disk, a lock holder that never lets go): exit 5.
fail() { echo "$1" >&2; exit 5; }
check_dir() {
  [ -L "$1" ] && unsafe "$1 is a symlink"
  s=$(fstat '%u %a' "$1") || unsafe "cannot stat $1"
  [ "${s% *}" = 0 ] || unsafe "$1 is owned by uid ${s% *}, not root"
  [ $((0${s#* } & 022)) -eq 0 ] || unsafe "$1 is writable by group or others (mode ${s#* })"
}
check_base() {
  d=$base
  while [ -n "$d" ]; do
    if [ -e "$d" ] || [ -L "$d" ]; then check_dir "$d"; fi
    d=${d%/*}
  done
  [ -d "$base" ] || return 0
  bad=$(find "$base" -mindepth 1 \( -type l -o ! -user 0 -o -perm -020 -o -perm -002 \) \
    -print 2>/dev/null | head -n 1)
  [ -z "$bad" ] || unsafe "$(fstat "%n is not root's alone (%F, owner uid %u, mode %a)" \
    "$bad")"
}
mutex() {
  command -v flock >/dev/null 2>&1 || return 0
  if [ "$1" = -x ]; then exec 9>"$base/mutex"; else [ -e "$base/mutex" ] || return 0
    exec 9<"$base/mutex"; fi
  flock "$1" -w 30 9 || fail "cannot take $base/mutex within 30s"
}
holder_alive() {
  set -- $(sed -n 's/^holder=//p' "$base/lock/owner" 2>/dev/null)
  [ -n "${1:-}" ] && [ "$(field "$1" 20)" = "${2:-x}" ]
}
# $1: what to print if the lock is released meanwhile (an unlock does not take the mutex).
report_held() {
  i=0
  while [ -d "$base/lock" ] && [ ! -s "$base/lock/owner" ] && [ "$i" -lt 20 ]; do
    sleep 0.1; i=$((i + 1))
  done
  [ -d "$base/lock" ] || { echo "$1"; return 0; }
  echo held; cat "$base/lock/owner" 2>/dev/null
  if holder_alive; then echo alive=yes; else echo alive=no; fi
}
"""
_PRELUDE = PORTABLE_SH + _PRELUDE  # fstat: GNU, busybox or BSD stat

# put FILE CONTENT: CONTENT into FILE, in place by rename (no reader ever sees half of it).
# The temporary beside it is named by this shell's PID: the journal is root's alone
# (check_base), so no one else can have planted it. printf is the shell's own (no process);
# when it fails, tee writes it again to say why (a missing directory, a full disk).
_PUT = r"""
put() {
  { printf '%s' "$2" 2>/dev/null > "$1.$$" || printf '%s' "$2" | tee "$1.$$" >/dev/null; } &&
    mv -f -- "$1.$$" "$1" || { rm -f -- "$1.$$"; return 1; }
}
"""

# $2 plan id, $3 control node, $4 "takeover" to replace a lock whose holder is gone and
# whose plan is $5 ("*": any plan), $6 a script to run once the lock is taken ("": none).
# The lease is the SSH session this command runs under.
LOCK_SCRIPT = (
    _PRELUDE
    + r"""
umask 077
check_base
# Two first applies may race to create it: either one's mkdir will do.
[ -d "$base" ] || mkdir -m 0700 "$base" 2>/dev/null || [ -d "$base" ] || fail "cannot create $base"
check_dir "$base"
[ -d "$base/journal" ] || mkdir -p "$base/journal" || fail "cannot create $base/journal"
mutex -x
p=$$
# The lease is the SSH session: the sshd process above us, which OpenSSH 9.8 and later name
# sshd-session (their "sshd" is the long-lived listener).
session() {
  case $(comm "$1") in sshd|sshd-session) return 0;; esac; return 1
}
while [ "$p" -gt 1 ] && ! session "$p"; do p=$(field "$p" 2); done
me="$p $(field "$p" 20)"
write_owner() { printf 'plan=%s\nnode=%s\nholder=%s\n' "$2" "$3" "$me" > "$base/lock/owner.new" &&
  mv -f "$base/lock/owner.new" "$base/lock/owner"; }
held_plan() { sed -n 's/^plan=//p' "$base/lock/owner" 2>/dev/null; }
# Once the lock is ours, $6 (when given) runs too, in the same round trip, after a line
# "==then==", the mutex released first (its exit status is not the lock's; umask 077).
then_run() {
  [ -n "${6:-}" ] || return 0
  exec 9>&-
  echo "==then=="; sh -c "$6" || true
}
if mkdir "$base/lock" 2>/dev/null; then
  write_owner "$@"; echo acquired; then_run "$@"
elif [ "${4:-}" = takeover ] && ! holder_alive &&
  { [ "${5:-}" = "*" ] || [ "$(held_plan)" = "${5:-}" ]; }; then
  write_owner "$@"; echo acquired; then_run "$@"
else
  report_held held
fi
"""
)

# Prints the lock (as LOCK_SCRIPT does when held, else "free"), then the current plan id.
PEEK_SCRIPT = (
    _PRELUDE
    + r"""
check_base
mutex -s
if [ -d "$base/lock" ]; then report_held free; else echo free; fi
echo "current=$(cat "$base/current" 2>/dev/null)"
"""
)

# $2.. journal files: read as READ_SCRIPT does, after the checks, refusing any symlink.
JOURNAL_READ_SCRIPT = (
    _PRELUDE
    + r"""
check_base
shift
for p do [ -L "$p" ] && unsafe "$p is a symlink"; done
"""
    + READ_SCRIPT
)

# Opens an apply's journal in one round trip. $1 journal directory, $2 bytes to reserve, $3
# state.json's content, $4 the file naming the current plan, $5 the plan id, then for each
# original (n, path, sha256): the host copies its own file to orig/<n>, and a copy whose
# sha256 is not the one the drift check read is refused (exit 9, "changed: PATH" on stderr:
# the file changed meanwhile). Then state.json, then the current plan. Every file 0600, each
# in place by rename; exit 5 naming what could not be made.
OPEN_SCRIPT = (
    PORTABLE_SH
    + _PUT
    + r"""
umask 077
set -u
j=$1 size=$2 state=$3 current=$4 plan=$5
shift 5
mkdir -p "$j/orig" "$j/drift" && head -c "$size" /dev/zero > "$j/reserve" ||
  { echo "cannot make $j and its reserve" >&2; exit 5; }
while [ "$#" -ge 3 ]; do
  o=$j/orig/$1
  cp -- "$2" "$o.new" || { echo "cannot copy $2" >&2; exit 5; }
  now=$(sha256 < "$o.new") || exit 5
  [ "$now" = "$3" ] || { rm -f -- "$o.new"; echo "changed: $2" >&2; exit 9; }
  mv -f -- "$o.new" "$o" || { echo "cannot write $o" >&2; exit 5; }
  shift 3
done
put "$j/state.json" "$state" || exit 5
put "$current" "$plan
" || exit 5
"""
)

# $1 a journal file, $2.. its contents, written in turn (0600, each by rename): states recorded
# at one moment (a step's end, the next step's start) in one round trip. Exit 5 when one
# cannot be written (the failing command's error last on stderr); those after it are not.
WRITE_STATES_SCRIPT = (
    _PUT
    + r"""
umask 077
p=$1
shift
for c do put "$p" "$c" || exit 5; done
"""
)

# $1 base, $2 plan id: release the lock only when it is this plan's. Values are arguments,
# never pasted into the script, so a hostile plan id cannot run anything.
UNLOCK_SCRIPT = 'grep -qxF -- "plan=$2" "$1/lock/owner" && rm -rf -- "$1/lock"'

# A step's command carrying the journal's states: $1 state.json, $2 a nonce, $3 how many
# states follow, then the states, then the command. Each state is written in turn (0600, by
# rename) and only then is the command exec'd, under the session's own umask; when one cannot
# be written the command never runs: the write's error, then "journal-unwritten <nonce>" on
# stderr, exit 125 (the nonce tells this from the command's own output).
CARRY_SCRIPT = (
    _PUT
    + r"""
p=$1 nonce=$2 n=$3
shift 3
mask=$(umask)
umask 077
while [ "$n" -gt 0 ]; do
  put "$p" "$1" || { echo "journal-unwritten $nonce" >&2; exit 125; }
  shift
  n=$((n - 1))
done
umask "$mask"
exec "$@"
"""
)
