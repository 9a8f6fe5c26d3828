"""Checking one host: read it (two round trips), probe LMTP, ask the planner, judge.

Reading never changes the host: the probe ends with RSET and QUIT, and planning reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from migrator.check.dovecot import mail_root, parse_doveconf
from migrator.check.findings import Delivery, Finding, HostCheck, Status
from migrator.check.gather import LOG_SECONDS, ConfigFacts, read_config, read_state
from migrator.check.judge import (
    deferred,
    delivery_mode,
    hook_kinds,
    judge_domains,
    judge_dovecot,
    judge_hooks,
    judge_listener,
    judge_log,
    judge_mail_root,
    judge_queue,
    lda_services,
    lmtp_endpoint,
)
from migrator.check.logtime import recent
from migrator.config.reader import ParseCache
from migrator.delivery.proof import probe_lmtp
from migrator.endpoint import Endpoint
from migrator.errors import DeliveryError, MigratorError, RefusedError, TransportError
from migrator.plan.build import build_plan
from migrator.rules.switch import Options
from migrator.transport.base import Transport


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What to probe with: the recipient RCPT TO asks about (none: LHLO and MAIL only)."""

    test_recipient: str | None = None
    probe_timeout: float = 10.0


def check_host(
    transport: Transport, options: CheckOptions, *, cache: ParseCache | None = None
) -> HostCheck:
    """Run every check on one host; change nothing.

    A finding says what each check saw. Raises TransportError when the host cannot be
    reached (the caller reports it UNKNOWN).
    """
    config = read_config(transport)
    kinds = hook_kinds(config.postconf, lda_services(config.master))
    mode = delivery_mode(kinds)
    settings = parse_doveconf(config.doveconf)
    endpoint = lmtp_endpoint(config.postconf, kinds)
    root = mail_root(config.mail, settings)
    dovecot_log = config.mail.get("log_path", "")
    logs = (config.runtime.log_path, dovecot_log if dovecot_log.startswith("/") else "")
    paths = [p for p in (endpoint.socket_path if endpoint else None, root) if p]
    state = read_state(transport, logs, paths)
    findings = [judge_hooks(config.postconf, kinds), judge_domains(config.postconf, kinds)]
    metrics: dict[str, float] = {}
    if endpoint is not None:
        findings.append(judge_dovecot(settings, config.protocols))
        findings.append(judge_listener(endpoint, state, config.postconf.get("mail_owner", "")))
        findings.append(_probe(transport, endpoint, options, metrics))
    elif mode in (Delivery.LMTP, Delivery.MIXED):
        findings.append(Finding("listener", Status.UNKNOWN, "LMTP next hop not understood"))
    waiting, stuck = deferred(config.queue, endpoint)
    errors = recent(state.log_lines, state.now, state.year, state.utc_offset, LOG_SECONDS)
    metrics.update(queue=waiting, deferred_lmtp=stuck, log_errors=len(errors))
    findings.append(judge_queue(waiting, stuck, endpoint))
    findings.append(judge_log(errors, *logs))
    findings.append(judge_mail_root(root, state))
    findings.append(_migration(transport, mode, options, cache))
    findings.extend(_unread(config))
    return HostCheck(transport.host, mode, tuple(findings), metrics, time.time())


def _probe(
    transport: Transport, endpoint: Endpoint, options: CheckOptions, metrics: dict[str, float]
) -> Finding:
    recipients = [options.test_recipient] if options.test_recipient else []
    try:
        result = probe_lmtp(transport, endpoint, recipients, timeout=options.probe_timeout)
    except DeliveryError as exc:
        return Finding("probe", Status.CRITICAL, exc.message)
    metrics["probe_seconds"] = round(result.seconds, 3)
    asked = f", RCPT {recipients[0]} accepted" if recipients else " (no --test-recipient)"
    return Finding("probe", Status.OK, f"LMTP {result.endpoint} answers{asked}")


def _migration(
    transport: Transport, mode: Delivery, options: CheckOptions, cache: ParseCache | None
) -> Finding:
    """What the planner says: what blocks a migration, or what it would still change."""
    try:
        plan = build_plan(transport, Options(test_recipient=options.test_recipient), cache=cache)
    except TransportError:
        raise
    except RefusedError as exc:
        return Finding("migration", Status.WARNING, f"migration refused: {exc.message}")
    except MigratorError as exc:
        return Finding("migration", Status.UNKNOWN, f"could not plan: {exc}")
    changed = ", ".join(f.path for f in plan.files)
    if mode is Delivery.LDA:
        summary = f"ready: a plan changes {changed}" if changed else "ready: nothing to change"
        return Finding("migration", Status.OK, summary, plan.warnings)
    if changed:
        return Finding(
            "migration", Status.WARNING, f"planning again would change {changed}", plan.warnings
        )
    return Finding("migration", Status.OK, "migrated: planning again changes nothing")


def _unread(config: ConfigFacts) -> list[Finding]:
    if not config.errors:
        return []
    return [Finding("read", Status.UNKNOWN, config.errors[0], config.errors[1:])]
