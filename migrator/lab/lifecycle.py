"""Bringing a lab up and down, and running commands in its hosts.

Hosts are built in parallel. A lab whose `up` was killed half-way is stale: its recorded
owner process is gone while its status is not "up"; the next `up` or `down` of that name
removes whatever it left (namespaces, links, mounts, processes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from migrator.errors import LabError
from migrator.lab import keys, network, preflight, readiness, roots, sandbox
from migrator.lab.profile import Profile, load_profile
from migrator.lab.state import Lab, LabHost, check_name, host_name, labs_root, load_lab, save_lab

_PARALLEL = 16


def bring_up(
    profile_name: str,
    count: int = 1,
    name: str = "lab",
    *,
    release: str = roots.DEFAULT_RELEASE,
    progress: roots.Progress = lambda line: None,
) -> Lab:
    """Build a lab of count hosts from a profile, running from the release's root, and wait
    until every daemon answers. The root is built first when this machine has none.

    Raises LabError (and leaves nothing behind) on bad input or a failed host.
    """
    check_name(name)
    roots.check_release(release)
    preflight.check_root()
    preflight.check_binaries()
    profile = load_profile(profile_name)
    if count < 1:
        raise LabError(f"--hosts must be at least 1, not {count}")
    existing = load_lab(name)
    if existing is not None and not is_stale(existing):
        raise LabError(f"lab name {name!r} is in use (migrator lab down --name {name})")
    root = roots.ensure_root(release, progress)
    profile.check_dovecot(root.dovecot_series)
    tear_down(name)
    lab = _new_lab(name, profile, count, root)
    save_lab(lab)
    try:
        _build(lab, profile, root)
    except BaseException:
        tear_down(name)
        raise
    lab = replace(lab, status="up")
    save_lab(lab)
    return lab


def _new_lab(name: str, profile: Profile, count: int, root: roots.Root) -> Lab:
    taken = [lab.subnet for lab in _other_labs(name)]
    subnet = network.pick_subnet(name, taken)
    hosts = tuple(
        LabHost(
            name=host_name(name, i),
            index=i,
            address=network.host_address(subnet, i),
            profile=profile.name,
            netns=network.netns_name(name, i),
            veth=network.veth_name(name, i),
            release=root.release,
            versions=root.versions,
            root=str(root.fs),
        )
        for i in range(1, count + 1)
    )
    return Lab(name, subnet, network.bridge_name(name), os.getpid(), "starting", hosts)


def _build(lab: Lab, profile: Profile, root: roots.Root) -> None:
    network.create_bridge(lab.name, lab.subnet)
    sandbox.prepare_ns_dir(lab)
    keys.generate_key(lab.client_key, f"migrator-lab-{lab.name}")
    client_pub = lab.client_key.with_suffix(".pub").read_text()
    for host in lab.hosts:
        network.create_host_link(lab.name, host.index, lab.subnet)
    keys_by_host = {host.name: keys.host_key_dir(lab, host) for host in lab.hosts}
    keys.write_client_files(lab)
    layers = (f"dovecot-{root.dovecot_series}", f"release-{root.release}")

    def build_host(host: LabHost) -> None:
        sandbox.populate(lab, host, profile, layers, (keys_by_host[host.name], client_pub))
        sandbox.boot(lab, host, profile, root.fs)
        readiness.wait_ready(host.name, host.address)

    with ThreadPoolExecutor(max_workers=min(_PARALLEL, len(lab.hosts))) as pool:
        for future in [pool.submit(build_host, host) for host in lab.hosts]:
            future.result()


def is_stale(lab: Lab) -> bool:
    """True when the lab's `up` died before finishing (its owner process is gone)."""
    if lab.status == "up":
        return False
    try:
        os.kill(lab.owner_pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def tear_down(name: str) -> bool:
    """Remove everything of the lab called name; idempotent. Returns whether anything existed."""
    check_name(name)
    lab = load_lab(name) or Lab(name, "", network.bridge_name(name), 0, "orphan")
    host_names = {h.name for h in lab.hosts}
    ns_dir = lab.directory / "ns"
    if ns_dir.is_dir():
        host_names |= {p.name.rsplit(".", 1)[0] for p in ns_dir.iterdir()}
    netns = set(network.lab_netns(name))
    links = network.lab_links(name)
    found = bool(host_names or netns or links or lab.directory.exists())

    def stop_host(host: str) -> None:
        sandbox.stop_processes(sandbox.host_pids(lab, host))
        sandbox.release_namespaces(lab, host)

    with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
        list(pool.map(stop_host, sorted(host_names)))
        list(pool.map(lambda ns: sandbox.stop_processes(network.netns_pids(ns)), sorted(netns)))
    for ns in sorted(netns):
        network.remove_netns(ns)
    for link in network.lab_links(name):
        network.remove_link(link)
    sandbox.release_ns_dir(lab)
    shutil.rmtree(lab.directory, ignore_errors=True)
    return found


def run_in_host(
    host: LabHost, lab: Lab, argv: Sequence[str], *, capture: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """Run argv inside a lab host (as root, in its namespaces); never raises on rc != 0."""
    if not argv:
        raise LabError("no command given", host=host.name)
    return subprocess.run(sandbox.enter_argv(lab, host, argv), capture_output=capture, check=False)


def _other_labs(name: str) -> list[Lab]:
    root = labs_root()
    if not root.is_dir():
        return []
    labs = (load_lab(p.name) for p in root.iterdir() if p.name != name)
    return [lab for lab in labs if lab is not None and lab.subnet]
