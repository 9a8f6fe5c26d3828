"""Send a batch of corpus messages through the host's Postfix and read what became of each.

ONE remote command per batch (``batch_scripts.BATCH_SH``): the messages go on stdin as a tar
(never on argv, so sudo's log gets no copy), the script sends them all, waits until Postfix
has settled each, reports, and removes every copy, queued message and mailbox it made.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

from migrator.address import check_recipient
from migrator.delivery.batch_scripts import BATCH_SH
from migrator.delivery.corpus import ProofMail
from migrator.delivery.outcome import BatchReport, parse_batch
from migrator.delivery.parse import one_line
from migrator.errors import DeliveryError
from migrator.transport.base import Transport

LOG_WINDOW = 8 * 1024 * 1024
_SPARE = 15.0  # seconds the SSH command may take beyond the script's own wait


@dataclass(frozen=True, slots=True)
class Batch:
    """What a batch sends and where it looks: the token, the mails, the mailbox owners."""

    token: str
    mails: tuple[ProofMail, ...]
    mailboxes: tuple[str, ...]  # recipients whose mailboxes are searched and cleaned

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(m.kind.value for m in self.mails)


def send_batch(
    transport: Transport,
    batch: Batch,
    *,
    log_path: str,
    timeout: float = 20.0,
    keep: bool = False,
    only_applicable: bool = True,
) -> tuple[BatchReport, float]:
    """Send BATCH, report each kind's outcome and the seconds the one command took.

    KEEP leaves the messages where they landed (the lab corpus reads them);
    ONLY_APPLICABLE skips SMTPUTF8 mail when Postfix has it off (the report says so). Raises
    DeliveryError when the script fails or, unless KEEP, leaves any message behind;
    TransportError when the host cannot be reached. An outcome that is not a delivery is
    reported, never raised: comparing it is the caller's business.
    """
    senders = [m.sender for m in batch.mails if m.sender]
    for address in {*batch.mailboxes, *senders, *(r for m in batch.mails for r in m.recipients)}:
        check_recipient(address, host=transport.host)
    argv = ["sh", "-c", BATCH_SH, "sh", batch.token, log_path, f"{max(1, round(timeout))}"]
    argv += [str(LOG_WINDOW), "keep" if keep else "clean", "auto" if only_applicable else "all"]
    argv += batch.mailboxes
    started = time.monotonic()
    result = transport.run(argv, stdin=pack(batch.mails), timeout=timeout + _SPARE)
    seconds = time.monotonic() - started
    report = parse_batch(result.out, batch.token, batch.kinds)
    failure = report.error or ("" if result.ok else f"exited {result.rc}: {one_line(result.err)}")
    if not failure and not keep and not report.cleanup.ok:
        failure = "not removed: " + "; ".join(report.cleanup.left + report.cleanup.failed)
    if failure:
        raise DeliveryError(f"proof batch {batch.token}: {failure}", host=transport.host)
    return report, seconds


def pack(mails: Sequence[ProofMail]) -> bytes:
    """The tar the batch script reads: ``manifest`` and one file ``m<index>`` per mail."""
    lines = [
        f"m{i} {int(m.smtputf8)} {m.sender or '-'} {' '.join(m.recipients)}\n"
        for i, m in enumerate(mails)
    ]
    members = [("manifest", "".join(lines).encode())]
    members += [(f"m{i}", m.content) for i, m in enumerate(mails)]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
