"""apply's command line on a live host: confirmation, Ctrl-C, and what status reports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import LabFactory
from .faults import sh
from .hostfiles import LabCli, file_states

pytestmark = pytest.mark.lab


def test_apply_without_a_plan_refuses_without_a_terminal_unless_yes(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path)
    paths = ["/etc/postfix/main.cf", "/etc/dovecot/conf.d/10-master.conf"]
    before = file_states(lab, host, paths)
    refused = cli("apply", host.name, "--test-recipient", "alice@example.test")
    assert refused.exit_code == 1
    assert "not a terminal: give --yes" in refused.output
    assert file_states(lab, host, paths) == before
    assert "planned (plan " in cli("status", host.name).output

    applied = cli("apply", host.name, "--test-recipient", "alice@example.test", "--yes")
    assert applied.exit_code == 0, applied.output
    assert "migrated" in cli("status", host.name).output
    sh(lab, host, "echo '# edited after apply' >> /etc/postfix/main.cf")
    drifted = cli("status", host.name).output
    assert "drifted since apply" in drifted and "/etc/postfix/main.cf" in drifted


def test_ctrl_c_mid_apply_rolls_back_and_exits_130(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab("virtual-lda")
    host = lab.hosts[0]
    cli = LabCli(lab, tmp_path)
    plan = cli.plan(host)
    before = file_states(lab, host, [f.path for f in plan.files])
    argv = [sys.executable, "-m", "migrator.cli.main_entry", "apply", host.name, "--plan"]
    argv += [str(cli.latest_plan(host)), "--rollback-on-fail", "--ssh-config", str(lab.ssh_config)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Ctrl-C as a terminal sends it: the driver must not inherit an ignored SIGINT (a shell
    # starting this suite in the background ignores it for the whole tree).
    driver = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert driver.stdout is not None
    # The step line of main.cf's write comes out as that step ends: Postfix's checks and
    # reload (seconds) are still to come, whatever the machine's load.
    seen = []
    for line in iter(driver.stdout.readline, b""):
        seen.append(line)
        if b"write /etc/postfix/main.cf" in line:
            break
    driver.send_signal(signal.SIGINT)
    rest, _ = driver.communicate(timeout=60)
    output = b"".join(seen) + rest
    assert driver.returncode == 130, output.decode()
    assert file_states(lab, host, [f.path for f in plan.files]) == before
    assert "rolled back" in cli("status", host.name).output
