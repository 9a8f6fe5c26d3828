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
    echo "sent $name $? $(tr '\n' ' ' < "$dir/$name.err")" > "$dir/$name.out"; } &
done < "$dir/manifest"
set +f
wait
cat "$dir"/*.out
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
ids() { ours | sed -n "s/.* \([0-9A-Za-z]*\): message-id=<$token[.].*/\1/p"; }
# With a log, one pass over it: each message sendmail took has its queue id, and each queue
# id is removed or deferred. Cheap enough to poll on a busy host (held() forks per entry).
logged_done() {
  ours | awk -v t="message-id=<$token." -v want="$want" '
    { q = ""; if (match($0, / [0-9A-Za-z]+: /)) q = substr($0, RSTART + 1, RLENGTH - 3) }
    index($0, t) { mine[q] = 1; n++ }
    (q in mine) && (/: removed$/ || / status=deferred /) { done[q] = 1 }
    END { d = 0; for (k in mine) if (k in done) d++; exit !(n >= want && d == n) }'
}
# Settled: (with a log) every message done, then nothing of ours (a Sieve reply or redirect
# included) in flight: left in the queue only with a delay reason.
settled() {
  if [ -n "$log" ]; then logged_done || return 1; fi
  inflight=$(held | grep -vF '"delay_reason"')
  [ -z "$inflight" ]
}
want=$(cat "$dir"/*.out 2>/dev/null | grep -c '^sent [^ ]* 0 ')
end=$(($(date +%s) + timeout))
until settled; do
  if [ "$(date +%s)" -ge "$end" ]; then echo "timeout $timeout"; break; fi
  sleep 0.1 2>/dev/null || sleep 1
done
if [ -n "$log" ]; then
  for q in $(ids); do ours | grep -F " $q: " | sed 's/^/log /'; done
fi
held | sed 's/^/queue /'
query() {
  doveadm -f pager fetch -u "$1" "$2" \
    "(" header message-id "$token" OR header references "$token" ")"
}
for u in $users; do
  query "$u" 'mailbox flags hdr' 2>/dev/null | awk -v u="$u" '{ print "fetch " u "\t" $0 }'
done
[ "$keep" = keep ] && exit 0
for q in $(held | cut -d' ' -f1); do postsuper -d "$q" >/dev/null 2>&1; echo "deleted $q"; done
for u in $users; do
  doveadm expunge -u "$u" mailbox '*' \
    "(" header message-id "$token" OR header references "$token" ")"
  echo "expunge $u $?"
  doveadm mailbox list -u "$u" 2>/dev/null | while IFS= read -r b; do
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
