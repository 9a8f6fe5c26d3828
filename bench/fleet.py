"""Benchmark fleet runs: migrator vs pyinfra (and, with --ansible, Ansible) for the same edit,
on the same lab hosts, in the same run.

Run as root: .venv/bin/python bench/fleet.py [--hosts 10 50] [--forks 20] [--rounds 3]
Plans only, against another checkout of migrator (say `git archive main` unpacked in DIR):
  .venv/bin/python bench/fleet.py --plan-only DIR
Apply's proof and the labs' names: [--proof basic|ab] [--lab-prefix bf]

For each fleet size: a fresh virtual-lda lab, each host with its own myhostname. Each round
times, one after the other on the same hosts,
  `migrator plan -i` vs `pyinfra --dry --diff` (no `-y`: facts gathered, changes detected
  and printed, nothing changed), then
  `migrator apply -i --yes --rollback-on-fail` (plans, applies, proves delivery with a test
  message; `--proof` is passed through, the CLI's default when not given) vs `pyinfra -y`
  running bench/pyinfra/lmtp.py.
After each tool's run `migrator plan -i --detailed-exitcode` must find nothing left to change
(else the benchmark stops), then every host gets its original files back (copied aside at
the start, mtime kept: Postfix naps while main.cf is younger than two seconds, which no
host planned in real life is) and Postfix and Dovecot reload. The table shows the median of
the rounds, the ratios of those medians, the control node's CPU per host for a plan, the
delivery proof's share of a host's apply, the SSH round trips one host's apply takes, each
tool's apply CPU (control node and lab hosts), the control node's share of it per host (what
grows with a real fleet, whose hosts have their own CPUs), and the load average (2 cores
shared with the lab hosts and other work: only ratios from one run compare).

pyinfra (and Ansible) go into benchmark-only virtualenvs made here with pip from PyPI
(bench/.venv-pyinfra, bench/.venv-ansible); they are never dependencies of migrator.
pyinfra needs no Python on the hosts (its operations are shell commands).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from labhosts import distinct_hostnames, lab_cpu
from roundtrips import apply_round_trips

from migrator.lab import lifecycle
from migrator.lab.state import Lab

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MIGRATOR = ROOT / ".venv" / "bin" / "migrator"
PYINFRA_VENV = BENCH / ".venv-pyinfra"
PYINFRA_DEPLOY = BENCH / "pyinfra" / "lmtp.py"
ANSIBLE_VENV = BENCH / ".venv-ansible"
PLAYBOOK = BENCH / "ansible" / "lmtp.yml"
COLLECTION_PLAY = BENCH / "ansible" / "collection.yml"
RECIPIENT = "alice@example.test"
# The files the switch edits, copied aside on each host so every run starts from the LDA.
EDITED = ("/etc/postfix/main.cf", "/etc/dovecot/conf.d/10-master.conf")
EDITED += ("/etc/dovecot/conf.d/20-lmtp.conf",)
SAVED = "/root/bench-orig.tar"


def ensure_venv(venv: Path, probe: str, packages: list[str]) -> Path:
    """The benchmark-only virtualenv VENV with PACKAGES (pip, PyPI), made on first use."""
    python = venv / "bin" / "python"
    if not python.exists() or subprocess.run([str(python), "-c", probe]).returncode:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *packages], check=True)
    return venv / "bin"


@dataclass(frozen=True, slots=True)
class Timed:
    """One command: wall seconds, the CPU seconds it used on the control node and (when
    measured) on the lab hosts."""

    seconds: float
    cpu: float
    hosts: float = 0.0


def timed(
    argv: list[str],
    log: Path,
    expect: int,
    env: dict[str, str] | None = None,
    lab: Lab | None = None,
) -> Timed:
    """Wall and CPU seconds of one command (with LAB, the hosts' CPU too); its output goes to
    log. Exits if its code is not EXPECT (the benchmark then proves nothing)."""
    hosts = lab_cpu(lab) if lab else 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != expect:
        sys.exit(f"{argv[0]} exited {done.returncode}, expected {expect}: see {log}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if lab:
        time.sleep(0.5)  # the last sessions' processes are reaped
        hosts = lab_cpu(lab) - hosts
    return Timed(seconds, cpu, hosts)


@dataclass(frozen=True, slots=True)
class Fleet:
    """A lab prepared for the tools: inventories, common arguments, where logs go."""

    lab: Lab
    work: Path
    forks: int
    proof: str | None = None
    baseline: Path | None = None
    """Another checkout of migrator (--plan-only BASELINE) whose `plan -i` is timed too."""

    @property
    def names(self) -> list[str]:
        return [host.name for host in self.lab.hosts]

    @property
    def log(self) -> Path:
        return self.work / "log.txt"

    def migrator(self, *args: str) -> list[str]:
        common = ["-i", str(self.work / "hosts"), "--ssh-config", str(self.lab.ssh_config)]
        common += ["--forks", str(self.forks), "--test-recipient", RECIPIENT]
        if args[0] == "apply" and self.proof:
            common += ["--proof", self.proof]
        return [str(MIGRATOR), args[0], *common, *args[1:]]

    def pyinfra(self, *args: str) -> list[str]:
        data = {"ssh_user": "root", "ssh_key": str(self.lab.client_key)}
        data |= {"ssh_known_hosts_file": str(self.lab.known_hosts)}
        data |= {"ssh_strict_host_key_checking": "yes"}
        options = [item for key, value in data.items() for item in ("--data", f"{key}={value}")]
        inventory = str(self.work / "pyinfra_inventory.py")
        command = [str(PYINFRA_VENV / "bin" / "pyinfra"), "--parallel", str(self.forks)]
        return [*command, *options, *args, inventory, str(PYINFRA_DEPLOY)]

    def ssh_all(self, command: str) -> None:
        """Run COMMAND on every host (in parallel); exit the benchmark if one fails."""
        config = str(self.lab.ssh_config)

        def one(name: str) -> int:
            return subprocess.run(["ssh", "-F", config, name, command]).returncode

        with ThreadPoolExecutor(max_workers=10) as pool:
            if any(pool.map(one, self.names)):
                sys.exit(f"a host failed: {command}")


def prepare(
    lab: Lab, work: Path, forks: int, proof: str | None, baseline: Path | None = None
) -> Fleet:
    """Inventories for each tool, distinct hostnames, the original files copied aside."""
    work.mkdir(parents=True)
    fleet = Fleet(lab, work, forks, proof, baseline)
    distinct_hostnames(fleet.names, lab.ssh_config)
    (work / "hosts").write_text("\n".join(fleet.names) + "\n")
    hosts = ", ".join(f"({h.name!r}, {{'ssh_hostname': {h.address!r}}})" for h in lab.hosts)
    (work / "pyinfra_inventory.py").write_text(f"hosts = [{hosts}]\n")
    (work / "ansible.ini").write_text(
        "[mail]\n" + "\n".join(fleet.names) + "\n\n[mail:vars]\n"
        f"ansible_ssh_common_args=-F {lab.ssh_config}\n"
        "ansible_python_interpreter=/usr/bin/python3\n"
    )
    fleet.ssh_all(f"tar -C / -cf {SAVED} {' '.join(p[1:] for p in EDITED)}")
    return fleet


def reset(fleet: Fleet) -> None:
    """Put every host back on the LDA: original files (mtime kept), Dovecot and Postfix
    reloaded."""
    fleet.ssh_all(f"tar -C / -xpf {SAVED} && doveadm reload && postfix reload 2>/dev/null")
    time.sleep(1)  # Dovecot's listeners are back


def settled(fleet: Fleet) -> None:
    """migrator finds nothing left to change: the tool just timed made the whole switch."""
    timed(fleet.migrator("plan", "--detailed-exitcode", "--no-save"), fleet.log, 0)


def plan_round(fleet: Fleet) -> dict[str, Timed]:
    """The read-only timings of one round: `migrator plan -i` and `pyinfra --dry --diff`
    (and first, given a baseline, the baseline checkout's `plan -i`)."""
    log, plan = fleet.log, fleet.migrator("plan", "--detailed-exitcode", "--no-save")
    result = {}
    if fleet.baseline is not None:
        env = {**os.environ, "PYTHONPATH": str(fleet.baseline)}
        result["baseline plan"] = timed(plan, log, 2, env)
    result["migrator plan"] = timed(plan, log, 2)
    result["pyinfra --dry --diff"] = timed(fleet.pyinfra("--dry", "--diff"), log, 0)
    return result


def one_round(fleet: Fleet, ansible: Path | None) -> dict[str, Timed]:
    """Every timing of one round; the hosts end on the LDA, as they began."""
    log, report = fleet.log, fleet.work / "apply.json"
    result = plan_round(fleet)
    result |= {
        "migrator apply": timed(
            fleet.migrator("apply", "--yes", "--rollback-on-fail", "--report-json", str(report)),
            log,
            0,
            lab=fleet.lab,
        ),
    }
    settled(fleet)
    result["proof share"] = Timed(proof_share(report), 0.0)
    reset(fleet)
    result["pyinfra run"] = timed(fleet.pyinfra("-y"), log, 0, lab=fleet.lab)
    settled(fleet)
    reset(fleet)
    if ansible is not None:
        result |= ansible_round(fleet, ansible)
    return result


def ansible_round(fleet: Fleet, ansible: Path) -> dict[str, Timed]:
    """The plain play and the collection migrator.mail: check, then run (each settled)."""
    log = fleet.log
    play = [str(ansible / "ansible-playbook"), "-i", str(fleet.work / "ansible.ini")]
    play += ["-f", str(fleet.forks)]
    env = {**os.environ, "ANSIBLE_PIPELINING": "1", "ANSIBLE_NOCOLOR": "1"}
    env |= {"ANSIBLE_HOME": str(fleet.work / "ansible-home")}
    env |= {"ANSIBLE_COLLECTIONS_PATH": str(ROOT)}
    result = {}
    for label, playbook in (("ansible", PLAYBOOK), ("collection", COLLECTION_PLAY)):
        result[f"{label} --check --diff"] = timed([*play, str(playbook), "-C", "-D"], log, 0, env)
        result[f"{label} run"] = timed([*play, str(playbook)], log, 0, env)
        settled(fleet)
        reset(fleet)
    return result


PROOF_STEPS = ("proof_before", "test_delivery")


def proof_share(report: Path) -> float:
    """The median share of a host's apply spent proving delivery (the test messages: the
    A/B proof's before and after, or the basic proof's one)."""
    hosts = json.loads(report.read_text())["hosts"]
    shares = []
    for host in hosts:
        proof = sum(s["seconds"] for s in host["steps"] if s["action"] in PROOF_STEPS)
        shares.append(proof / host["seconds"])
    return statistics.median(shares)


@dataclass(frozen=True, slots=True)
class Settings:
    """The run's options that every fleet size shares."""

    forks: int
    rounds: int
    work: Path
    ansible: Path | None
    proof: str | None
    prefix: str
    plan_only: Path | None
    """Time plans only (ROOT: no baseline; else a baseline checkout's plan too)."""


def run_size(hosts: int, settings: Settings) -> None:
    """Bring up a fresh lab of HOSTS, time the rounds, print the row, take the lab down."""
    forks, rounds, ansible = settings.forks, settings.rounds, settings.ansible
    plan_only = settings.plan_only
    name = f"{settings.prefix}{hosts}"
    lab = lifecycle.bring_up("virtual-lda", hosts, name)
    try:
        baseline = plan_only if plan_only != ROOT else None
        fleet = prepare(lab, settings.work / name, forks, settings.proof, baseline)
        if plan_only:
            runs = [plan_round(fleet) for _ in range(rounds)]
            print_plan_row(hosts, forks, runs)
            return
        runs = [one_round(fleet, ansible) for _ in range(rounds)]
        trips = apply_round_trips(fleet.names[0], lab.ssh_config, RECIPIENT, settings.proof)
        reset(fleet)
    finally:
        lifecycle.tear_down(name)
    print_row(hosts, forks, runs, trips)


def print_plan_row(hosts: int, forks: int, runs: list[dict[str, Timed]]) -> None:
    """The plan columns only (--plan-only): medians, then the baseline's, then every round."""

    def median(key: str, cpu: bool = False) -> float:
        return statistics.median(r[key].cpu / hosts if cpu else r[key].seconds for r in runs)

    plan, dry = median("migrator plan"), median("pyinfra --dry --diff")
    row = [f"{hosts}", f"{forks}", f"{plan:.2f} s", f"{dry:.2f} s", f"{dry / plan:.2f}x"]
    row += [f"{median('migrator plan', cpu=True):.3f} s"]
    if "baseline plan" in runs[0]:
        base = median("baseline plan")
        row += [f"{base:.2f} s", f"{dry / base:.2f}x", f"{median('baseline plan', True):.3f} s"]
    row += [" ".join(f"{x:.1f}" for x in os.getloadavg())]
    keys = [k for k in ("baseline plan", "migrator plan", "pyinfra --dry --diff") if k in runs[0]]
    row += [" ".join("/".join(f"{r[k].seconds:.2f}" for k in keys) for r in runs)]
    print(f"| {' | '.join(row)} |", flush=True)


def print_row(hosts: int, forks: int, runs: list[dict[str, Timed]], trips: int) -> None:
    def median(key: str) -> float:
        return statistics.median(run[key].seconds for run in runs)

    plan, dry = median("migrator plan"), median("pyinfra --dry --diff")
    apply, run = median("migrator apply"), median("pyinfra run")
    cpu = statistics.median(r["migrator plan"].cpu for r in runs) / hosts
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    row = [f"{hosts}", f"{forks}", f"{plan:.2f} s", f"{dry:.2f} s", f"{dry / plan:.2f}x"]
    row += [f"{cpu:.3f} s", f"{apply:.2f} s", f"{run:.2f} s", f"{run / apply:.2f}x"]
    row += [f"{100 * median('proof share'):.0f}%", f"{trips}"]

    def total(key: str) -> float:
        return statistics.median(r[key].cpu + r[key].hosts for r in runs)

    def control(key: str) -> float:
        return statistics.median(r[key].cpu for r in runs) / hosts

    mine, theirs = total("migrator apply"), total("pyinfra run")
    row += [f"{mine:.1f} s / {theirs:.1f} s ({theirs / mine:.2f}x)"]
    mine, theirs = control("migrator apply"), control("pyinfra run")
    row += [f"{mine:.3f} s / {theirs:.3f} s ({theirs / mine:.2f}x)", load]
    for tool in ("ansible", "collection") if "ansible run" in runs[0] else ():
        row += [f"{median(f'{tool} --check --diff'):.1f} s / {median(f'{tool} run'):.1f} s"]
    print(f"| {' | '.join(row)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ansible", action="store_true", help="also time the Ansible play")
    parser.add_argument(
        "--plan-only",
        nargs="?",
        const=ROOT,
        type=Path,
        metavar="BASELINE",
        help="time only plan -i and pyinfra --dry --diff (and, in the same rounds, plan -i of "
        "the migrator checkout BASELINE if given: PYTHONPATH, this venv)",
    )
    parser.add_argument("--proof", choices=["basic", "ab"], help="apply's proof (CLI's default)")
    parser.add_argument("--lab-prefix", default="bf", help="lab names: PREFIX<hosts> (unique here)")
    args = parser.parse_args()
    ensure_venv(PYINFRA_VENV, "import pyinfra", ["pyinfra>=3.10,<4"])
    ansible = None
    if args.ansible:
        packages = ["ansible-core", "-e", str(ROOT)]
        ansible = ensure_venv(ANSIBLE_VENV, "import ansible, migrator", packages)
    # As pip compiles an installed package's modules (pyinfra's included); an editable
    # checkout under PYTHONDONTWRITEBYTECODE would compile them again at every start.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "migrator")], check=True)
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    proof = args.proof or "the CLI's default"
    print(f"logs under {work}; median of {args.rounds} rounds; apply's proof: {proof}")
    header = ["hosts", "forks", "migrator plan", "pyinfra --dry --diff", "pyinfra/plan"]
    if args.plan_only:
        header += ["plan CPU/host"]
        if args.plan_only != ROOT:
            header += ["baseline plan", "pyinfra/baseline", "baseline CPU/host"]
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(args.plan_only)])
        header += ["load 1/5/15", "each round (s)"]
    else:
        header += ["plan CPU/host", "migrator apply (+proof)", "pyinfra run", "pyinfra/apply"]
        header += ["proof share", "apply round trips/host"]
        header += ["apply CPU (control+hosts) migrator / pyinfra"]
        header += ["apply control CPU/host migrator / pyinfra", "load 1/5/15"]
        header += ["ansible check / run", "collection check / run"] if ansible else []
    print(f"| {' | '.join(header)} |\n|{'---:|' * len(header)}")
    settings = Settings(
        args.forks, args.rounds, work, ansible, args.proof, args.lab_prefix, args.plan_only
    )
    for hosts in args.hosts:
        run_size(hosts, settings)


if __name__ == "__main__":
    main()
