"""check's outputs, parsed back: JSON, the Nagios plugin line and exit code, Prometheus text."""

from __future__ import annotations

import json
import re

import pytest

from migrator.check.findings import Delivery, Finding, HostCheck, Status, unreachable, worst
from migrator.check.output import to_json, to_nagios, to_prometheus

OK = HostCheck(
    "mx1",
    Delivery.LMTP,
    (Finding("hooks", Status.OK, "no conflicts"), Finding("probe", Status.OK, "answers")),
    {"probe_seconds": 0.042, "queue": 3, "deferred_lmtp": 0},
    1700000000.5,
)
BROKEN = HostCheck(
    'mx"2',
    Delivery.LMTP,
    (
        Finding("listener", Status.CRITICAL, "socket /s: mode 0666 | want 0600"),
        Finding("log", Status.WARNING, "delivery errors\nin the log"),
    ),
    {"queue": 1},
    1700000001.0,
)
# Nagios plugin API: "SERVICE STATUS - text | 'label'=value[UOM];[warn];[crit];[min];[max] ..."
STATUS_LINE = re.compile(r"^MIGRATOR (OK|WARNING|CRITICAL|UNKNOWN) - ([^|\n]+) \| (.*)$")
PERFDATA = re.compile(r"^('[^']+'|[^'= ]+)=-?[\d.]+(s|%|B|KB|MB|c)?(;[\d.]*){0,4}$")
# Prometheus text format: a comment, or name{labels} value.
SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_]\w*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[\d.e+]+)$'
)


@pytest.mark.parametrize(
    ("checks", "code"),
    [
        ([OK], 0),
        ([OK, BROKEN], 2),
        ([OK, unreachable("mx3", "mx3: cannot connect")], 3),
        ([BROKEN, unreachable("mx3", "x")], 2),
    ],
)
def test_nagios_line_and_exit_code(checks: list[HostCheck], code: int) -> None:
    text, status = to_nagios(checks)
    first, *rest = text.splitlines()
    match = STATUS_LINE.match(first)
    assert match, first
    assert status == code and match[1] == Status(code).name
    for item in match[3].split():
        assert PERFDATA.match(item), item
    assert len(rest) == sum(len(c.problems()) for c in checks)


def test_nagios_names_the_fault_first_and_keeps_the_line_whole() -> None:
    text, _ = to_nagios([OK, BROKEN])
    first = text.splitlines()[0]
    assert first.startswith('MIGRATOR CRITICAL - mx"2 listener: socket /s: mode 0666 / want 0600')
    assert "(+1 more)" in first
    assert "hosts_ok=1;;;0" in first and "hosts_critical=1;;;0" in first


def test_nagios_names_the_most_serious_problem_of_any_host() -> None:
    warned = HostCheck("mx0", Delivery.LDA, (Finding("queue", Status.WARNING, "3 deferred"),))
    text, status = to_nagios([warned, BROKEN])
    lines = text.splitlines()
    assert status is Status.CRITICAL
    assert lines[0].startswith('MIGRATOR CRITICAL - mx"2 listener: ')
    assert lines[1:] == [
        'mx"2 CRITICAL listener: socket /s: mode 0666 / want 0600',
        "mx0 WARNING queue: 3 deferred",  # equals keep the hosts' order
        'mx"2 WARNING log: delivery errors in the log',
    ]


def test_nagios_single_host_perfdata_carries_its_metrics() -> None:
    first = to_nagios([OK])[0].splitlines()[0]
    assert first.startswith("MIGRATOR OK - mx1: 2 checks OK | ")
    assert "probe_seconds=0.042s;;;0" in first and "queue=3;;;0" in first


def test_json_parses_back() -> None:
    data = json.loads(to_json([OK, BROKEN]))
    assert data["status"] == "CRITICAL"
    assert [h["host"] for h in data["hosts"]] == ["mx1", 'mx"2']
    assert data["hosts"][1]["findings"][0] == {
        "check": "listener",
        "status": "CRITICAL",
        "summary": "socket /s: mode 0666 | want 0600",
        "details": [],
    }
    assert data["hosts"][0]["metrics"]["probe_seconds"] == 0.042


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples = {}
    types: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind == "gauge" and name not in types
            types.add(name)
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match, line
        assert match[1] in types, f"{match[1]} has no TYPE line before it"
        labels = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or "")
        key = (match[1], frozenset(labels))
        assert key not in samples, f"duplicate sample {line}"
        samples[key] = float(match[4])
    return samples


def test_prometheus_text_parses_line_by_line() -> None:
    text = to_prometheus([OK, BROKEN])
    assert text.endswith("\n")
    samples = _samples(text)
    assert samples[("migrator_check_ok", frozenset({("host", "mx1"), ("check", "probe")}))] == 1
    broken = frozenset({("host", 'mx\\"2'), ("check", "listener")})
    assert samples[("migrator_check_ok", broken)] == 0
    assert samples[("migrator_check_status", broken)] == 2
    assert samples[("migrator_check_host_status", frozenset({("host", "mx1")}))] == 0
    assert samples[("migrator_check_queue", frozenset({("host", 'mx\\"2')}))] == 1
    assert samples[("migrator_check_delivery", frozenset({("host", "mx1"), ("mode", "lmtp")}))] == 1
    assert samples[("migrator_check_timestamp_seconds", frozenset({("host", "mx1")}))] == (
        1700000000.5
    )


def test_worst_ranks_critical_over_unknown_over_warning() -> None:
    assert worst([Status.WARNING, Status.UNKNOWN]) is Status.UNKNOWN
    assert worst([Status.UNKNOWN, Status.CRITICAL, Status.OK]) is Status.CRITICAL
    assert worst([]) is Status.OK
