"""The conventions admins reach for: -F/-f, --list-hosts, --no-color and NO_COLOR."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.exit_status import ExitStatus

FLEET_COMMANDS = ["plan", "apply", "finalize", "rollback", "status", "check"]
COLOR = re.compile(r"\x1b\[(3[0-7]|9[0-7]|38;)")  # a foreground color, not bold or dim


def _run(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


@pytest.mark.parametrize("command", FLEET_COMMANDS)
def test_list_hosts_prints_the_selection_and_reaches_no_host(command: str, tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    # .invalid never resolves: reaching any of them would fail, listing them does not.
    inventory.write_text(
        "[mail]\nmx1.invalid\nmx2.invalid\n[web]\nweb1.invalid\n[lmtp]\nmx2.invalid\n"
    )
    code, output = _run(command, "-i", str(inventory), "--limit", "mail:!lmtp", "--list-hosts")
    assert (code, output) == (0, "mx1.invalid\n")
    code, output = _run(command, "-i", str(inventory), "--list-hosts")
    assert (code, output.split()) == (0, ["mx1.invalid", "mx2.invalid", "web1.invalid"])
    # Nothing ran: no run log was started.
    assert not (Path(os.environ["XDG_STATE_HOME"]) / "migrator").exists()


def test_list_hosts_shows_why_a_host_would_fail(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[mail]\nmx1\nmx2 ansible_host=-oProxyCommand=x\n")
    code, output = _run("apply", "-i", str(inventory), "--list-hosts")
    assert code == 0
    first, second = output.splitlines()
    assert first == "mx1" and second.startswith(f"mx2\t{inventory}:3: ")


def test_list_hosts_without_an_inventory_is_a_usage_error() -> None:
    code, output = _run("apply", "mx1", "--list-hosts")
    assert code == ExitStatus.USAGE and "--list-hosts goes with -i INVENTORY" in output


def test_list_hosts_with_a_bad_limit_is_the_runs_one_line_error() -> None:
    code, output = _run("rollback", "-i", "mx1,mx2,", "--limit", "web*", "--list-hosts")
    assert code == ExitStatus.ERROR and "matches no host" in output
    assert len(output.strip().splitlines()) == 1


def test_list_hosts_starts_no_run_log(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    code, _ = _run("apply", "-i", "mx1,", "--list-hosts", "--log", str(log))
    assert code == 0 and not log.exists()


@pytest.mark.parametrize("command", FLEET_COMMANDS)
def test_dash_f_is_forks(command: str) -> None:
    code, output = _run(command, "-i", "mx1,", "-f", "0")
    assert code == ExitStatus.USAGE and "'-f' / '--forks'" in output
    code, output = _run(command, "-i", "mx1,", "-f", "3", "--list-hosts")
    assert (code, output) == (0, "mx1\n")


@pytest.mark.parametrize("command", FLEET_COMMANDS)
def test_dash_capital_f_is_ssh_config(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ssh-config"
    extra = {"plan": ["--no-save"], "check": ["--json"]}.get(command, [])
    code, output = _run(command, "mx1.invalid", "-F", str(missing), *extra)
    assert f"cannot read SSH config {missing}" in output, output
    assert code != 0


def _colored(*args: str, no_color: str | None = None) -> str:
    env = {"FORCE_COLOR": "1", "NO_COLOR": no_color, "COLUMNS": "200"}
    code, output = _run(*args, env=env)
    assert code == 0, output
    return output


def test_no_color_and_NO_COLOR_take_the_colors_out() -> None:
    assert COLOR.search(_colored("config"))  # the test can see colors
    plain = _colored("--no-color", "config")
    assert not COLOR.search(plain) and "plans_dir" in plain
    assert not COLOR.search(_colored("config", no_color="1"))


def test_shell_completion_as_the_readme_says() -> None:
    env = {"_MIGRATOR_COMPLETE": "bash_complete", "COMP_WORDS": "migrator apply --li"}
    result = CliRunner().invoke(main, [], env={**env, "COMP_CWORD": "2"}, prog_name="migrator")
    assert result.exit_code == 0
    assert result.output.splitlines() == ["plain,--list-hosts", "plain,--limit"]
    env = {"_MIGRATOR_COMPLETE": "bash_source"}
    script = CliRunner().invoke(main, [], env=env, prog_name="migrator").output
    assert "_migrator_completion()" in script
