"""The fact finalize needs: which queued messages are bound to a master.cf service.

Postfix's queue manager resolves each recipient to a transport when the message enters the
active queue, with the config of that moment: a message deferred or held before the switch
is resolved again (to LMTP) when it is retried or released. What binds a queued message to
a transport whatever the config says is a content filter record in its queue file (a
``FILTER transport:`` action, a ``content_filter``), which ``postcat -e`` shows. So the
queue is read as ``postqueue -j`` lists it, each message's envelope with ``postcat -qe``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from migrator.errors import FactError, RefusedError
from migrator.transport.base import Transport

# For each queued message, one line: "message QUEUE_NAME QUEUE_ID CONTENT_FILTER" ("-": none).
# A message gone between the two commands (delivered meanwhile: postcat finds no queue file)
# is skipped; one postcat cannot read otherwise is "unreadable QUEUE_NAME QUEUE_ID", which
# refuses (it may be bound to the pipe). Exit 3: no queue.
QUEUE_SCRIPT = r"""
list=$(postqueue -j 2>&1) || { printf '%s\n' "$list" >&2; exit 3; }
printf '%s\n' "$list" | while IFS= read -r entry; do
  id=$(printf '%s\n' "$entry" | sed -n 's/.*"queue_id": *"\([0-9A-Za-z]*\)".*/\1/p')
  name=$(printf '%s\n' "$entry" | sed -n 's/.*"queue_name": *"\([a-z]*\)".*/\1/p')
  [ -n "$id" ] || continue
  envelope=$(postcat -qe "$id" 2>&1) || {
    case $envelope in *"No such file or directory"*) continue ;; esac
    printf 'unreadable %s %s\n' "${name:-unknown}" "$id"; continue
  }
  filter=$(printf '%s\n' "$envelope" | sed -n 's/^content_filter: *//p' | head -n 1)
  printf 'message %s %s %s\n' "${name:-unknown}" "$id" "${filter:--}"
done
"""
# The filter is the rest of the line: the host wrote it, and it may hold spaces.
_LINE = re.compile(r"(message|unreadable) ([a-z]+) ([0-9A-Za-z]+)(?: (.*))?")
# What a message bound to no transport we know of is, for the checks: an unreadable one.
UNREADABLE = "?"


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """One message in Postfix's queue: which queue, its id, its content filter ('' none)."""

    queue_name: str
    queue_id: str
    content_filter: str

    @property
    def transport(self) -> str:
        """The master.cf service the content filter names ('' without one)."""
        return self.content_filter.split(":", 1)[0].strip()


def parse_queue(output: str, host: str = "") -> tuple[QueuedMessage, ...]:
    """QUEUE_SCRIPT's output as records (pure). An unreadable message gets the content
    filter UNREADABLE (bound to every service: it may be bound to any).

    Raises FactError for a line not of the script's form: the queue is read fail-closed,
    never by skipping what cannot be parsed.
    """
    found = []
    for line in output.split("\n"):
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None or (match[1] == "message") != (match[4] is not None):
            shown = line if len(line) <= 80 else line[:77] + "..."
            raise FactError(f"cannot read the mail queue: unexpected line {shown!r}", host=host)
        kind, name, queue_id, content_filter = match.groups()
        if kind == "unreadable":
            content_filter = UNREADABLE
        found.append(QueuedMessage(name, queue_id, "" if content_filter == "-" else content_filter))
    return tuple(found)


def read_queue(transport: Transport) -> tuple[QueuedMessage, ...]:
    """Every queued message and its content filter, in one round trip.

    Raises FactError when `postqueue -j` fails (Postfix not running), TransportError.
    """
    result = transport.run(["sh", "-c", QUEUE_SCRIPT, "migrator-queue"], timeout=120)
    if not result.ok:
        detail = (result.err or result.out).strip().splitlines() or [f"exit {result.rc}"]
        raise FactError(f"cannot read the mail queue: {detail[-1]}", host=transport.host)
    return parse_queue(result.out, transport.host)


def bound_to(messages: Sequence[QueuedMessage], services: Sequence[str]) -> list[QueuedMessage]:
    """The messages whose content filter sends them to one of services, and those whose
    queue file could not be read (pure)."""
    wanted = {*services, UNREADABLE}
    return [m for m in messages if m.transport in wanted]


def check_queue(transport: Transport, services: Sequence[str]) -> None:
    """Refuse while any queued message is bound to one of services.

    Raises RefusedError with the count and the first queue ids, FactError, TransportError.
    """
    bound = bound_to(read_queue(transport), services)
    if bound:
        shown = ", ".join(f"{m.queue_id} ({_state(m)})" for m in bound[:5])
        more = f" and {len(bound) - 5} more" if len(bound) > 5 else ""
        raise RefusedError(
            f"{len(bound)} message(s) queued for the old LDA transport "
            f"{' '.join(services)}: {shown}{more}; the pipe service stays until they are "
            "delivered (`postqueue -f`, `postsuper -H` for held ones), then finalize again",
            host=transport.host,
        )


def _state(message: QueuedMessage) -> str:
    unreadable = message.content_filter == UNREADABLE
    return f"{message.queue_name}, unreadable" if unreadable else message.queue_name
