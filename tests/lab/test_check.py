"""check, show and status on real lab hosts: an LDA host (what a migration needs), a
migrated host (every check OK), a broken socket mode (CRITICAL, exit 2, the fault named);
a saved plan shown and a tampered one refused; status over two hosts, as lines and JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main

from .conftest import LabFactory, ssh_client, ssh_run
from .hostfiles import LabCli
from .migrated_pair import RECIPIENT, Pair, migrated_pair

pytestmark = pytest.mark.lab

SOCKET = "/var/spool/postfix/private/dovecot-lmtp"
# A reload cannot move Dovecot's TCP listener while an lmtp process (the probe's) still holds
# the old one ("listen(*, 24) failed: Address already in use"): restart it instead.
RESTART = (
    "doveadm stop; for i in $(seq 50); do doveadm service status >/dev/null 2>&1 || break; "
    "sleep 0.2; done; dovecot </dev/null >/dev/null 2>&1 && sleep 1"
)
NAGIOS = re.compile(r"^MIGRATOR (OK|WARNING|CRITICAL|UNKNOWN) - [^|]+ \| \S+(?: \S+)*$")
SAMPLE = re.compile(r'^(migrator_check_\w+)\{((?:\w+="[^"]*",?)+)\} (-?[\d.e+]+)$')


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with migrated_pair("ck", tmp_path_factory.mktemp("plans")) as made:
        yield made


def _prometheus(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) migrator_check_\w+ .+$", line), line
            continue
        match = SAMPLE.match(line)
        assert match, line
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match[2]))
        samples[(match[1], labels)] = float(match[3])
    return samples


def test_check_an_lda_host_reports_what_a_migration_needs(pair: Pair) -> None:
    host = pair.lda.name
    result = pair.cli("check", host, "--json", "--test-recipient", RECIPIENT)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    (report,) = data["hosts"]
    assert (report["host"], report["delivery"], report["status"]) == (host, "lda", "OK")
    found = {f["check"]: f for f in report["findings"]}
    assert "probe" not in found and "listener" not in found  # no LMTP to judge yet
    assert found["migration"]["summary"].startswith("ready: a plan changes /etc/postfix/main.cf")
    assert any("pipe service dovecot stays" in d for d in found["migration"]["details"])
    assert found["hooks"]["summary"] == "no conflicts: virtual_transport=dovecot"

    nagios = pair.cli("check", host, "--format", "nagios")
    assert nagios.exit_code == 0 and NAGIOS.match(nagios.output.splitlines()[0]), nagios.output


def test_check_a_migrated_dovecot_24_host(make_lab: LabFactory, tmp_path: Path) -> None:
    """Dovecot 2.4 (trixie) prints protocols, plugins and the userdb's home as blocks."""
    lab = make_lab("virtual-lda", release="trixie")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path)
    cli.migrate(host, RECIPIENT)
    result = cli("check", host.name, "--json", "--test-recipient", RECIPIENT)
    assert result.exit_code == 0, result.output
    found = {
        f["check"]: (f["status"], f["summary"])
        for f in json.loads(result.output)["hosts"][0]["findings"]
    }
    assert {status for status, _ in found.values()} == {"OK"}, found
    assert found["dovecot"] == ("OK", "lmtp served; protocol lmtp, plugins: sieve")
    assert found["mail_root"] == ("OK", "/var/vmail vmail:vmail 0755")


def test_check_a_blocked_lda_host_warns(pair: Pair) -> None:
    """An LDA host the planner refuses (a filter wrapping the LDA): WARNING, exit 1, why."""
    host = pair.lda
    wrap = (
        "cp /etc/postfix/master.cf /tmp/master.cf.keep && sed -i "
        "'s|argv=/usr/lib/dovecot/dovecot-lda|argv=/usr/bin/spamc -e /usr/lib/dovecot/dovecot-lda|'"
        " /etc/postfix/master.cf"
    )
    client = ssh_client(pair.lab, host)
    try:
        assert ssh_run(client, wrap)[0] == 0
        result = pair.cli("check", host.name, "--format", "nagios")
    finally:
        assert ssh_run(client, "mv /tmp/master.cf.keep /etc/postfix/master.cf")[0] == 0
        client.close()
    first = result.output.splitlines()[0]
    assert result.exit_code == 1, result.output
    assert first.startswith(f"MIGRATOR WARNING - {host.name} migration: migration refused: ")
    assert "spamc" in first and NAGIOS.match(first)


