"""Planning: read a host, plan its switch, and make the Plan document.

``build_plan`` reads a host through a transport and never prints; ``plan_from_snapshot`` is
the pure part (same snapshot in, same plan out).
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

from deepdiff import DeepDiff

from migrator import __version__
from migrator.config.edits import Edit, SetDovecotSetting
from migrator.config.reader import ParseCache, Reader
from migrator.config.tree import ConfigTree
from migrator.endpoint import Endpoint
from migrator.errors import FactError
from migrator.host.config import HostConfig, read_host_config, settings_view
from migrator.host.facts import FactOverrides, Facts
from migrator.host.queue import check_queue
from migrator.host.snapshot import Snapshot, read_host, snapshot_lenses
from migrator.plan.document import FORMAT_VERSION, Change, FileChange, Plan, Step
from migrator.plan.schema import LMTP_DRAIN_SECONDS
from migrator.rules.finalize import finalize_edits
from migrator.rules.switch import Options, RuleResult, plan_edits
from migrator.transport.base import Transport, sha256

_DEEPER = 0.33
"""DeepDiff's threshold_to_diff_deeper (its default, pinned): a dict whose share of common
keys is below it is reported as one changed value."""


def build_plan(
    transport: Transport,
    options: Options,
    *,
    overrides: FactOverrides | None = None,
    now: datetime | None = None,
    cache: ParseCache | None = None,
    finalize: bool = False,
) -> Plan:
    """Read the host through ``transport`` and plan its switch (with ``finalize``: the removal
    of the LDA pipe services the switch left). Never prints, never writes.

    ``cache``, shared by the hosts of one run, parses and edits each distinct file once.
    Raises FactError, TransportError, ConfigParseError, RefusedError (finalize: also while
    mail is queued for a pipe service to remove, with the count), UsageError.
    """
    # One Augeas tree for reading and planning: each file is parsed once.
    with ConfigTree(transport.host, {}, {}) as tree:
        reader = Reader(tree, cache)
        facts, snapshot = read_host(transport, options.test_recipient, overrides, reader=reader)
        plan = plan_from_snapshot(
            facts, snapshot, options, now=now, reader=reader, finalize=finalize
        )
    if finalize and plan.has_changes:
        check_queue(transport, plan.lda_services)
    return plan


def plan_from_snapshot(
    facts: Facts,
    snapshot: Snapshot,
    options: Options,
    *,
    now: datetime | None = None,
    reader: Reader | None = None,
    finalize: bool = False,
) -> Plan:
    """The pure part of planning: same facts and snapshot in, same plan out.

    ``reader`` may already have parsed some of the snapshot's files (in ``read_host``).
    """
    _check_postfix_files(snapshot)
    # No Dovecot config (a Postfix-only root, Dovecot in another container) is refused by
    # the rules only when a hook runs the LDA: otherwise there is nothing to plan for it.
    originals = {path: snapshot.content(path) for path in snapshot_lenses(snapshot)}
    with ExitStack() as stack:
        if reader is None:
            reader = Reader(stack.enter_context(ConfigTree(snapshot.host, {}, {})))
        before, result, after_contents, after = _edit(reader, facts, snapshot, options, finalize)
    files = _file_changes(snapshot, originals, after_contents)
    created = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Plan(
        format_version=FORMAT_VERSION,
        plan_id=_plan_id(created, files),
        host=snapshot.host,
        created=created,
        migrator_version=__version__,
        facts={**facts.summary(), "delivery": dict(result.inventory)},
        endpoint=result.endpoint.postfix,
        lda_services=result.lda_services,
        changes=tuple(_changes(result.edits)),
        files=files,
        settings_diff=settings_diff(settings_view(before), settings_view(after)),
        steps=_plan_steps(files, result, facts, options, snapshot, finalize),
        warnings=result.warnings,
    )


def _check_postfix_files(snapshot: Snapshot) -> None:
    """Raises FactError when main.cf or master.cf is missing: there is nothing to plan."""
    for path in (snapshot.main_cf, snapshot.master_cf):
        if path not in snapshot.files or not snapshot.files[path].exists:
            raise FactError("Postfix config file not found", host=snapshot.host, path=path)


def _file_changes(
    snapshot: Snapshot, originals: dict[str, bytes], after: dict[str, bytes]
) -> tuple[FileChange, ...]:
    """Each file the edits change, in the order the plan shows them."""
    return tuple(
        _file_change(snapshot, path, originals[path], after[path])
        for path in sorted(originals, key=lambda p: _file_order(snapshot, p))
        if after[path] != originals[path]
    )


def _plan_id(created: str, files: tuple[FileChange, ...]) -> str:
    """When the plan was made and what it changes: two plans of the same host differ."""
    digest = sha256(b"".join(f.sha256_before.encode() + f.sha256_after.encode() for f in files))
    return f"{created.replace('-', '').replace(':', '')}-{digest[:8]}"


def _edit(
    reader: Reader, facts: Facts, snapshot: Snapshot, options: Options, finalize: bool
) -> tuple[HostConfig, RuleResult, dict[str, bytes], HostConfig]:
    """Parse, plan the edits, apply them through the lenses, save, re-read the result."""
    lenses = snapshot_lenses(snapshot)
    originals = {path: snapshot.content(path) for path in lenses}
    before = read_host_config(reader, snapshot, originals)
    result = finalize_edits(facts, before) if finalize else plan_edits(facts, before, options)
    after_contents = reader.edit_files(originals, lenses, result.edits)
    # The saved files must read back through their lenses: parsed afresh, not the edited tree.
    return before, result, after_contents, read_host_config(reader, snapshot, after_contents)


def settings_diff(
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """The deepdiff (verbose) of two settings views, as plain data: what a plan records.

    Settings equal on both sides are left out first (``_unequal``), which the result
    cannot tell. Never raises on well-formed views.
    """
    found = DeepDiff(*_unequal(before, after), verbose_level=2, threshold_to_diff_deeper=_DEEPER)
    result: dict[str, Any] = json.loads(found.to_json())
    return result


def _unequal(
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Both settings views without settings equal on both sides, as far as that leaves
    DeepDiff's result as it was: it reports nothing for them, and walking them was most of
    its cost (a main.cf has a hundred parameters, the switch changes a few)."""
    drop = {
        name: _droppable(before.get(name, {}), after.get(name, {}))
        for name in before.keys() | after.keys()
    }
    return (
        {name: _without(section, drop[name]) for name, section in before.items()},
        {name: _without(section, drop[name]) for name, section in after.items()},
    )


