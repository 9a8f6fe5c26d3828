"""What became of each message of a proof batch, and whether two batches fared the same.

Pure: reads what ``batch_scripts.BATCH_SH`` printed. A message's outcome is its DSN class
(delivered / deferred / bounced, with the code when Postfix said one), Postfix's verdict per
recipient (from the log, when the host keeps one), where each copy landed (user, mailbox,
flags), its headers without trace fields and IDs, and Sieve's side effects (replies quoting
it). Two outcomes are compared field by field, never by relay or timing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from email.parser import HeaderParser
from email.policy import compat32

from migrator.delivery.parse import lmtp_trace, parse_log_delivery

COMPARED = ("status", "recipients", "copies", "headers", "side_effects")
# Trace fields and IDs: they differ on every delivery, whichever path made it.
TRACE_HEADERS = frozenset(("received", "return-path", "message-id", "date"))
_DSN = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_TO = re.compile(r" ([0-9A-Za-z]+): to=<([^>]*)>")
_STATUS = {"sent": "delivered", "bounced": "bounced", "deferred": "deferred"}


@dataclass(frozen=True, slots=True)
class MailOutcome:
    """One message's fate. Every field takes part in the comparison."""

    status: str  # "delivered 2.0.0", "bounced 5.6.7", "deferred 4.2.2", "not sent (...)"
    recipients: tuple[str, ...] = ()  # "alice@example.test delivered 2.0.0", from the log
    copies: tuple[str, ...] = ()  # "alice@example.test Lists (\\Recent)"
    headers: tuple[str, ...] = ()  # "Name: value", the batch token shown as TOKEN
    side_effects: tuple[str, ...] = ()  # "reply in bob@example.test INBOX"
    # Not compared (the path is what changes): Postfix's relays, or without a log whether
    # each copy's newest trace is Dovecot's LMTP.
    via: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """A short cell for a table: the status and where the copies went."""
        where = ", ".join(c.split(" (")[0] for c in self.copies)
        return f"{self.status}: {where}" if where else self.status


@dataclass(frozen=True, slots=True)
class Cleanup:
    """What the clean-up could not remove: messages left in mailboxes or the queue."""

    left: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.left and not self.failed


@dataclass(frozen=True, slots=True)
class BatchReport:
    """A parsed batch: each kind's outcome, the clean-up, and the script's own errors."""

    outcomes: Mapping[str, MailOutcome]
    cleanup: Cleanup
    error: str = ""
    waited: int | None = None  # seconds, when the batch did not settle in time
    skipped: Mapping[str, str] = field(default_factory=dict)  # kind -> why it was not sent


@dataclass(frozen=True, slots=True)
class KindProof:
    """One kind before (LDA) and after (LMTP): the same, or the fields that differ."""

    kind: str
    before: MailOutcome
    after: MailOutcome | None
    differences: tuple[str, ...] = ()
    # The plan's announcement that covers every difference (``ab.accept``), or "".
    announced: str = ""

    @property
    def same(self) -> bool:
        return self.after is not None and not self.differences

    @property
    def improved(self) -> bool:
        """The LDA did not deliver it and LMTP does, over LMTP (a +detail the LDA bounced):
        a difference, shown, that loses no mail."""
        return (
            self.after is not None
            and not self.before.status.startswith("delivered")
            and self.after.status.startswith("delivered")
            and not any(d.startswith("not over LMTP") for d in self.differences)
        )

    @property
    def verdict(self) -> str:
        """ "same", "improved", "announced" (a difference the plan warned of) or "differs"."""
        if self.same:
            return "same"
        return "improved" if self.improved else "announced" if self.announced else "differs"


def compare(
    before: Mapping[str, MailOutcome], after: Mapping[str, MailOutcome]
) -> tuple[KindProof, ...]:
    """Each kind of BEFORE against AFTER: the differing fields, ``before -> after``."""
    proofs = []
    for kind, old in before.items():
        new = after.get(kind)
        if new is None:
            proofs.append(KindProof(kind, old, None, ("not sent after the switch",)))
            continue
        differences = tuple(
            f"{f.name}: {_shown(getattr(old, f.name))} -> {_shown(getattr(new, f.name))}"
            for f in fields(MailOutcome)
            if f.name in COMPARED and getattr(old, f.name) != getattr(new, f.name)
        )
        proofs.append(KindProof(kind, old, new, differences))
    return tuple(proofs)


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + "; ".join(value) + "]"
    return str(value)


