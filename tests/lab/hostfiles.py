"""Reading a lab host's files and driving migrator's CLI against a lab (test helpers)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from click.testing import CliRunner, Result

from migrator.cli import main
from migrator.lab.state import Lab, LabHost
from migrator.plan.document import Plan
from migrator.plan.store import load_plan
from migrator.transport import connect

FileState = tuple[str, str, str, int]


def file_states(lab: Lab, host: LabHost, paths: Sequence[str]) -> dict[str, FileState | None]:
    """sha256, owner, group and mode of each path on the host (None when missing)."""
    transport = connect(host.name, ssh_config=lab.ssh_config)
    try:
        files = transport.read_files(list(paths))
    finally:
        transport.close()
    return {
        path: None
        if data.content is None
        else (hashlib.sha256(data.content).hexdigest(), data.owner, data.group, data.mode)
        for path, data in files.items()
    }


class LabCli:
    """migrator's CLI pointed at one lab (its ssh_config) and one plans directory."""

    def __init__(self, lab: Lab, plans_dir: Path) -> None:
        self.lab = lab
        self.plans_dir = plans_dir

    def __call__(self, command: str, *args: str) -> Result:
        common = ["--ssh-config", str(self.lab.ssh_config), "--plans-dir", str(self.plans_dir)]
        return CliRunner().invoke(main, [command, *args, *common])

    def latest_plan(self, host: LabHost) -> Path:
        return sorted((self.plans_dir / host.name).glob("*.json"))[-1]

    def plan(self, host: LabHost, recipient: str = "alice@example.test") -> Plan:
        """Plan the host (exit 2: it has changes) and return the saved plan."""
        result = self("plan", host.name, "--test-recipient", recipient, "--detailed-exitcode")
        assert result.exit_code == 2, result.output
        return load_plan(self.latest_plan(host), host=host.name)

    def migrate(self, host: LabHost, recipient: str = "alice@example.test") -> None:
        """Plan the host and apply the saved plan (exit 0)."""
        self.plan(host, recipient)
        applied = self("apply", host.name, "--plan", str(self.latest_plan(host)))
        assert applied.exit_code == 0, applied.output
