"""The collection itself: its version follows migrator's, it builds, bad parameters fail
with one line and change nothing (no host needed: validation comes first)."""

from __future__ import annotations

import json
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

import migrator

from .conftest import ROOT, Ansible, play

COLLECTION = ROOT / "ansible_collections" / "migrator" / "mail"


def test_galaxy_version_follows_the_package() -> None:
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert galaxy["version"] == migrator.__version__ == project["version"]
    assert (galaxy["namespace"], galaxy["name"]) == ("migrator", "mail")


# Not pure: these need the test-only Ansible virtualenv (made with pip on first use), so
# they run with the lab tests, not in the `-m 'not lab'` inner loop.
@pytest.mark.lab
def test_collection_builds(ansible_bin: Path, tmp_path: Path) -> None:
    argv = [str(ansible_bin / "ansible-galaxy"), "collection", "build", str(COLLECTION)]
    done = subprocess.run([*argv, "--output-path", str(tmp_path)], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    built = tmp_path / f"migrator-mail-{migrator.__version__}.tar.gz"
    with tarfile.open(built) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("MANIFEST.json"))  # type: ignore[arg-type]
    assert {"plugins/action/lmtp.py", "plugins/action/lmtp_info.py"} <= names
    assert "plugins/module_utils/transport.py" in names
    assert manifest["collection_info"]["version"] == migrator.__version__


@pytest.mark.lab
def test_execution_environment_builds_its_context(ansible_bin: Path, tmp_path: Path) -> None:
    """ansible-builder makes the image's build context (no container engine needed)."""
    definition = COLLECTION / "execution-environment.yml"
    argv = [str(ansible_bin / "ansible-builder"), "create", "-f", str(definition)]
    done = subprocess.run([*argv, "-c", str(tmp_path)], capture_output=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    bindep = (tmp_path / "_build" / "bindep.txt").read_text().splitlines()
    assert {"libaugeas0 [platform:dpkg]", "augeas-lenses [platform:dpkg]"} <= set(bindep)
    assert "migrator" in (tmp_path / "_build" / "requirements.txt").read_text().split()
    assert "migrator.mail" in (tmp_path / "_build" / "requirements.yml").read_text()


# Each bad task (module: parameters) and what its one-line failure must name.
BAD_TASKS = {
    "migrator.mail.lmtp": {
        "state: finished": "state",
        "lmtp: unix\n        colour: red": "colour",
        "plan: {tmp}/missing.json": "missing.json",
        "state: rolled_back\n        lmtp: unix\n        plans_dir: {tmp}": (
            "lmtp, plans_dir do not apply to state=rolled_back"
        ),
        "state: finalized\n        proof_mode: basic": "proof_mode does not apply to state=",
        "state: finalized\n        proof: false": "proof does not apply to state=finalized",
        "state: finalized\n        lmtp: unix": "lmtp does not apply to state=finalized",
        "plan: {tmp}/p.json\n        plans_dir: {tmp}": "plans_dir does not go with plan",
        "plan: {tmp}/p.json\n        lmtp: unix": "lmtp does not go with plan",
        "proof: false\n        proof_mode: ab": "proof_mode does not go with proof: false",
        "state: finalized\n        require_signature: true": "require_signature needs plan_key",
        "test_recipient: 'alice@'": "test recipient 'alice@'",
        # The host variable migrator_test_recipient (the inventory's): one must not hide the other.
        "test_recipient: bob@example.test": "and the host variable migrator_test_recipient",
    },
    "migrator.mail.lmtp_info": {
        "test_recipient: bob@example.test": "test_recipient goes with check: true",
        "check: maybe": "check",
    },
}


@pytest.mark.lab
def test_bad_parameters_fail_with_one_line(ansible_bin: Path, tmp_path: Path) -> None:
    ansible = Ansible(ansible_bin, tmp_path, tmp_path / "no-ssh-config")
    local = {"ansible_connection": "local", "migrator_test_recipient": "alice@example.test"}
    inventory = ansible.inventory({"here": local})
    try:
        for module, cases in BAD_TASKS.items():
            for params, named in cases.items():
                task = f"    - name: bad\n      {module}:\n        {params.format(tmp=tmp_path)}\n"
                run = ansible.play(inventory, play(task))
                result = run.result("here", "bad")
                assert run.rc == 2 and result["_status"] == "failed", run.output
                assert named in result["msg"] and "\n" not in result["msg"], result["msg"]
                assert "migrator.mail" not in result.get("exception", ""), result
    finally:
        ansible.close()


def _documented_playbooks() -> dict[str, str]:
    """The modules' EXAMPLES (lmtp_info's are tasks: put in a play) and the collection
    README's playbooks, by where they come from."""
    books = {}
    for module in ("lmtp", "lmtp_info"):
        path = COLLECTION / "plugins" / "modules" / f"{module}.py"
        text = path.read_text().split('EXAMPLES = r"""', 1)[1].split('"""', 1)[0]
        examples = yaml.safe_load(text)
        if "hosts" not in examples[0]:
            examples = [{"hosts": "all", "gather_facts": False, "tasks": examples}]
        books[module] = yaml.safe_dump(examples)
    readme = (COLLECTION / "README.md").read_text()
    for index, block in enumerate(readme.split("```yaml\n")[1:]):
        books[f"README.md block {index + 1}"] = block.split("```", 1)[0]
    return books


@pytest.mark.lab
def test_documented_playbooks_pass_ansible_syntax_check(ansible_bin: Path, tmp_path: Path) -> None:
    ansible = Ansible(ansible_bin, tmp_path, tmp_path / "no-ssh-config")
    books = _documented_playbooks()
    assert len(books) == 4, books.keys()
    try:
        for where, text in books.items():
            book = tmp_path / "book.yml"
            book.write_text(text)
            argv = [str(ansible_bin / "ansible-playbook"), "--syntax-check", "-i", "mx1,"]
            record = tmp_path / "record.jsonl"
            done = subprocess.run(
                [*argv, str(book)], env=ansible.env(record), capture_output=True, check=False
            )
            assert done.returncode == 0, f"{where}: {done.stderr.decode()}"
    finally:
        ansible.close()
