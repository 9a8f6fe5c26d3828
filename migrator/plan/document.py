"""The Plan document: what apply will change on one host, and why, as checkable data.

A plan is a record and its JSON, nothing more: no Augeas, no transport. ``build`` makes
plans, ``store`` keeps them under ``plans/``; apply and rollback read only this module.
What a plan shows a person (each step's description, each file's diff) is derived from what
it does (actions, args, contents), never taken from the file: a plan cannot say one thing
and do another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from migrator.endpoint import Endpoint
from migrator.errors import PlanError
from migrator.plan.masking import mask_data, mask_text, masked_diff
from migrator.plan.schema import check_plan_data
from migrator.transport.base import sha256

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file apply will rewrite: where, who owns it, and its content before and after."""

    path: str
    owner: str
    group: str
    mode: str
    sha256_before: str
    sha256_after: str
    content_before: str
    content_after: str

    @property
    def diff(self) -> str:
        """The unified diff from before to after, secret values masked (derived, never stored)."""
        return masked_diff(self.path, self.content_before, self.content_after)


@dataclass(frozen=True, slots=True)
class Change:
    """One semantic change, as shown to the user: what, in which file, and why."""

    file: str
    summary: str
    reason: str


@dataclass(frozen=True, slots=True)
class Step:
    """One step apply takes, in order. ``action`` names what apply runs; ``args`` its inputs.

    Its description is ``Plan.describe(step)``: made from the action and args, not stored.
    """

    action: str
    args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Plan:
    """A host's planned LDA -> LMTP switch (empty ``files`` means no changes)."""

    format_version: int
    plan_id: str
    host: str
    created: str
    migrator_version: str
    facts: Mapping[str, Any]
    endpoint: str
    lda_services: tuple[str, ...]
    changes: tuple[Change, ...]
    files: tuple[FileChange, ...]
    settings_diff: Mapping[str, Any]
    steps: tuple[Step, ...]
    warnings: tuple[str, ...]

    @property
    def has_changes(self) -> bool:
        return bool(self.files)

    @property
    def finalizes(self) -> tuple[str, ...]:
        """The LDA pipe services a finalize plan removes (its ``check_queue`` step); () for
        the switch itself."""
        for step in self.steps:
            if step.action == "check_queue":
                return tuple(step.args["services"].split(" "))
        return ()

    @property
    def lmtp_endpoint(self) -> Endpoint:
        """The LMTP endpoint Postfix will use (a relative socket under the queue directory)."""
        return Endpoint.from_postfix(self.endpoint, str(self.facts.get("queue_directory", "")))

    def describe(self, step: Step, proof: str = "") -> str:
        """What the step does, in words, made from its action and args (and the file it writes).

        ``proof`` ("ab" or "basic", apply's ProofMode) gives the words for that proof alone;
        "" (the plan's own text) says what the step does under each.
        """
        args = step.args
        if step.action == "write_file":
            change = next((f for f in self.files if f.path == args.get("path")), None)
            if change is not None:
                return (
                    f"write {change.path} (keeping owner {change.owner}:{change.group}, "
                    f"mode {change.mode})"
                )
        if step.action == "wait_socket":
            return (
                f"wait for {args['path']} owned by {args['owner']}:{args['group']}, "
                f"mode {args['mode']}"
            )
        if step.action == "wait_lmtp":
            return (
                "reload Postfix (its files not yet written): its lmtp agents finish the "
                f"delivery they have and exit; wait for them (at most {args['seconds']} s) so "
                f"that Dovecot's reload cuts no LMTP transaction in flight: {args['in_use']}"
            )
        if step.action in _BY_PROOF:
            return _by_proof(step.action, proof, bool(self.finalizes))
        if step.action == "wait_port":
            return f"wait for LMTP on {args['address']}:{args['port']}"
        if step.action == "postmap":
            return f"postmap {args['map']}"
        if step.action == "check_queue":
            return (
                f"refuse, changing nothing, while a queued message is bound to {args['services']} "
                "(postqueue -j, each envelope by postcat -qe)"
            )
        return _DESCRIPTIONS.get(step.action, step.action)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (descriptions and diffs included), with a checksum."""
        data = asdict(self)
        for change, raw in zip(self.files, data["files"], strict=True):
            raw["diff"] = change.diff
        data["steps"] = [
            {"action": s.action, "description": self.describe(s), "args": dict(s.args)}
            for s in self.steps
        ]
        data["checksum"] = _checksum(data)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def to_masked_json(self) -> str:
        """The plan's JSON for showing (``plan --json``): secret values masked everywhere.

        Not a plan apply takes: its contents (and so its checksum) are not the real ones.
        """
        data = self.to_dict()
        for raw in data["files"]:
            raw["content_before"] = mask_text(raw["content_before"])
            raw["content_after"] = mask_text(raw["content_after"])
        for key in ("facts", "settings_diff", "changes", "warnings"):
            data[key] = mask_data(data[key])
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, host: str | None = None, source: str | None = None) -> Plan:
        """Validate and rebuild a plan from its JSON data (see ``load``).

        Raises PlanError naming the file and field: not a plan, checksum mismatch, a field
        not as ``build`` makes it (``schema``), another host, contents that do not match
        their sha256, or a description or diff that is not what the plan does.
        """
        version = data.get("format_version") if isinstance(data, dict) else None
        if type(version) is not int or version != FORMAT_VERSION:  # True == 1 in Python
            raise PlanError("not a migrator plan of format version 1", host=host, path=source)
        data = dict(data)
        data.pop("signature", None)  # checked by the store, which holds the key
        recorded = data.pop("checksum", None)
        if recorded != _checksum(data):
            raise PlanError("plan was edited by hand (checksum mismatch)", host=host, path=source)
        check_plan_data(data, host, source)
        if host is not None and data.get("host") != host:
            raise PlanError(f"plan is for host {data.get('host')!r}", host=host, path=source)
        plan = _build(data)
        _check_derived(plan, data, host, source)
        return plan


def _build(data: Mapping[str, Any]) -> Plan:
    """The record from data ``check_plan_data`` accepted."""
    return Plan(
        format_version=data["format_version"],
        plan_id=data["plan_id"],
        host=data["host"],
        created=data["created"],
        migrator_version=data["migrator_version"],
        facts=data["facts"],
        endpoint=data["endpoint"],
        lda_services=tuple(data["lda_services"]),
        changes=tuple(Change(**c) for c in data["changes"]),
        files=tuple(
            FileChange(**{k: v for k, v in f.items() if k != "diff"}) for f in data["files"]
        ),
        settings_diff=data["settings_diff"],
        steps=tuple(Step(s["action"], dict(s["args"])) for s in data["steps"]),
        warnings=tuple(data["warnings"]),
    )


def _check_derived(
    plan: Plan, data: Mapping[str, Any], host: str | None, source: str | None
) -> None:
    """Contents match their hashes; recorded descriptions and diffs are what the plan does."""
    for index, change in enumerate(plan.files):
        before = sha256(change.content_before.encode("utf-8", "surrogateescape"))
        after = sha256(change.content_after.encode("utf-8", "surrogateescape"))
        if (before, after) != (change.sha256_before, change.sha256_after):
            raise PlanError(
                f"files[{index}]: content does not match its sha256", host=host, path=source
            )
        if data["files"][index]["diff"] != change.diff:
            raise PlanError(
                f"files[{index}].diff: is not the diff of its contents", host=host, path=source
            )
    for index, step in enumerate(plan.steps):
        recorded = data["steps"][index]["description"]
        if recorded != plan.describe(step) and recorded != _earlier_description(step):
            raise PlanError(
                f"steps[{index}].description: is not what the step does", host=host, path=source
            )


_DESCRIPTIONS = {
    "validate_dovecot": "doveconf -n",
    "reload_dovecot": "reload Dovecot (systemctl, service or doveadm reload, as the host runs it)",
    "probe_lmtp": "LHLO, MAIL FROM, RCPT TO the test recipient: expect 250 before Postfix switches",
    "validate_postfix": "the checks of postfix check that can fail it (main.cf, master.cf, "
    "the postlog service, the queue), with the host's binaries, without its repairs",
    "reload_postfix": "reload Postfix (systemctl, service or postfix reload, as the host runs "
    "it; never a restart)",
}
_BASIC_DELIVERY = (
    "send one test message through Postfix, find it delivered over LMTP in the mailbox, remove it"
)
# action -> (under --proof ab, under --proof basic); proof_before does not run under basic
# (apply shows it skipped, with why, after these words).
_BY_PROOF = {
    "test_delivery": (
        "send the proof messages again through Postfix, now over LMTP, compare each outcome "
        "with the LDA's (proof_before), remove them",
        _BASIC_DELIVERY,
    ),
    "proof_before": (
        "send the proof messages (plain, 8-bit, SMTPUTF8, +detail, list mail, as the host "
        "applies) through the LDA before any write, record each outcome, remove them",
        "",
    ),
}


def _by_proof(action: str, proof: str, finalize: bool) -> str:
    """A step whose work depends on apply's proof: its words under PROOF, or under each."""
    ab, basic = _BY_PROOF[action]
    if finalize:  # no proof_before: apply sends the one test message under either proof
        return f"{_BASIC_DELIVERY} (under either proof: a finalize has no LDA outcomes to compare)"
    if proof:
        return ab if proof == "ab" or not basic else basic
    return f"with --proof ab (the default): {ab}; with --proof basic: {basic or 'skipped'}"


# What migrator wrote before the texts above said what each step does under each proof:
# saved plans that carry them still load (the step is the same; only its words changed).
_EARLIER = {
    "reload_dovecot": "reload Dovecot",
    "validate_postfix": "postfix check",
    "reload_postfix": "reload Postfix (not restart)",
    "test_delivery": "send a test message through Postfix, find it over LMTP in the mailbox, "
    "remove it",
    "proof_before": "send the proof messages (plain, 8-bit, SMTPUTF8, +detail, list mail, as "
    "the host applies) through the LDA, record each outcome, remove them; test_delivery sends "
    "them again over LMTP and compares (apply --proof ab)",
}


def _earlier_description(step: Step) -> str | None:
    """The words an earlier migrator gave this step, when they differ from today's."""
    args = step.args
    if step.action == "wait_socket":
        return f"wait for {args['path']} owned by {args['owner']}, mode {args['mode']}"
    if step.action == "check_queue":
        return f"refuse while the queue holds mail for {args['services']} (postqueue -j)"
    return _EARLIER.get(step.action)


def _checksum(data: Mapping[str, Any]) -> str:
    return sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