def parse_batch(text: str, token: str, kinds: Sequence[str]) -> BatchReport:
    """The batch script's output as a report, one outcome per kind sent (in KINDS order)."""
    tagged: dict[str, list[str]] = {}
    # Not splitlines(): that would also split at the form feeds between doveadm's records.
    for line in text.split("\n"):
        tag, _, rest = line.partition(" ")
        tagged.setdefault(tag, []).append(rest)
    sent = dict(_sent(tagged.get("sent", []), kinds))
    records = _records(tagged.get("fetch", []))
    logs = _log_by_kind(tagged.get("log", []), token)
    queue = _queue_by_kind(tagged.get("queue", []))
    skipped = {kinds[i]: why for i, why in _skipped(tagged.get("skip", []), len(kinds))}
    outcomes = {
        kind: _outcome(kind, token, sent.get(kind, "not sent"), records, logs, queue)
        for kind in kinds
        if kind not in skipped
    }
    waited = tagged.get("timeout", [""])[0]
    error = " / ".join(tagged.get("error", []))
    return BatchReport(
        outcomes, _cleanup(tagged), error, int(waited) if waited.isdigit() else None, skipped
    )


def _skipped(lines: Iterable[str], count: int) -> Iterable[tuple[int, str]]:
    """(index, why) of ``skip <name> <why>``: a kind the host's settings do not apply to."""
    for line in lines:
        name, _, why = line.partition(" ")
        if name[1:].isdigit() and int(name[1:]) < count:
            yield int(name[1:]), why


def _sent(lines: Iterable[str], kinds: Sequence[str]) -> Iterable[tuple[str, str]]:
    """(kind, "" when sendmail took it, else why not) from ``sent <name> <rc> <err>``."""
    for line in lines:
        name, _, rest = line.partition(" ")
        rc, _, err = rest.partition(" ")
        index = int(name[1:]) if name[1:].isdigit() else -1
        if 0 <= index < len(kinds):
            yield kinds[index], "" if rc == "0" else f"not sent (sendmail exit {rc}: {err.strip()})"


def _outcome(
    kind: str,
    token: str,
    refused: str,
    records: Sequence[tuple[str, Mapping[str, str]]],
    logs: Mapping[str, Mapping[str, tuple[str, str]]],
    queue: Mapping[str, list[str]],
) -> MailOutcome:
    if refused:
        return MailOutcome(refused)
    ours = f"<{token}.{kind}@"
    copies, effects, traces = [], [], set()
    headers: tuple[str, ...] = ()
    for user, record in records:
        where = f"{user} {record.get('mailbox', '?')}"
        parsed = HeaderParser(policy=compat32).parsestr(record.get("hdr", ""))
        if ours in str(parsed.get("Message-ID", "")):
            copies.append(f"{where} ({record.get('flags', '')})")
            headers = headers or _headers(parsed.items(), token)
            lmtp = lmtp_trace(record.get("hdr", "").split("\n"))
            traces.add("lmtp (Received: trace)" if lmtp else "no LMTP trace")
        elif ours in str(parsed.get("References", "")) + str(parsed.get("In-Reply-To", "")):
            effects.append(f"reply in {where}")
    verdicts = logs.get(kind, {})
    recipients = tuple(sorted(f"{r} {v}" for r, (v, _) in verdicts.items()))
    status = _status(recipients, queue.get(kind, []), bool(copies), bool(logs))
    relays = {relay for v, relay in verdicts.values() if v.startswith("delivered")}
    via = tuple(sorted(relays if logs else traces))
    return MailOutcome(
        status, recipients, tuple(sorted(copies)), headers, tuple(sorted(effects)), via
    )