def _droppable(before: dict[str, str], after: dict[str, str]) -> frozenset[str]:
    """The keys equal (same type, same value) on both sides whose absence DeepDiff cannot
    tell. It reports a dict whose keys are mostly not common (below ``_DEEPER``) as one
    changed value, whole: such a section stays whole, and from the others no more keys go
    than keep the common share at or above ``_DEEPER``."""
    union = len(before.keys() | after.keys())
    common = len(before.keys() & after.keys())
    if union > 1 and common / union < _DEEPER:
        return frozenset()
    equal = [k for k, v in before.items() if k in after and type(after[k]) is type(v)]
    equal = [k for k in equal if after[k] == before[k]]
    count = 0
    while count < len(equal) and (
        union - count - 1 <= 1 or (common - count - 1) / (union - count - 1) >= _DEEPER
    ):
        count += 1
    return frozenset(equal[:count])


def _without(section: dict[str, str], keys: frozenset[str]) -> dict[str, str]:
    return {key: value for key, value in section.items() if key not in keys}


def _changes(edits: tuple[Edit, ...]) -> list[Change]:
    """One Change per edit, except that settings of one new block read as one change."""
    changes: list[Change] = []
    group: list[SetDovecotSetting] = []

    def flush() -> None:
        if len(group) > 1:
            where = " / ".join(str(ref) for ref in group[0].chain)
            values = ", ".join(f"{e.key} = {e.value}" for e in group)
            what = f"{where}: {values}" if where else f"set {values}"
            changes.append(Change(group[0].file, f"{group[0].file}: {what}", group[0].reason))
        elif group:
            changes.append(Change(group[0].file, group[0].describe(), group[0].reason))
        group.clear()

    for edit in edits:
        if isinstance(edit, SetDovecotSetting) and (
            not group
            or (group[0].file, group[0].chain, group[0].reason)
            == (edit.file, edit.chain, edit.reason)
        ):
            group.append(edit)
            continue
        flush()
        if isinstance(edit, SetDovecotSetting):
            group.append(edit)
        else:
            changes.append(Change(edit.file, edit.describe(), edit.reason))
    flush()
    return changes


def _plan_steps(
    files: tuple[FileChange, ...],
    result: RuleResult,
    facts: Facts,
    options: Options,
    snapshot: Snapshot,
    finalize: bool,
) -> tuple[Step, ...]:
    """The ordered steps: none without files; the switch's, or finalize's."""
    if not files:
        return ()
    if finalize:
        return tuple(_finalize_steps(files, result, options))
    return tuple(_steps(files, result, facts, options, _postfix_paths(snapshot)))


