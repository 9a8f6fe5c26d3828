"""A lab host reached through Ansible inventories whose connection settings live only in
``group_vars/`` and ``host_vars/``: the key, the port, a non-root user with sudo, and
``ansible_ssh_common_args`` (``-F``, ``-o``). ``status -i`` reads each host (through sudo for
the non-root login) or names why it cannot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.lab.state import Lab

from .conftest import LabFactory

pytestmark = pytest.mark.lab


def _write(base: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base / next(iter(files))


def _status(inventory: Path, *extra: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = CliRunner().invoke(main, ["status", "-i", str(inventory), "--json", *extra])
    rows = json.loads(result.output)
    return result.exit_code, {row["host"]: row for row in rows}


def _key_port_from_vars_files(lab: Lab, base: Path) -> Path:
    address = lab.hosts[0].address
    return _write(
        base,
        {
            "inventory.ini": (
                f"[mail]\nmx ansible_host={address}\nwrongport ansible_host={address}\n"
                f"nokey ansible_host={address}\n"
            ),
            "group_vars/mail.yml": "ansible_port: 2\nansible_user: deploy\nansible_become: true\n",
            "host_vars/mx/ssh.yml": f"ansible_ssh_private_key_file: {lab.client_key}\n",
            "host_vars/mx/port.yml": "ansible_port: 22\n",
            "host_vars/wrongport.yml": f"ansible_ssh_private_key_file: {lab.client_key}\n",
            "host_vars/nokey.yml": "ansible_port: 22\n",
            # Only where known host keys live: no key, no port, no user.
            "ssh_config": (
                f"Host *\n  UserKnownHostsFile {lab.known_hosts}\n  StrictHostKeyChecking yes\n"
                "  IdentitiesOnly yes\n"
            ),
        },
    )


def test_key_port_user_and_sudo_come_from_group_vars_and_host_vars(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda", prefix="iv")
    inventory = _key_port_from_vars_files(lab, tmp_path)
    code, rows = _status(
        inventory, "--ssh-config", str(tmp_path / "ssh_config"), "--plans-dir", str(tmp_path)
    )
    assert code == 1, rows  # two hosts cannot be read
    assert "error" not in rows["mx"] and rows["mx"]["state"] == "clean", rows["mx"]
    assert f"{lab.hosts[0].address}:2" in rows["wrongport"]["error"]  # group_vars' port
    assert "connection refused" in rows["wrongport"]["error"]
    assert "authentication failed for deploy@" in rows["nokey"]["error"]  # no key: no login


def test_ssh_common_args_give_the_config_and_known_hosts(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab("virtual-lda", prefix="iw")
    address = lab.hosts[0].address
    inventory = _write(
        tmp_path,
        {
            "inventory.yml": f"all:\n  hosts:\n    mx:\n      ansible_host: {address}\n",
            "group_vars/all/ssh.yml": (
                f"ansible_ssh_private_key_file: {lab.client_key}\n"
                "ansible_ssh_common_args: >-\n"
                f"  -F /dev/null -o UserKnownHostsFile={lab.known_hosts}\n"
                "  -o StrictHostKeyChecking=yes -o ControlMaster=auto\n"
            ),
            "host_vars/mx.yml": "ansible_user: root\n",
        },
    )
    # --ssh-config points at a config that would send the host elsewhere: -F beats it.
    decoy = _write(tmp_path / "decoy", {"config": "Host *\n  Port 1\n"})
    code, rows = _status(inventory, "--ssh-config", str(decoy), "--plans-dir", str(tmp_path))
    assert code == 0 and rows["mx"]["state"] == "clean", rows
    (tmp_path / "group_vars/all/more.yml").write_text(
        "ansible_ssh_extra_args: -o ForwardAgent=yes\n"
    )
    code, rows = _status(inventory, "--plans-dir", str(tmp_path))
    assert code == 1
    assert rows["mx"]["error"] == (
        f"mx: {tmp_path / 'group_vars/all/more.yml'}:1: ansible_ssh_extra_args: "
        "ssh option ForwardAgent is not supported by migrator's SSH transport"
    )
