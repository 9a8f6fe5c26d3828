"""migrator resolves an inventory's variables as real ansible-core does.

Each directory under ``inventories/`` is one case: an ``inventory.*`` file with its
``group_vars/`` and ``host_vars/`` (files, ``.yml``/``.yaml``/``.json``/no extension,
directories, nested directories, skipped extensions), groups nested and ordered by
``ansible_group_priority``. A new case is a new directory. For each, the host variables
migrator resolves must equal ``ansible-inventory --list``'s ``_meta.hostvars``, and that JSON,
given back to migrator, must give the same variables and the same hosts.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from migrator.inventory.load import load_inventory, load_variables

HERE = Path(__file__).resolve().parent
CASES = sorted(path for path in (HERE / "inventories").iterdir() if path.is_dir())


def _ansible_list(ansible_bin: Path, inventory: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(ansible_bin / "ansible-inventory"), "-i", str(inventory), "--list"],
        capture_output=True,
        check=False,
        cwd=inventory.parent,
    )
    assert done.returncode == 0, done.stderr.decode()
    listed: dict[str, Any] = json.loads(done.stdout)
    return listed


def _plain(found: Any) -> Any:
    """Ansible's JSON spelling of ``!unsafe`` text, as the text (migrator reads it so)."""
    if isinstance(found, dict):
        if list(found) == ["__ansible_unsafe"]:
            return found["__ansible_unsafe"]
        return {key: _plain(item) for key, item in found.items()}
    return [_plain(item) for item in found] if isinstance(found, list) else found


def _inventory(case: Path) -> Path:
    [found] = [path for path in case.iterdir() if path.name.startswith("inventory.")]
    return found


# Not pure: these need the test-only Ansible virtualenv (made with pip on first use), so
# they run with the lab tests, not in the `-m 'not lab'` inner loop.
@pytest.mark.lab
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_host_vars_equal_ansible_inventory_list(
    ansible_bin: Path, case: Path, tmp_path: Path
) -> None:
    inventory = _inventory(case)
    listed = _ansible_list(ansible_bin, inventory)
    expected = _plain(listed["_meta"]["hostvars"])
    assert expected, "the case must define some variables"
    assert load_variables(str(inventory)) == expected
    exported = tmp_path / "fleet.json"  # away from the case's group_vars, as a dynamic one
    exported.write_text(json.dumps(listed, indent=4))
    assert load_variables(str(exported)) == expected
    from_ansible = {host.name: host for host in load_inventory([str(exported)]).hosts}
    from_files = {host.name: host for host in load_inventory([str(inventory)]).hosts}
    assert from_ansible.keys() == from_files.keys()
    for name, host in from_files.items():
        other = from_ansible[name]
        assert (host.hostname, host.port, host.user) == (other.hostname, other.port, other.user)
        assert (host.problem is None) == (other.problem is None)
        assert host.ssh_options == other.ssh_options
        assert set(host.groups) == set(other.groups)