def test_check_a_migrated_host_is_ok_in_every_format(pair: Pair, tmp_path: Path) -> None:
    host = pair.migrated.name
    table = pair.cli("check", host, "--test-recipient", RECIPIENT)
    assert table.exit_code == 0, table.output
    assert "1 hosts: 1 OK; exit code 0" in table.output

    data = json.loads(pair.cli("check", host, "--json", "--test-recipient", RECIPIENT).output)
    found = {f["check"]: (f["status"], f["summary"]) for f in data["hosts"][0]["findings"]}
    assert data["hosts"][0]["delivery"] == "lmtp"
    assert set(found) >= {"hooks", "domains", "dovecot", "listener", "probe", "queue", "log"}
    assert {status for status, _ in found.values()} == {"OK"}, found
    assert found["listener"][1] == f"socket {SOCKET} postfix 0600"
    assert found["probe"][1].endswith(f"RCPT {RECIPIENT} accepted")
    assert found["migration"][1] == "migrated: planning again changes nothing"

    textfile = tmp_path / "migrator.prom"
    prom = pair.cli("check", host, "--format", "prometheus", "--output", str(textfile))
    assert prom.exit_code == 0 and prom.output == "", prom.output
    samples = _prometheus(textfile.read_text())
    assert samples[("migrator_check_ok", frozenset({("host", host), ("check", "listener")}))] == 1
    assert samples[("migrator_check_host_status", frozenset({("host", host)}))] == 0
    assert samples[("migrator_check_delivery", frozenset({("host", host), ("mode", "lmtp")}))] == 1
    assert list(tmp_path.iterdir()) == [textfile]  # the temporary file was renamed


def test_a_broken_socket_mode_is_critical_and_named(pair: Pair) -> None:
    host = pair.migrated
    client = ssh_client(pair.lab, host)
    try:
        assert ssh_run(client, f"chmod 0666 {SOCKET}")[0] == 0
        nagios = pair.cli("check", host.name, "--format", "nagios")
        prom = pair.cli("check", host.name, "--format", "prometheus")
    finally:
        assert ssh_run(client, f"chmod 0600 {SOCKET}")[0] == 0
        client.close()
    assert nagios.exit_code == 2, nagios.output
    first = nagios.output.splitlines()[0]
    assert NAGIOS.match(first), first
    assert first.startswith(
        f"MIGRATOR CRITICAL - {host.name} listener: socket {SOCKET}: mode 0666, want 0600"
    )
    assert "hosts_critical=1;;;0" in first
    samples = _prometheus(prom.output)
    assert prom.exit_code == 2
    listener = frozenset({("host", host.name), ("check", "listener")})
    assert samples[("migrator_check_ok", listener)] == 0
    assert samples[("migrator_check_status", listener)] == 2


def test_check_a_fleet_with_an_unreachable_host(pair: Pair) -> None:
    hosts = f"{pair.migrated.name},{pair.lda.name},no-such-host,"
    result = pair.cli("check", "-i", hosts, "--format", "nagios", "--forks", "3")
    assert result.exit_code == 3, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("MIGRATOR UNKNOWN - no-such-host reach: ") and NAGIOS.match(first)
    assert "hosts_ok=2;;;0" in first and "hosts_unknown=1;;;0" in first


def test_show_a_saved_plan_and_refuse_a_tampered_one(pair: Pair, tmp_path: Path) -> None:
    saved = pair.cli.latest_plan(pair.migrated)
    result = _show(str(saved))
    assert result[0] == 0, result[1]
    assert f"plan {saved.stem} for {pair.migrated.name}" in result[1]
    assert "+virtual_transport = lmtp:unix:private/dovecot-lmtp" in result[1]
    as_json = _show(str(saved), "--json")
    assert json.loads(as_json[1])["plan_id"] == saved.stem
    tampered = tmp_path / saved.name
    tampered.write_text(saved.read_text().replace("private/dovecot-lmtp", "private/evil"))
    refused = _show(str(tampered))
    assert refused[0] == 1
    assert f"{tampered}: plan was edited by hand (checksum mismatch)" in refused[1]


def _show(*args: str) -> tuple[int, str]:
    """show takes no --ssh-config or --plans-dir (it reads only the file), so not LabCli."""
    result = CliRunner().invoke(main, ["show", *args])
    return result.exit_code, result.output


