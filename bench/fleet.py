"""Benchmark fleet runs: migrator vs an Ansible play for the same edit, on the same lab hosts.

Run as root: .venv/bin/python bench/fleet.py [--hosts 10 50] [--forks 10 50]

For each (hosts, forks): a fresh virtual-lda lab, each host with its own myhostname; wall
seconds of
  `migrator plan -i` vs `ansible-playbook --check --diff` of the plain play and of the
  collection migrator.mail (nothing changes), then
  `migrator apply -i --yes --rollback-on-fail` (plans, applies, proves delivery with a test
  message) vs the collection's run (the same, over Ansible's connection) vs the plain play's
  run, each after `migrator rollback -i` put the hosts back.
Afterwards `migrator plan -i` must find nothing to change on the hosts Ansible switched.
Ansible (ansible-core, and migrator for the collection) goes into bench/.venv-ansible, made
here with pip; it is never a dependency of migrator. The plays are bench/ansible/lmtp.yml
(plain) and bench/ansible/collection.yml.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labhosts import distinct_hostnames

from migrator.lab import lifecycle
from migrator.lab.state import Lab

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MIGRATOR = ROOT / ".venv" / "bin" / "migrator"
ANSIBLE_VENV = BENCH / ".venv-ansible"
PLAYBOOK = BENCH / "ansible" / "lmtp.yml"
COLLECTION_PLAY = BENCH / "ansible" / "collection.yml"
RECIPIENT = "alice@example.test"


def ensure_ansible() -> Path:
    """ansible-playbook from the benchmark-only virtualenv, made on first use."""
    playbook = ANSIBLE_VENV / "bin" / "ansible-playbook"
    python = ANSIBLE_VENV / "bin" / "python"
    probe = [str(python), "-c", "import ansible, migrator"]
    if not playbook.exists() or subprocess.run(probe, capture_output=True).returncode:
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
        pip = [str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, "ansible-core", "-e", str(ROOT)], check=True)
    return playbook


def timed(argv: list[str], log: Path, expect: int, env: dict[str, str] | None = None) -> float:
    """Wall seconds of one command; its output goes to log. Exits if the code is unexpected."""
    start = time.monotonic()
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    seconds = time.monotonic() - start
    if done.returncode != expect:
        sys.exit(f"{argv[0]} exited {done.returncode}, expected {expect}: see {log}")
    return seconds


def run_one(hosts: int, forks: int, playbook: Path, work: Path) -> dict[str, float]:
    """Every timing for one fleet size and fork count, on a fresh lab."""
    name = f"bf{hosts}x{forks}"[:8]
    lab = lifecycle.bring_up("virtual-lda", hosts, name)
    try:
        return _measure(lab, forks, playbook, work / name)
    finally:
        lifecycle.tear_down(name)


def _measure(lab: Lab, forks: int, playbook: Path, work: Path) -> dict[str, float]:
    work.mkdir(parents=True)
    log = work / "log.txt"
    names = [host.name for host in lab.hosts]
    distinct_hostnames(names, lab.ssh_config)
    inventory = work / "hosts"
    inventory.write_text("\n".join(names) + "\n")
    ansible_inventory = work / "ansible.ini"
    ansible_inventory.write_text(
        "[mail]\n" + "\n".join(names) + "\n\n[mail:vars]\n"
        f"ansible_ssh_common_args=-F {lab.ssh_config}\n"
        "ansible_python_interpreter=/usr/bin/python3\n"
    )
    common = ["-i", str(inventory), "--ssh-config", str(lab.ssh_config), "--forks", str(forks)]
    common += ["--plans-dir", str(work / "plans"), "--test-recipient", RECIPIENT]
    env = {**os.environ, "ANSIBLE_PIPELINING": "1", "ANSIBLE_NOCOLOR": "1"}
    env["ANSIBLE_HOME"] = str(work / "ansible-home")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT)
    play = [str(playbook), "-i", str(ansible_inventory), "-f", str(forks)]
    migrator = str(MIGRATOR)
    rollback = [migrator, "rollback", *common[:6]]
    result = {
        "migrator plan": timed([migrator, "plan", *common, "--detailed-exitcode"], log, 2),
        "ansible --check --diff": timed([*play, str(PLAYBOOK), "--check", "--diff"], log, 0, env),
        "collection --check --diff": timed(
            [*play, str(COLLECTION_PLAY), "--check", "--diff"], log, 0, env
        ),
        "migrator apply": timed(
            [migrator, "apply", *common, "--yes", "--rollback-on-fail"], log, 0
        ),
    }
    timed(rollback, log, 0)
    result["collection run"] = timed([*play, str(COLLECTION_PLAY)], log, 0, env)
    timed(rollback, log, 0)
    result["ansible run"] = timed([*play, str(PLAYBOOK)], log, 0, env)
    # Ansible's edit is the same switch: migrator finds nothing left to change.
    timed([migrator, "plan", *common, "--detailed-exitcode", "--no-save"], log, 0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--forks", type=int, nargs="+", default=[10, 50])
    args = parser.parse_args()
    playbook = ensure_ansible()
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    print(f"logs under {work}")
    print("| hosts | forks | migrator plan | collection --check --diff | ansible --check --diff "
          "| migrator apply (+ test delivery) | collection run (+ test delivery) | ansible run "
          "| collection / migrator apply |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for hosts in args.hosts:
        for forks in args.forks:
            t = run_one(hosts, forks, playbook, work)
            print(
                f"| {hosts} | {forks} | {t['migrator plan']:.1f} s "
                f"| {t['collection --check --diff']:.1f} s "
                f"| {t['ansible --check --diff']:.1f} s "
                f"| {t['migrator apply']:.1f} s | {t['collection run']:.1f} s "
                f"| {t['ansible run']:.1f} s "
                f"| {t['collection run'] / t['migrator apply']:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
