"""The lab's network: one bridge with a private /24, one netns and veth pair per host.

Only addresses inside the lab's own /24 are ever configured; the root namespace holds the
bridge's .1 address so that tests and the user can reach the hosts.
"""

from __future__ import annotations

import ipaddress
import subprocess
import zlib
from collections.abc import Sequence

from migrator.errors import LabError

# Candidate /24s: 10.231.0.0/16, one per lab, picked from the lab name and free of conflicts.
_BASE = ipaddress.ip_network("10.231.0.0/16")
_FIRST_HOST = 10


def ip(args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip ARGS` in the root namespace. Raises LabError when check and it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def bridge_name(lab: str) -> str:
    return f"mlbr-{lab}"


def veth_name(lab: str, index: int) -> str:
    return f"mv-{lab}-{index}"


def netns_name(lab: str, index: int) -> str:
    return f"mlab-{lab}-{index}"


def host_address(subnet: str, index: int) -> str:
    """The address of the index-th host (1-based) in a lab's subnet (a.b.c)."""
    if not 1 <= index <= 254 - _FIRST_HOST:
        raise LabError(f"a lab holds 1 to {254 - _FIRST_HOST} hosts, not {index}")
    return f"{subnet}.{_FIRST_HOST + index}"


def pick_subnet(lab: str, taken: Sequence[str]) -> str:
    """A /24 (as a.b.c) for the lab that no interface or route on this machine uses."""
    used = _used_networks()
    start = zlib.crc32(lab.encode()) % 256
    for offset in range(256):
        candidate = ipaddress.ip_network(f"10.231.{(start + offset) % 256}.0/24")
        prefix = str(candidate.network_address).rsplit(".", 1)[0]
        if prefix in taken or any(candidate.overlaps(net) for net in used):
            continue
        return prefix
    raise LabError(f"no free /24 left in {_BASE} for a lab")


def _used_networks() -> list[ipaddress.IPv4Network]:
    nets = []
    for line in ip(["-4", "-o", "route", "show", "table", "all"]).stdout.splitlines():
        dest = line.split()[0] if line.split() else ""
        if dest in ("default", "broadcast", "local", "unreachable", "prohibit", "blackhole"):
            dest = line.split()[1] if dest != "default" else ""
        try:
            nets.append(ipaddress.ip_network(dest, strict=False))
        except ValueError:
            continue
    return [n for n in nets if isinstance(n, ipaddress.IPv4Network) and n.prefixlen > 0]


def create_bridge(lab: str, subnet: str) -> str:
    """Create the lab's bridge holding the gateway address; returns its name."""
    name = bridge_name(lab)
    ip(["link", "add", name, "type", "bridge"])
    ip(["addr", "add", f"{subnet}.1/24", "dev", name])
    ip(["link", "set", name, "up"])
    return name


def create_host_link(lab: str, index: int, subnet: str) -> tuple[str, str]:
    """Create the host's netns and its veth pair on the bridge; returns (netns, veth)."""
    netns, veth = netns_name(lab, index), veth_name(lab, index)
    peer = f"{veth}p"
    address = host_address(subnet, index)
    ip(["netns", "add", netns])
    ip(["link", "add", veth, "type", "veth", "peer", "name", peer])
    ip(["link", "set", peer, "netns", netns])
    ip(["link", "set", veth, "master", bridge_name(lab), "up"])
    inside = ["-n", netns]
    ip([*inside, "link", "set", peer, "name", "eth0"])
    ip([*inside, "addr", "add", f"{address}/24", "dev", "eth0"])
    ip([*inside, "link", "set", "eth0", "up"])
    # No default route: a lab host reaches its /24 and nothing else.
    ip([*inside, "link", "set", "lo", "up"])
    return netns, veth


def netns_pids(netns: str) -> set[int]:
    """PIDs of the processes inside a netns."""
    done = ip(["netns", "pids", netns], check=False)
    return {int(p) for p in done.stdout.split() if p.isdigit()}


def lab_netns(lab: str) -> list[str]:
    """Every netns whose name says it belongs to the lab (also those of a killed run)."""
    prefix = f"mlab-{lab}-"
    names = (line.split()[0] for line in ip(["netns", "list"]).stdout.splitlines() if line)
    return [n for n in names if n.startswith(prefix)]


def lab_links(lab: str) -> list[str]:
    """The lab's bridge and root-side veths that exist now."""
    wanted = (bridge_name(lab), f"mv-{lab}-")
    links = []
    for line in ip(["-o", "link", "show"]).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name == wanted[0] or name.startswith(wanted[1]):
            links.append(name)
    return links


def remove_netns(netns: str) -> None:
    ip(["netns", "del", netns], check=False)


def remove_link(name: str) -> None:
    ip(["link", "del", name], check=False)
