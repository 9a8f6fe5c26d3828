"""The start of an apply's transaction, once the lock is held: the drift check (the plan's
files are as the plan read them) and the journal's first state, opened before any write."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from migrator.errors import PlanDriftError
from migrator.executor import services
from migrator.executor.journal import Journal, JournalState, JournalStatus, Original, now
from migrator.plan.document import FileChange, Plan
from migrator.transport.base import FileData, Transport


def check_drift(transport: Transport, plan: Plan) -> Mapping[str, FileData]:
    """Read the plan's files; raise PlanDriftError (naming them) if any no longer matches.

    A file matches when it exists with the plan's sha256_before, owner, group and mode: apply
    writes the owner and mode the plan names, so a plan may never change them.
    """
    current = transport.read_files([f.path for f in plan.files])
    drifted = [f.path for f in plan.files if not _unchanged(current[f.path], f)]
    if drifted:
        raise PlanDriftError(
            f"changed since the plan was made: {', '.join(drifted)}; nothing was changed, "
            "plan again",
            host=transport.host,
        )
    return current


def _unchanged(data: FileData, change: FileChange) -> bool:
    """Whether a file is as the plan read it: content, owner, group and mode."""
    found = (data.exists, data.sha256, data.owner, data.group, f"{data.mode:04o}")
    return found == (True, change.sha256_before, change.owner, change.group, change.mode)


@dataclass(frozen=True, slots=True)
class Opened:
    """What the journal records besides the plan: the host's files and runtime, who applies."""

    originals: Mapping[str, FileData]
    recipient: str
    runtime: services.Runtime
    node: str
    follows: str


def open_journal(journal: Journal, plan: Plan, opened: Opened) -> JournalState:
    """The apply's first state (status applying, step start), written with the originals
    by ``Journal.open``. Raises PlanDriftError, JournalError."""
    after = {f.path: f.sha256_after for f in plan.files}
    state = JournalState(
        plan_id=plan.plan_id,
        host=plan.host,
        status=JournalStatus.APPLYING,
        step="start",
        node=opened.node,
        started=now(),
        updated=now(),
        originals=tuple(
            Original(p, d.exists, d.owner, d.group, d.mode, d.sha256, after[p], d.link, d.target)
            for p, d in sorted(opened.originals.items())
        ),
        postmaps=tuple(s.args["map"] for s in plan.steps if s.action == "postmap"),
        test_recipient=opened.recipient,
        lda_relays=plan.lda_services or ("local",),
        log_path=opened.runtime.log_path,
        follows=opened.follows,
        # Rolled back, a finalized host still delivers over LMTP: that is what rollback proves.
        lmtp_endpoint=plan.endpoint if opened.follows else "",
        queue_directory=str(plan.facts.get("queue_directory", "")) if opened.follows else "",
    )
    journal.open(opened.originals, state)
    return state
