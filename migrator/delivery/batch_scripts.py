"""The remote script behind ``batch``: send a batch of proof messages, wait, report, clean up.

ONE command per batch. It only talks and reports; ``outcome`` reads what it prints:

    user <dovecot user>            a recipient's mailbox owner (one per user argument)
    box <user>\\t<mailbox>          a mailbox that existed before the batch
    sent <name> <rc> <stderr>      sendmail's exit status for one message
    skip <name> <why>              a message not sent: the host's settings rule it out
    timeout <seconds>              the batch did not settle in time
    log <line>                     a Postfix log line of one of our queue ids
    queue <qid> <kind|side> <json> a queue entry still holding one of our messages
    fetch <user>\\t<line>           ``doveadm -f pager fetch`` of our messages and replies
    deleted <qid> / expunge <user> <rc> / unbox <user>\\t<mailbox> <rc> / left <user>\\t<box>
                                   the clean-up, and what it could not remove
"""

from __future__ import annotations

from migrator.delivery.scripts import LOG_OPEN, LOG_SLICE, PICK_USER

# $1 token, $2 log ("" none, "journald", a file), $3 timeout (s), $4 window (bytes),
# $5 "keep" to leave the messages in place (the lab's corpus inspects them), $6 "auto" to
# skip SMTPUTF8 mail when Postfix has smtputf8_enable = no ("all" sends every message), then
# the recipients whose mailboxes are searched. stdin: a tar of "manifest" (lines: name, 1 when
# SMTPUTF8, envelope sender or "-", recipients) and one file per message.
BATCH_SH = (
    r"""
token=$1 log=$2 timeout=$3 window=$4 keep=$5 only=$6
shift 6
mid="<$token"
"""
    + LOG_OPEN
    + LOG_SLICE
    + r"""
[ -z "${unreadable:-}" ] || { echo "error cannot read $unreadable"; exit 2; }
dir=$(mktemp -d) || { echo "error cannot make a temporary directory"; exit 2; }
trap 'rm -rf "$dir"' EXIT
tar -xf - -C "$dir" || { echo "error cannot unpack the messages"; exit 2; }
users=
for rcpt in "$@"; do
  user=
"""
    + PICK_USER
    + r"""
  users="$users $user"
done
for u in $users; do
  doveadm mailbox list -u "$u" 2>/dev/null | while IFS= read -r b; do
    printf 'box %s\t%s\n' "$u" "$b"; printf '%s\t%s\n' "$u" "$b" >> "$dir/boxes"; done
done
# All at once: each sendmail takes tens of milliseconds. No -SMTPUTF8 (Postfix 3.5-3.10's
# sendmail refuses it): Postfix flags UTF-8 mail from sendmail itself
# (smtputf8_autodetect_classes = sendmail, the default).
utf8ok=yes
[ "$only" = auto ] && [ "$(postconf -xh smtputf8_enable 2>/dev/null)" = no ] && utf8ok=no
set -f
while read -r name utf8 sender rcpts; do
  [ "$sender" = - ] && sender=
  if [ "$utf8" = 1 ] && [ "$utf8ok" = no ]; then
    echo "skip $name smtputf8_enable = no"; continue; fi
  { /usr/sbin/sendmail -i -f "$sender" -- $rcpts < "$dir/$name" > "$dir/$name.err" 2>&1
    rc=$? said=; [ -s "$dir/$name.err" ] && said=$(tr '\n' ' ' < "$dir/$name.err")
    echo "sent $name $rc $said" > "$dir/$name.out"; } &
done < "$dir/manifest"
set +f
wait
# Each "sent" line shown; the messages sendmail took counted (no process of its own).
want=0
for f in "$dir"/*.out; do
  [ -f "$f" ] || continue
  IFS= read -r line < "$f"; printf '%s\n' "$line"
  case ${line#sent * } in "0 "*) want=$((want + 1)) ;; esac
done
# A showq that does not answer must not hang the batch: postqueue gets 5 s.
held() {
  timeout 5 postqueue -j 2>/dev/null | while IFS= read -r entry; do
    q=$(printf '%s' "$entry" | sed -n 's/.*"queue_id": *"\([0-9A-Za-z]*\)".*/\1/p')
    at=$(printf '%s' "$entry" | sed -n 's/.*"arrival_time": *\([0-9]*\).*/\1/p')
    [ -n "$q" ] && [ "${at:-0}" -ge "$since" ] || continue
    hdr=$(postcat -hq "$q" 2>/dev/null | unfold)
    printf '%s\n' "$hdr" | grep -qF "$token" || continue
    tag=$(printf '%s\n' "$hdr" | sed -n "s/^X-Migrator-Proof: *$token \([a-z0-9-]*\).*/\1/p")
    printf '%s %s %s\n' "$q" "${tag:-side}" "$entry"
  done
}
# With a log, one pass over it: each message sendmail took has its queue id, and each queue
# id is removed or deferred. Cheap enough to poll on a busy host (held() forks per entry).
logged_done() {
  slice | awk -v m="message-id=$mid" -v t="message-id=<$token." -v want="$want" '
    !on { if (!index($0, m)) next; on = 1 }
    { q = ""; if (match($0, / [0-9A-Za-z]+: /)) q = substr($0, RSTART + 1, RLENGTH - 3) }
    index($0, t) { mine[q] = 1; n++ }
    (q in mine) && (/: removed$/ || / status=deferred /) { done[q] = 1 }
    END { d = 0; for (k in mine) if (k in done) d++; exit !(n >= want && d == n) }'
}
# Settled: (with a log) every message done, then nothing of ours (a Sieve reply or redirect
# included) in flight: left in the queue only with a delay reason. What held() saw is kept.
settled() {
  if [ -n "$log" ]; then logged_done || return 1; fi
  held > "$dir/held"
  ! grep -qvF '"delay_reason"' "$dir/held"
}
# Polled with a growing nap, so a busy host is not asked again and again; the clock is read
# once the nap is at its longest.
end=$(($(date +%s) + timeout))
naps="0.05 0.1 0.2"
until settled; do
  if [ -z "$naps" ] && [ "$(date +%s)" -ge "$end" ]; then echo "timeout $timeout"; break; fi
  nap=${naps%% *}; naps=${naps#"$nap"}; naps=${naps# }
  sleep "${nap:-0.4}" 2>/dev/null || sleep 1
done
[ -f "$dir/held" ] || held > "$dir/held"
# The log lines of each of our queue ids, in one pass.
if [ -n "$log" ]; then
  slice | awk -v m="message-id=$mid" -v t=": message-id=<$token." '
    !on { if (!index($0, m)) next; on = 1 }
    { i = index($0, t) } i { n = split(substr($0, 1, i - 1), w, " "); ids[w[n]] = 1 }
    { line[NR] = $0 }
    END { for (k = 1; k <= NR; k++) { if (!(k in line)) continue
      for (q in ids) if (index(line[k], " " q ": ")) { print "log " line[k]; break } } }'
fi
while IFS= read -r entry; do printf 'queue %s\n' "$entry"; done < "$dir/held"
query() {
  doveadm -f pager fetch -u "$1" "$2" \
    "(" header message-id "$token" OR header references "$token" ")"
}
# Each user's copies, and (a file new<N> per user) the mailboxes holding them that were not
# there before the batch: the first line of each record (after a form feed) names its mailbox.
i=0
for u in $users; do
  i=$((i + 1))
  query "$u" 'mailbox flags hdr' 2>/dev/null | awk -v u="$u" -v boxes="$dir/boxes" \
    -v new="$dir/new$i" '
    BEGIN { while ((getline b < boxes) > 0) known[b] = 1 }
    { print "fetch " u "\t" $0 }
    /^\f/ { sub(/^\f/, ""); head = 1; if ($0 == "") next }
    NR == 1 { head = 1 }
    head { head = 0; if (sub(/^mailbox: /, "") && !((u "\t" $0) in known)) print > new }'
done
[ "$keep" = keep ] && exit 0
# Queued copies of ours were seen when the batch settled: only then is the queue read again.
if [ -s "$dir/held" ]; then
  for q in $(held | cut -d' ' -f1); do postsuper -d "$q" >/dev/null 2>&1; echo "deleted $q"; done
fi
i=0
for u in $users; do
  i=$((i + 1))
  doveadm expunge -u "$u" mailbox '*' \
    "(" header message-id "$token" OR header references "$token" ")"
  echo "expunge $u $?"
  # A mailbox the batch made holds one of its messages: none new, none to remove.
  [ -s "$dir/new$i" ] && doveadm mailbox list -u "$u" 2>/dev/null | while IFS= read -r b; do
    grep -qxF "$(printf '%s\t%s' "$u" "$b")" "$dir/boxes" 2>/dev/null && continue
    # Only a mailbox the batch made, and only when empty: real mail filed there stays.
    doveadm mailbox delete -u "$u" -e "$b" >/dev/null 2>&1
    printf 'unbox %s\t%s %s\n' "$u" "$b" "$?"
  done
  query "$u" 'mailbox' 2>/dev/null | sed -n "s/^mailbox: //p" | while IFS= read -r b; do
    printf 'left %s\t%s\n' "$u" "$b"; done
done
"""
)