def _finalize_steps(
    files: tuple[FileChange, ...], result: RuleResult, options: Options
) -> list[Step]:
    """Nothing queued for the pipe services (checked again right before the write), Postfix's
    files, postfix check, reload, and a test message proven delivered over LMTP."""
    steps = [Step("check_queue", {"services": " ".join(result.lda_services)})]
    steps.extend(_write_step(f) for f in files)
    steps.append(Step("validate_postfix", {"argv": "postfix check"}))
    steps.append(Step("reload_postfix", {"argv": "postfix reload"}))
    steps.append(Step("test_delivery", {"recipient": options.test_recipient or ""}))
    return steps


def _steps(
    files: tuple[FileChange, ...],
    result: RuleResult,
    facts: Facts,
    options: Options,
    postfix_paths: frozenset[str],
) -> list[Step]:
    """Dovecot first, proven by a probe, and only then Postfix: Postfix's short-lived
    daemons read main.cf as they start, so main.cf must not name LMTP before Dovecot
    answers on the socket (domain.md, "Order of the switch")."""
    dovecot = [f for f in files if f.path not in postfix_paths]
    postfix = [f for f in files if f.path in postfix_paths]
    recipient = options.test_recipient or ""
    # The LDA's outcomes are recorded before the first write: the A/B proof's "before".
    accepts = ";".join(result.proof_accepts)
    steps = [Step("proof_before", {"recipient": recipient, "accepts": accepts})]
    steps += [_write_step(f) for f in dovecot]
    steps.append(Step("validate_dovecot", {"argv": "doveconf -n"}))
    if result.lmtp_in_use:  # LMTP deliveries may be in flight: Dovecot's reload would cut them
        steps.append(
            Step("wait_lmtp", {"seconds": LMTP_DRAIN_SECONDS, "in_use": result.lmtp_in_use})
        )
    steps.append(Step("reload_dovecot", {"argv": "doveadm reload"}))
    steps.append(_wait_step(result.endpoint, facts))
    steps.append(Step("probe_lmtp", {"endpoint": result.endpoint.postfix, "recipient": recipient}))
    steps.extend(_write_step(f) for f in postfix)
    steps.extend(Step("postmap", {"map": spec}) for spec in result.postmaps)
    steps.append(Step("validate_postfix", {"argv": "postfix check"}))
    steps.append(Step("reload_postfix", {"argv": "postfix reload"}))
    steps.append(Step("test_delivery", {"recipient": recipient}))
    return steps


def _write_step(change: FileChange) -> Step:
    return Step(
        "write_file",
        {
            "path": change.path,
            "sha256_before": change.sha256_before,
            "sha256_after": change.sha256_after,
        },
    )


def _postfix_paths(snapshot: Snapshot) -> frozenset[str]:
    """The snapshot's Postfix files (main.cf, master.cf, maps), which Postfix reads."""
    return frozenset([snapshot.main_cf, snapshot.master_cf, *(p for _, p in snapshot.map_files)])


def _wait_step(endpoint: Endpoint, facts: Facts) -> Step:
    if endpoint.socket_path is not None:
        owner = facts.mail_owner
        return Step(
            "wait_socket",
            {
                "path": endpoint.socket_path,
                "owner": owner,
                "group": facts.mail_owner_group or owner,
                "mode": "0600",
            },
        )
    return Step(
        "wait_port",
        {"address": endpoint.address or "", "port": endpoint.port or ""},
    )


def _file_change(snapshot: Snapshot, path: str, before: bytes, after: bytes) -> FileChange:
    data = snapshot.files[path]
    before_text = before.decode("utf-8", "surrogateescape")
    after_text = after.decode("utf-8", "surrogateescape")
    return FileChange(
        path=path,
        owner=data.owner,
        group=data.group,
        mode=f"{data.mode:04o}",
        sha256_before=sha256(before),
        sha256_after=sha256(after),
        content_before=before_text,
        content_after=after_text,
    )


def _file_order(snapshot: Snapshot, path: str) -> tuple[int, int]:
    order = [snapshot.main_cf, snapshot.master_cf, *(p for _, p in snapshot.map_files)]
    if path in order:
        return (0, order.index(path))
    return (1, snapshot.dovecot_files.index(path) if path in snapshot.dovecot_files else 0)
