"""Ansible on lab hosts: a test-only virtualenv with ansible-core and ansible-runner, and
a helper that runs a play the way an admin would (inventory, ssh args, the collection).

The virtualenv (``.venv-ansible/`` in the repository, gitignored) is made on first use with
pip from PyPI (ansible-core, ansible-runner, ansible-builder) and holds migrator too, as an
execution environment would; Ansible is never a dependency of migrator. Every SSH control
master a run leaves is closed at teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.lab.conftest import make_lab

__all__ = ["make_lab"]  # the lab fixture, shared with tests/lab

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-ansible"
HERE = Path(__file__).resolve().parent
PROBE = "import ansible, ansible_runner, ansible_builder, migrator"


def ensure_venv() -> Path:
    """The test-only virtualenv's bin directory, made (pip, PyPI) when missing or stale."""
    python = VENV / "bin" / "python"
    if python.exists() and _run([str(python), "-c", PROBE]).returncode == 0:
        return VENV / "bin"
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "ansible-core", "ansible-runner", "ansible-builder"], check=True)
    subprocess.run([*pip, "-e", str(ROOT)], check=True)
    return VENV / "bin"


def _run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, check=False)


@pytest.fixture(scope="session")
def ansible_bin() -> Path:
    return ensure_venv()


@dataclass(frozen=True, slots=True)
class PlayRun:
    """One ansible-playbook run: exit code, output, and each task result per host."""

    rc: int
    output: str
    records: list[dict[str, Any]]

    def result(self, host: str, task: str = "lmtp") -> dict[str, Any]:
        """The (last) result of TASK on HOST; fails the test when there is none."""
        found = [r for r in self.records if r["host"] == host and r["task"] == task]
        assert found, f"no result for {host} {task}:\n{self.output}"
        return dict(found[-1]["result"], _status=found[-1]["status"])

    def hosts(self, task: str = "lmtp") -> set[str]:
        return {r["host"] for r in self.records if r["task"] == task}


class Ansible:
    """ansible-playbook against lab hosts, with the lab's ssh_config as ssh -F."""

    def __init__(self, bin_dir: Path, work: Path, ssh_config: Path) -> None:
        self.bin = bin_dir
        self.work = work
        self.ssh_config = ssh_config
        # Short: ssh's ControlPath must fit in a unix socket name.
        self.control = Path(tempfile.mkdtemp(prefix="acp", dir="/tmp"))
        self.runs = 0

    def inventory(self, hosts: Mapping[str, Mapping[str, str]], group: str = "mail") -> Path:
        """An INI inventory of HOSTS (name -> host vars), all in GROUP, reached over ssh -F."""
        lines = [f"[{group}]"]
        for name, host_vars in hosts.items():
            lines.append(" ".join([name, *(f"{k}={v}" for k, v in host_vars.items())]))
        lines += ["", f"[{group}:vars]", f"ansible_ssh_common_args='-F {self.ssh_config}'"]
        path = self.work / f"inventory-{len(list(self.work.glob('inventory-*')))}.ini"
        path.write_text("\n".join(lines) + "\n")
        return path

    def env(self, record: Path) -> dict[str, str]:
        return {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT),
            "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "record",
            "ANSIBLE_ACTION_PLUGINS": str(HERE / "action_plugins"),
            "ANSIBLE_HOME": str(self.work / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(self.work / "ansible-tmp"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control),
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_NOCOLOR": "1",
            "MIGRATOR_RECORD": str(record),
            "PATH": f"{self.bin}:{os.environ.get('PATH', '')}",
        }

    def play(self, inventory: Path, playbook: str, *args: str) -> PlayRun:
        """Run PLAYBOOK (YAML text) over INVENTORY with ARGS (--check, --diff, -l ...)."""
        self.runs += 1
        book = self.work / f"play-{self.runs}.yml"
        book.write_text(playbook)
        record = self.work / f"record-{self.runs}.jsonl"
        record.touch()
        argv = [str(self.bin / "ansible-playbook"), "-i", str(inventory), str(book), *args]
        done = subprocess.run(argv, env=self.env(record), capture_output=True, check=False)
        output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        records = [json.loads(line) for line in record.read_text().splitlines() if line]
        return PlayRun(done.returncode, output, records)

    def runner(self, inventory: Path, playbook: str, *args: str) -> dict[str, Any]:
        """Run PLAYBOOK through ansible-runner (as AWX does): {rc, status, results}."""
        self.runs += 1
        book = self.work / f"play-{self.runs}.yml"
        book.write_text(playbook)
        record = self.work / f"record-{self.runs}.jsonl"
        data_dir = self.work / f"runner-{self.runs}"
        data_dir.mkdir()
        argv = [str(self.bin / "python"), str(HERE / "runner_play.py"), str(data_dir)]
        argv += [str(book), str(inventory), *args]
        done = subprocess.run(argv, env=self.env(record), capture_output=True, check=False)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        outcome: dict[str, Any] = json.loads(done.stdout)
        return outcome

    def close(self) -> None:
        """Close the control masters ssh left running (ControlPersist), then their dir."""
        for socket in self.control.iterdir():
            _run(["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "unused"])
        shutil.rmtree(self.control, ignore_errors=True)


@pytest.fixture
def ansible_factory(ansible_bin: Path, tmp_path: Path) -> Iterator[Any]:
    """Make an Ansible helper for a lab's ssh_config; every one is closed at teardown."""
    made: list[Ansible] = []

    def factory(ssh_config: Path) -> Ansible:
        helper = Ansible(ansible_bin, tmp_path / f"ansible{len(made)}", ssh_config)
        helper.work.mkdir()
        made.append(helper)
        return helper

    yield factory
    for helper in made:
        helper.close()


def readme_playbook() -> str:
    """The playbook the README's "Running under Ansible and AWX" section gives admins."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Running under Ansible and AWX") :]
    return section[section.index("```yaml\n") + 8 : section.index("```\n", 8)]


def play(tasks: str, *, serial: str = "", max_fail: str = "", become: bool = False) -> str:
    """A one-play playbook over group mail, no fact gathering, with TASKS (YAML, indented 4)."""
    head = ["- hosts: mail", "  gather_facts: false"]
    if serial:
        head.append(f"  serial: {serial}")
    if max_fail:
        head.append(f"  max_fail_percentage: {max_fail}")
    if become:
        head.append("  become: true")
    return "\n".join([*head, "  tasks:", tasks.rstrip(), ""])
