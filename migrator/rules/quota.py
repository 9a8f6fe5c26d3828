"""Mail to a user over quota: what the LDA did with it and what LMTP will do, for the plan.

Measured in the lab (tests/lab/test_quota.py), alike on Dovecot 2.3.13/Postfix 3.5.25,
2.3.19/3.7.11 and 2.4.1/3.10.13, the quota plugin loaded for both paths:

- ``quota_full_tempfail = no`` (the default): the LDA mails Dovecot's own rejection
  ("Rejected: SUBJECT", from ``postmaster_address``) to the sender and exits 0, so Postfix
  logs the message sent (2.0.0); LMTP answers 552 5.2.2 and Postfix bounces it (5.2.2) with
  its own DSN ("Undelivered Mail Returned to Sender"). Neither saves it; the sender hears of
  it either way, in a different mail; Postfix's log now says bounced where it said sent.
- ``quota_full_tempfail = yes``: the LDA exits 75 and Postfix defers it (4.3.0); LMTP answers
  452 4.2.2 and Postfix defers it (4.2.2). Both retry, and bounce after maximal_queue_lifetime.
- ``lmtp_rcpt_check_quota = yes`` moves LMTP's answer from DATA to RCPT TO, with the same code.

With the plugin for one path only (``mail_plugins`` as each path reads it: the global list,
then protocol lda's or protocol lmtp's), the quota binds on that path alone: the other saves
the message past the quota (premise measured on Dovecot 2.3.19: tests/lab/test_quota.py).

No setting makes LMTP send Dovecot's rejection, and ``quota_full_tempfail = yes`` would turn
a bounce into days in the queue: a policy the plan does not change, only names.
Pure: setting values in, a warning out.
"""

from __future__ import annotations

from collections.abc import Sequence

_LDA = {
    False: 'mailed Dovecot\'s own rejection ("Rejected: ...", from postmaster_address) to the '
    "sender and exited 0, so Postfix logged it sent (2.0.0)",
    True: "exited 75 and Postfix deferred it (4.3.0)",
}
_LMTP = {
    False: "answers 552 5.2.2 and Postfix bounces it (5.2.2) with its own DSN to the sender",
    True: "answers 452 4.2.2 and Postfix defers it (4.2.2)",
}
MEASURED = "measured on Dovecot 2.3.13, 2.3.19 and 2.4.1"


def dovecot_bool(value: str | None) -> bool:
    """A Dovecot boolean as Dovecot reads it (yes, y, 1; case-insensitive); unset is no."""
    return (value or "").strip().lower() in ("yes", "y", "1")


def quota_warning(
    lda_tempfail: str | None, lmtp_tempfail: str | None, rcpt_check: str | None
) -> str:
    """The plan's warning for a host whose LDA loaded the quota plugin: what each path does
    with a message to a user over quota, given quota_full_tempfail as the LDA read it and as
    protocol lmtp will, and lmtp_rcpt_check_quota. Never raises."""
    lda, lmtp = dovecot_bool(lda_tempfail), dovecot_bool(lmtp_tempfail)
    said = {True: "yes", False: "no"}
    text = (
        "quota: a message to a user over quota is saved by neither path, but ends differently: "
        f"the LDA {_LDA[lda]} (quota_full_tempfail = {said[lda]}); LMTP {_LMTP[lmtp]} "
        f"(quota_full_tempfail = {said[lmtp]} in protocol lmtp)"
    )
    if not lda and not lmtp:
        text += (
            "; quota_full_tempfail = yes would make both defer instead (a policy the plan "
            "leaves as it is)"
        )
    elif lda and lmtp:
        text += "; Postfix retries and bounces it after maximal_queue_lifetime on both paths"
    if dovecot_bool(rcpt_check):
        text += "; lmtp_rcpt_check_quota = yes: LMTP answers so at RCPT TO, before DATA"
    else:
        text += (
            "; lmtp_rcpt_check_quota = yes would answer so at RCPT TO, before DATA, with the "
            "same code (Postfix has queued the message either way)"
        )
    return f"{text} ({MEASURED})"


def quota_warnings(
    lda_plugins: Sequence[str],
    lmtp_plugins: Sequence[str],
    lda_tempfail: str | None,
    lmtp_tempfail: str | None,
    rcpt_check: str | None,
) -> list[str]:
    """The plan's quota warnings, given the plugins each path loads (the LDA's, and LMTP's
    as the plan leaves them): how each ends a message to a user over quota when both load the
    quota plugin, or that only one enforces the quota. Never raises."""
    lda, lmtp = "quota" in lda_plugins, "quota" in lmtp_plugins
    if lda and lmtp:
        return [quota_warning(lda_tempfail, lmtp_tempfail, rcpt_check)]
    if not lda and not lmtp:
        return []
    said = {True: "yes", False: "no"}
    lists = (
        f"the LDA loaded mail_plugins = {' '.join(lda_plugins) or '(none)'}, LMTP will load "
        f"{' '.join(lmtp_plugins) or '(none)'}"
    )
    if lda:
        tempfail = dovecot_bool(lda_tempfail)
        return [
            f"quota: {lists}: the quota plugin for the LDA only. A message to a user over "
            f"quota, which the LDA {_LDA[tempfail]} (quota_full_tempfail = {said[tempfail]}), "
            "will be saved over LMTP past the quota: nothing enforces the quota on delivery "
            "any more; load quota in protocol lmtp too to keep it"
        ]
    tempfail = dovecot_bool(lmtp_tempfail)
    return [
        f"quota: {lists}: the quota plugin for LMTP only. A message to a user over quota, "
        f"which the LDA saved past the quota, LMTP {_LMTP[tempfail]} (quota_full_tempfail = "
        f"{said[tempfail]} in protocol lmtp): mail the LDA delivered will be refused "
        f"({MEASURED})"
    ]