def _status(recipients: Sequence[str], queued: Sequence[str], copied: bool, logged: bool) -> str:
    """The message's DSN class: the worst of its recipients' (bounced, deferred, delivered),
    with a code when any says one (a pipe's delay reason has none; Postfix's log does)."""
    verdicts = {r.split(" ", 1)[1] for r in recipients}
    verdicts |= {f"deferred {_code(reason)}".rstrip() for reason in queued}
    for word in ("bounced", "deferred", "delivered"):
        worst = sorted((v for v in verdicts if v.startswith(word)), key=lambda v: (v == word, v))
        if worst:
            return worst[0]
    if copied:
        return "delivered"
    return "bounced" if not logged else "no outcome logged"


def _code(text: str) -> str:
    found = _DSN.search(text)
    return found.group(1) if found else ""


def _headers(items: Iterable[tuple[str, str]], token: str) -> tuple[str, ...]:
    kept = (
        f"{name}: {' '.join(str(value).split())}".replace(token, "TOKEN")
        for name, value in items
        if name.lower() not in TRACE_HEADERS
    )
    return tuple(sorted(kept))


def _records(lines: Iterable[str]) -> list[tuple[str, dict[str, str]]]:
    """``fetch <user>\\t<line>`` pager output as (user, {field: value}); hdr runs to the end
    of its record (records are separated by a form feed)."""
    records: list[tuple[str, dict[str, str]]] = []
    field = ""
    for line in lines:
        user, _, text = line.partition("\t")
        if text.startswith("\f") or not records or records[-1][0] != user:
            records.append((user, {}))
            text, field = text.lstrip("\f"), ""
        current = records[-1][1]
        name, colon, value = text.partition(":")
        if field != "hdr" and colon and name in ("mailbox", "flags", "hdr"):
            field = name
            current[field] = value.strip() if field != "hdr" else value.lstrip(" ")
        elif field == "hdr":
            current["hdr"] = current["hdr"] + "\n" + text if current["hdr"] else text
    return [r for r in records if r[1]]


def _log_by_kind(lines: Sequence[str], token: str) -> dict[str, dict[str, tuple[str, str]]]:
    """Per kind, each recipient's last Postfix verdict ("delivered 2.0.0") and relay."""
    kinds: dict[str, str] = {}
    for line in lines:
        found = re.search(rf" ([0-9A-Za-z]+): message-id=<{re.escape(token)}\.([a-z0-9-]+)@", line)
        if found:
            kinds[found.group(1)] = found.group(2)
    verdicts: dict[str, dict[str, tuple[str, str]]] = {}
    for line in lines:
        to = _TO.search(line)
        delivery = parse_log_delivery(line, to.group(2)) if to else None
        if to is None or delivery is None or to.group(1) not in kinds:
            continue
        qid = to.group(1)
        verdict = f"{_STATUS.get(delivery.status, delivery.status)} {delivery.dsn}"
        verdicts.setdefault(kinds[qid], {})[delivery.recipient] = (verdict, delivery.relay)
    return verdicts


def _queue_by_kind(lines: Iterable[str]) -> dict[str, list[str]]:
    """Per kind, the delay reasons of its copies still queued."""
    found: dict[str, list[str]] = {}
    for line in lines:
        _, kind, entry = [*line.split(" ", 2), "", ""][:3]
        try:
            data = json.loads(entry)
        except json.JSONDecodeError:
            continue
        for rcpt in data.get("recipients", []) if isinstance(data, dict) else []:
            reason = rcpt.get("delay_reason", "") if isinstance(rcpt, dict) else ""
            found.setdefault(kind, []).append(str(reason))
    return found


def _cleanup(tagged: Mapping[str, list[str]]) -> Cleanup:
    failed = [f"doveadm expunge -u {u} exited {rc}" for u, _, rc in _split(tagged, "expunge")]
    return Cleanup(tuple(tagged.get("left", [])), tuple(failed))


def _split(tagged: Mapping[str, list[str]], tag: str) -> list[tuple[str, str, str]]:
    parts = [line.rpartition(" ") for line in tagged.get(tag, [])]
    return [(u, s, rc) for u, s, rc in parts if rc not in ("0", "1")]
