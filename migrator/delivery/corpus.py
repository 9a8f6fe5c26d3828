"""The message corpus: kinds of mail the LDA and LMTP must deliver alike, built as bytes.

Pure: no I/O. Each message carries one batch token in its Message-ID and in an
``X-Migrator-Proof`` header, so that every copy (and every Sieve side effect that quotes it)
can be found, compared and removed. ``production_kinds`` picks the production-safe subset
for a live host: only the test recipient, and only kinds the host's settings make apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTPUTF8
from enum import StrEnum

from migrator.errors import UsageError

PROOF_HEADER = "X-Migrator-Proof"
# A Message-ID Postfix never folds (short) and that names no real host.
_ID_DOMAIN = "proof.migrator.invalid"
_TOKEN = re.compile(r"[a-z0-9]{6,32}")
DETAIL = "migrator-proof"
LIST_ID = "<proof.migrator.invalid>"


class Kind(StrEnum):
    """A kind of message, by what it exercises on the delivery path."""

    PLAIN = "plain"
    EIGHT_BIT = "8bit"
    SMTPUTF8 = "smtputf8"
    DETAIL = "detail"
    LIST = "list"
    ALIAS = "alias"
    MANY = "many-recipients"
    SIZE_LIMIT = "size-limit"
    OVER_QUOTA = "over-quota"
    UNKNOWN = "unknown-recipient"
    VACATION = "vacation"
    REDIRECT = "redirect"


# The order of the production-safe subset: each sent only to the test recipient (and, for
# ALIAS, to an alias the plan knows).
PRODUCTION: tuple[Kind, ...] = (
    Kind.PLAIN,
    Kind.EIGHT_BIT,
    Kind.SMTPUTF8,
    Kind.DETAIL,
    Kind.LIST,
    Kind.ALIAS,
)


@dataclass(frozen=True, slots=True)
class HostTraits:
    """What decides which kinds apply to a host: Postfix's SMTPUTF8 and delimiter, Sieve."""

    smtputf8: bool = False
    delimiter: str = ""
    sieve: bool = False
    alias: str = ""


@dataclass(frozen=True, slots=True)
class ProofMail:
    """One message of a batch: its kind, envelope and bytes (sendmail reads them)."""

    kind: Kind
    message_id: str
    sender: str  # envelope sender; "" is the null sender
    recipients: tuple[str, ...]
    smtputf8: bool
    content: bytes


def production_kinds(traits: HostTraits) -> tuple[Kind, ...]:
    """The production-safe kinds that apply to a host with these traits, in order."""
    applies = {
        Kind.SMTPUTF8: traits.smtputf8,
        Kind.DETAIL: bool(traits.delimiter),
        Kind.LIST: traits.sieve,
        Kind.ALIAS: bool(traits.alias),
    }
    return tuple(k for k in PRODUCTION if applies.get(k, True))


def traits_from_facts(facts: Mapping[str, object], smtputf8: bool) -> HostTraits:
    """A plan's facts (its ``delivery`` inventory) as HostTraits; SMTPUTF8 is Postfix's
    effective ``smtputf8_enable``, which only the live host knows."""
    delivery = facts.get("delivery")
    inventory = delivery if isinstance(delivery, Mapping) else {}
    delimiters = inventory.get("recipient_delimiter")
    delimiter = delimiters.get("postfix") if isinstance(delimiters, Mapping) else None
    lda = inventory.get("protocol_lda")
    plugins = lda.get("mail_plugins") if isinstance(lda, Mapping) else None
    sieve = isinstance(plugins, str) and "sieve" in plugins.split()
    return HostTraits(smtputf8, delimiter if isinstance(delimiter, str) else "", sieve)


def new_token(seed: str) -> str:
    """A batch token from a hex seed (uuid4().hex): lowercase, [a-z0-9]{6,32}.

    Raises UsageError for a seed that makes no such token.
    """
    token = seed.lower()[:32]
    if not _TOKEN.fullmatch(token):
        raise UsageError(f"proof token {seed!r}: use 6-32 of a-z 0-9")
    return token


def detail_address(recipient: str, delimiter: str) -> str:
    """RECIPIENT with the ``+detail`` (the first delimiter character) the DETAIL kind uses."""
    local, _, domain = recipient.rpartition("@")
    return f"{local}{delimiter[:1]}{DETAIL}@{domain}"


def build_mail(
    kind: Kind,
    token: str,
    recipients: Sequence[str],
    *,
    sender: str = "",
    size: int = 0,
) -> ProofMail:
    """The message of KIND to RECIPIENTS, marked with TOKEN. SIZE pads SIZE_LIMIT's body.

    Raises UsageError for a token that is not [a-z0-9]{6,32}.
    """
    new_token(token)
    message = EmailMessage(policy=SMTPUTF8)
    message_id = f"<{token}.{kind.value}@{_ID_DOMAIN}>"
    message["From"] = _FROM.get(kind, "Migrator Proof <proof@migrator.invalid>")
    message["To"] = ", ".join(recipients)
    message["Subject"] = _SUBJECT.get(kind, f"migrator proof {kind.value}")
    message["Date"] = "Thu, 01 Jan 2026 00:00:00 +0000"
    message["Message-ID"] = message_id
    message[PROOF_HEADER] = f"{token} {kind.value}"
    if kind is Kind.LIST:
        message["List-Id"] = LIST_ID
    _set_body(message, kind, size)
    utf8 = kind is Kind.SMTPUTF8
    content = message.as_bytes(policy=SMTPUTF8.clone(linesep="\n"))
    return ProofMail(kind, message_id, sender, tuple(recipients), utf8, content)


_FROM = {Kind.SMTPUTF8: "Jörg Prüfer <jörg@bücher.example>"}
_SUBJECT = {
    Kind.SMTPUTF8: "migrator proof smtputf8: Grüße, 日本語",
    Kind.EIGHT_BIT: "migrator proof 8bit",
    Kind.VACATION: "migrator proof vacation",
}


def _set_body(message: EmailMessage, kind: Kind, size: int) -> None:
    text = f"A migrator delivery proof ({kind.value}); removed once compared.\n"
    if kind in (Kind.EIGHT_BIT, Kind.SMTPUTF8):
        message.set_content(text + "Grüße aus Köln: äöüß, ½ °C.\n", cte="8bit")
    elif kind is Kind.SIZE_LIMIT:
        line = "x" * 76 + "\n"
        message.set_content(text + line * max(0, (size - 1024) // len(line)), cte="7bit")
    else:
        message.set_content(text, cte="7bit")
