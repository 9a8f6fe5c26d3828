"""`migrator plan HOST` reads the program a hook runs over SSH (issue 14, class 2): a script
that runs the LDA is refused as a wrapped LDA, a binary it cannot read into is named."""

from __future__ import annotations

import shlex

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.lab import lifecycle
from migrator.lab.state import Lab, LabHost

from .conftest import LabFactory

pytestmark = pytest.mark.lab

WRAPPER = '#!/bin/sh\n# spam filter first\nexec /usr/bin/env /usr/lib/dovecot/dovecot-lda "$@"\n'


def _in_host(lab: Lab, host: LabHost, script: str) -> None:
    done = lifecycle.run_in_host(host, lab, ["sh", "-c", script], capture=True)
    assert done.returncode == 0, done.stderr


def _mailbox_command(lab: Lab, host: LabHost, command: str) -> None:
    _in_host(lab, host, f"postconf -e {shlex.quote('mailbox_command = ' + command)}")


def _plan_error(lab: Lab, host: LabHost) -> str:
    args = [host.name, "--ssh-config", str(lab.ssh_config), "--test-recipient", "bob@example.test"]
    result = CliRunner().invoke(main, ["plan", *args, "--json", "--no-save"])
    assert result.exit_code == 1, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"migrator: error: {host.name}: /etc/postfix/main.cf:"), line
    return line


def test_wrapper_script_and_unknown_program_read_over_ssh(make_lab: LabFactory) -> None:
    lab = make_lab("system-lda", prefix="pw")
    host = lab.hosts[0]
    script = "/usr/local/bin/lda-filter"
    _in_host(lab, host, f"printf %s {shlex.quote(WRAPPER)} > {script} && chmod 755 {script}")
    _mailbox_command(lab, host, f'{script} -a "$RECIPIENT"')
    line = _plan_error(lab, host)
    assert f"mailbox_command uses {script}, a script that runs Dovecot's LDA (line 3: exec" in line

    # A binary migrator cannot read into: named as such, never "no LDA found".
    _mailbox_command(lab, host, "/usr/bin/env true")
    line = _plan_error(lab, host)
    assert "runs /usr/bin/env, a program migrator cannot classify (not a script" in line
    assert "no Dovecot LDA delivery found" not in line
