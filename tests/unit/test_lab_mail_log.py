"""Reading Postfix's log for a message's outcome (pure)."""

from __future__ import annotations

from migrator.lab.mail import Delivery, deliveries

LOG = """\
Nov 25 02:42:09 h postfix/pipe[8434]: ABF961640CA: to=<alice@example.test>, orig_to=<team@example.test>, relay=dovecot, delay=0.05, delays=0/0.01/0/0.04, dsn=2.0.0, status=sent (delivered via dovecot service)
Nov 25 02:42:09 h postfix/lmtp[8435]: ABF961640CA: to=<bob@example.test>, relay=h[private/dovecot-lmtp], delay=0.06, delays=0/0.03/0/0.03, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.test> Saved)
Nov 25 02:42:09 h postfix/pipe[8436]: C0FFEE12345: to=<carol@example.test>, relay=dovecot, delay=0.1, delays=0/0/0/0.1, dsn=4.3.0, status=deferred (temporary failure)
"""  # noqa: E501


def test_deliveries_of_one_queue_id() -> None:
    assert deliveries(LOG, "ABF961640CA") == [
        Delivery("ABF961640CA", "alice@example.test", "team@example.test", "dovecot", "sent"),
        Delivery("ABF961640CA", "bob@example.test", None, "h[private/dovecot-lmtp]", "sent"),
    ]
    assert deliveries(LOG, "C0FFEE12345")[0].status == "deferred"
    assert deliveries(LOG, "0000") == []
