"""Rendering checks for machines: JSON, a Nagios plugin status line, Prometheus text.

Pure: each function takes HostChecks and returns text (and, for Nagios, the exit code).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from migrator.check.findings import HostCheck, Status, severity, worst

_PERF_UNITS = {"probe_seconds": "s"}


def to_json(checks: Sequence[HostCheck]) -> str:
    """One JSON document: the worst status, and per host its delivery, findings, metrics."""
    data = {
        "status": worst(c.status for c in checks).name,
        "hosts": [
            {
                "host": c.host,
                "status": c.status.name,
                "delivery": c.delivery.value,
                "checked_at": c.checked_at,
                "metrics": dict(c.metrics),
                "findings": [
                    {
                        "check": f.check,
                        "status": f.status.name,
                        "summary": f.summary,
                        "details": list(f.details),
                    }
                    for f in c.findings
                ],
            }
            for c in checks
        ],
    }
    return json.dumps(data, indent=2) + "\n"


def to_nagios(checks: Sequence[HostCheck]) -> tuple[str, Status]:
    """The Nagios plugin output (status line with perfdata, then one line per problem) and
    its exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    status = worst(c.status for c in checks)
    # The most serious first, whichever host it is on: the status line names it.
    problems = sorted(
        ((c.host, f) for c in checks for f in c.problems()), key=lambda p: -severity(p[1].status)
    )
    if problems:
        host, first = problems[0]
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        text = f"{host} {first.check}: {first.summary}{more}"
    elif len(checks) == 1:
        text = f"{checks[0].host}: {len(checks[0].findings)} checks OK"
    else:
        text = f"{len(checks)} hosts, every check OK"
    line = f"MIGRATOR {status.name} - {_clean(text)} | {' '.join(_perfdata(checks))}"
    details = [f"{host} {f.status.name} {f.check}: {_clean(f.summary)}" for host, f in problems]
    return "\n".join([line, *details]) + "\n", status


def _clean(text: str) -> str:
    """Nagios reads '|' as the start of perfdata and a newline as the end of the line."""
    return " ".join(text.replace("|", "/").split())


def _perfdata(checks: Sequence[HostCheck]) -> list[str]:
    counts = {s: sum(1 for c in checks if c.status is s) for s in Status}
    data = [f"hosts_{s.name.lower()}={n};;;0" for s, n in counts.items()]
    if len(checks) == 1:
        for name, value in checks[0].metrics.items():
            data.append(f"{name}={value:g}{_PERF_UNITS.get(name, '')};;;0")
    else:
        for name in ("queue", "deferred_lmtp", "log_errors"):
            total = sum(c.metrics.get(name, 0) for c in checks)
            data.append(f"{name}={total:g};;;0")
    return data


def to_prometheus(checks: Sequence[HostCheck]) -> str:
    """A textfile for node_exporter's textfile collector: per host and check whether it
    passed and its status, the delivery mode, the metrics, and when it ran."""
    out: list[str] = []
    _family(out, "migrator_check_ok", "Whether a check passed (1) or not (0).")
    for c in checks:
        for f in c.findings:
            labels = _labels(host=c.host, check=f.check)
            out.append(f"migrator_check_ok{labels} {int(f.status is Status.OK)}")
    _family(out, "migrator_check_status", "0 ok, 1 warning, 2 critical, 3 unknown (Nagios).")
    for c in checks:
        for f in c.findings:
            out.append(
                f"migrator_check_status{_labels(host=c.host, check=f.check)} {int(f.status)}"
            )
    _family(out, "migrator_check_host_status", "A host's worst check status (0-3, as Nagios).")
    out += [f"migrator_check_host_status{_labels(host=c.host)} {int(c.status)}" for c in checks]
    _family(out, "migrator_check_delivery", "How Postfix hands mail to Dovecot (lda, lmtp...).")
    for c in checks:
        out.append(f"migrator_check_delivery{_labels(host=c.host, mode=c.delivery.value)} 1")
    names = sorted({name for c in checks for name in c.metrics})
    for name in names:
        metric = f"migrator_check_{name}"
        _family(out, metric, f"{name.replace('_', ' ')} as the last check saw it.")
        for c in checks:
            if name in c.metrics:
                out.append(f"{metric}{_labels(host=c.host)} {c.metrics[name]:g}")
    _family(out, "migrator_check_timestamp_seconds", "When the host was last checked.")
    for c in checks:
        out.append(f"migrator_check_timestamp_seconds{_labels(host=c.host)} {c.checked_at:.3f}")
    return "\n".join(out) + "\n"


def _family(out: list[str], name: str, text: str) -> None:
    out += [f"# HELP {name} {text}", f"# TYPE {name} gauge"]


def _labels(**labels: str) -> str:
    pairs = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + pairs + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
