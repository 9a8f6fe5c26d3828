"""The A/B proof: the production-safe corpus through the LDA before the switch, the same set
through LMTP after it, compared kind by kind.

Only the test recipient (and an alias the plan knows) gets mail, and only kinds that apply
to the host (``corpus.production_kinds``); every copy, queued message and mailbox a batch
made is removed by the batch itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from migrator.delivery.batch import Batch, send_batch
from migrator.delivery.corpus import (
    HostTraits,
    Kind,
    build_mail,
    detail_address,
    new_token,
    production_kinds,
)
from migrator.delivery.outcome import KindProof, MailOutcome, compare
from migrator.delivery.parse import RelayCheck, relay_matches
from migrator.errors import DeliveryError
from migrator.transport.base import Transport


@dataclass(frozen=True, slots=True)
class BeforeProof:
    """What the LDA made of the batch: kept until the same kinds are sent over LMTP."""

    recipient: str
    traits: HostTraits
    kinds: tuple[str, ...]
    outcomes: Mapping[str, MailOutcome]
    skipped: Mapping[str, str]
    seconds: float


def production_batch(
    recipient: str, traits: HostTraits, token: str, kinds: Sequence[str] | None = None
) -> Batch:
    """The batch for RECIPIENT: the kinds that apply to the host (or exactly KINDS)."""
    chosen = production_kinds(traits) if kinds is None else tuple(Kind(k) for k in kinds)
    mails = []
    for kind in chosen:
        to = [recipient]
        if kind is Kind.DETAIL:
            to = [detail_address(recipient, traits.delimiter)]
        elif kind is Kind.ALIAS:
            to = [recipient, traits.alias]
        mails.append(build_mail(kind, new_token(token), to))
    return Batch(new_token(token), tuple(mails), (recipient,))


def prove_before(
    transport: Transport,
    recipient: str,
    traits: HostTraits,
    *,
    token: str,
    log_path: str,
    timeout: float,
) -> BeforeProof:
    """Send the batch through today's (LDA) path and record each kind's outcome.

    Raises DeliveryError when the batch cannot be sent or cleaned up; TransportError.
    """
    batch = production_batch(recipient, traits, token)
    report, seconds = send_batch(transport, batch, log_path=log_path, timeout=timeout)
    sent = tuple(k for k in batch.kinds if k in report.outcomes)
    return BeforeProof(recipient, traits, sent, report.outcomes, report.skipped, seconds)


@dataclass(frozen=True, slots=True)
class AfterProof:
    """The kinds compared, the seconds the LMTP batch took, and whether it settled in time."""

    proofs: tuple[KindProof, ...]
    seconds: float
    waited: int | None = None  # seconds, when the batch had not settled by then


def prove_after(
    transport: Transport,
    before: BeforeProof,
    *,
    token: str,
    log_path: str,
    timeout: float,
    expect_relay: RelayCheck,
) -> AfterProof:
    """Send the kinds BEFORE sent, now over LMTP; compare. Never raises for a difference
    (``proof_failure`` says whether the proofs fail the apply).

    Raises DeliveryError when the batch cannot be sent or cleaned up; TransportError.
    """
    batch = production_batch(before.recipient, before.traits, token, before.kinds)
    report, seconds = send_batch(
        transport, batch, log_path=log_path, timeout=timeout, only_applicable=False
    )
    proofs = compare(before.outcomes, report.outcomes)
    lmtp = tuple(_over_lmtp(p, expect_relay, bool(log_path)) for p in proofs)
    return AfterProof(lmtp, seconds, report.waited)


def _over_lmtp(proof: KindProof, expect: RelayCheck, logged: bool) -> KindProof:
    """A delivered kind must have gone over LMTP: Postfix's relay, or Dovecot's trace."""
    after = proof.after
    if after is None or not after.status.startswith("delivered"):
        return proof
    if logged:
        wrong = [r for r in after.via if not relay_matches(r, expect)]
    else:
        wrong = [v for v in after.via if not v.startswith("lmtp")]
    if not wrong and after.via:
        return proof
    seen = ", ".join(wrong) or "no relay seen"
    return KindProof(
        proof.kind, proof.before, after, (*proof.differences, f"not over LMTP: {seen}")
    )


def parse_accepts(text: str) -> tuple[tuple[str, str], ...]:
    """The plan's announced differences (``proof_before``'s ``accepts``: ``KIND:bounced
    CODE`` or ``*:header NAME``, ";"-separated; the schema checked their form) as pairs."""
    pairs = (spec.partition(":") for spec in text.split(";") if spec)
    return tuple((kind, what) for kind, _, what in pairs)


def accept(
    proofs: Sequence[KindProof], accepts: Sequence[tuple[str, str]]
) -> tuple[KindProof, ...]:
    """Each proof whose differences are all ones the plan announced, marked ``announced``
    (shown, never failing): a kind that may bounce with a code (SMTPUTF8 on Dovecot 2.3's
    LMTP), headers that may change or vanish (X-Original-To after local(8))."""
    return tuple(_announced(p, accepts) for p in proofs)


# The status of a message that left the queue and reached no mailbox on a host whose
# Postfix logs nowhere migrator can read (``outcome._status``): bounced, code unknown.
_UNCODED_BOUNCE = "bounced"


def _announced(proof: KindProof, accepts: Sequence[tuple[str, str]]) -> KindProof:
    mine = [what for kind, what in accepts if kind in ("*", proof.kind)]
    after = proof.after
    if proof.same or after is None or not mine:
        return proof
    bounces = [w for w in mine if w.startswith("bounced ")]
    if any(after.status.startswith(code) for code in bounces):
        return replace(proof, announced=f"{proof.kind}: {after.status}, as the plan warned")
    if bounces and after.status == _UNCODED_BOUNCE:
        # A host with no mail log: the message left the queue and reached no mailbox; the
        # code cannot be read, the bounce was announced.
        said = f"{proof.kind}: bounced (no mail log to read its code), as the plan warned"
        return replace(proof, announced=said)
    names = tuple(w.removeprefix("header ").lower() + ":" for w in mine if w.startswith("header "))
    others = [d for d in proof.differences if not d.startswith("headers:")]
    kept_before = [h for h in proof.before.headers if not h.lower().startswith(names)]
    kept_after = [h for h in after.headers if not h.lower().startswith(names)]
    if names and not others and kept_before == kept_after:
        said = ", ".join(n.rstrip(":") for n in names)
        return replace(proof, announced=f"{proof.kind}: {said} changed, as the plan warned")
    return proof


def proof_failure(proofs: Sequence[KindProof], waited: int | None = None) -> str | None:
    """Why the proofs fail the apply (each kind that differs, in one short line), or None.

    WAITED (the batch had not settled after that many seconds) is said first: a busy or hung
    LMTP, not a different outcome. The full differences are in the proofs themselves (the
    table, the JSON report).
    """
    failed = [p for p in proofs if not p.same and not p.improved and not p.announced]
    if not failed:
        return None
    said = "; ".join(f"{p.kind}: {_difference(p)}" for p in failed)
    late = f"the proof messages were not all delivered within {waited} s; " if waited else ""
    return f"{late}LMTP delivered {len(failed)} kind(s) unlike the LDA: {said}"


def _difference(proof: KindProof) -> str:
    if proof.after is None:
        return "not sent after the switch"
    if proof.before.summary != proof.after.summary:
        return f"{proof.before.summary} -> {proof.after.summary}"
    return "differs in " + ", ".join(d.split(":", 1)[0] for d in proof.differences)


def improvement_note(proofs: Sequence[KindProof]) -> str:
    """The kinds the LDA did not deliver and LMTP does (not a failure), or ""."""
    better = [p for p in proofs if p.improved]
    return "; ".join(f"{p.kind}: {p.before.status} -> delivered" for p in better)


def require_delivered(before: BeforeProof, host: str) -> None:
    """Raise DeliveryError when the LDA did not deliver the plain message: the path that
    is to be compared does not work, so nothing can be proven."""
    plain = before.outcomes.get(Kind.PLAIN.value)
    if plain is None or not plain.status.startswith("delivered"):
        status = plain.status if plain else "not sent"
        raise DeliveryError(
            f"the LDA did not deliver the plain proof message ({status}): nothing to compare "
            "with; nothing was changed",
            host=host,
        )