def test_status_of_two_hosts_as_lines_and_json(pair: Pair) -> None:
    hosts = f"{pair.migrated.name},{pair.lda.name},"
    lines = pair.cli("status", "-i", hosts)
    assert lines.exit_code == 0, lines.output
    plan_id = pair.cli.latest_plan(pair.migrated).stem
    assert lines.output.splitlines() == [
        f"{pair.migrated.name}: migrated (plan {plan_id})",
        f"{pair.lda.name}: clean",
    ]
    data = json.loads(pair.cli("status", "-i", hosts, "--json").output)
    assert [(h["host"], h["state"], h["plan_id"]) for h in data] == [
        (pair.migrated.name, "migrated", plan_id),
        (pair.lda.name, "clean", ""),
    ]
    one = json.loads(pair.cli("status", pair.migrated.name, "--json").output)
    assert (one["state"], one["plan_id"]) == ("migrated", plan_id)


def test_mail_deferred_at_lmtp_and_its_log_error_are_reported(pair: Pair) -> None:
    """Last in this module: the error it causes stays in the host's log for the hour."""
    host = pair.migrated
    client = ssh_client(pair.lab, host)
    send = f"printf 'Subject: t\\n\\nhi\\n' | /usr/sbin/sendmail -f '' {RECIPIENT}"
    wait = "for i in $(seq 50); do postqueue -j | grep -q deferred && break; sleep 0.2; done"
    try:
        assert ssh_run(client, f"chown dovecot {SOCKET} && {send} && {wait}")[0] == 0
        result = pair.cli("check", host.name, "--json")
    finally:
        empty = 'for i in $(seq 50); do [ -z "$(postqueue -j)" ] && break; sleep 0.2; done'
        fixed = f"chown postfix {SOCKET} && postqueue -f && {empty}; postqueue -j | wc -l"
        assert ssh_run(client, fixed) == (0, "0\n")
        client.close()
    assert result.exit_code == 2, result.output
    report = json.loads(result.output)["hosts"][0]
    found = {f["check"]: (f["status"], f["summary"]) for f in report["findings"]}
    assert found["listener"] == (
        "CRITICAL",
        f"socket {SOCKET}: owner dovecot, want postfix (mail_owner)",
    )
    assert found["queue"] == ("WARNING", "1 messages deferred for lmtp:unix:private/dovecot-lmtp")
    assert found["log"][0] == "WARNING" and '1 "permission denied"' in found["log"][1]
    assert (report["metrics"]["deferred_lmtp"], report["metrics"]["log_errors"]) == (1, 1)


def test_a_tcp_listener_beyond_loopback_is_critical(pair: Pair) -> None:
    """Last: it migrates the LDA host, over TCP (the other tests want it on the LDA)."""
    host = pair.lda
    applied = pair.cli(
        "apply", host.name, "--yes", "--lmtp", "inet:127.0.0.1:24", "--test-recipient", RECIPIENT
    )
    assert applied.exit_code == 0, applied.output
    before = json.loads(pair.cli("check", host.name, "--json").output)["hosts"][0]
    found = {f["check"]: (f["status"], f["summary"]) for f in before["findings"]}
    assert found["listener"] == ("OK", "127.0.0.1:24 on loopback only (127.0.0.1:24)")
    assert found["probe"] == ("OK", "LMTP inet:127.0.0.1:24 answers (no --test-recipient)")
    client = ssh_client(pair.lab, host)
    conf = "/etc/dovecot/conf.d/10-master.conf"
    try:
        widen = f"sed -i 's/address = 127.0.0.1/address = */' {conf} && {RESTART}"
        bound = "grep -q ' 00000000:0018 00000000:0000 0A' /proc/net/tcp"  # 0.0.0.0:24
        assert ssh_run(client, f"{widen} && {bound}")[0] == 0
        result = pair.cli("check", host.name, "--format", "nagios")
    finally:
        narrow = f"sed -i 's/address = \\*/address = 127.0.0.1/' {conf} && {RESTART}"
        assert ssh_run(client, narrow)[0] == 0
        client.close()
    assert result.exit_code == 2, result.output
    assert result.output.startswith(
        f"MIGRATOR CRITICAL - {host.name} listener: LMTP listens on 0.0.0.0:24: not loopback only"
    )
