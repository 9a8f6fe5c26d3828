"""The inventory's model: the hosts of a fleet run and how each is reached. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True, slots=True)
class InventoryHost:
    """One host of a fleet: its name, connection overrides and the groups it belongs to.

    ``hostname``/``port``/``user`` come from the inventory (``ansible_host`` ...) and beat
    the OpenSSH config, as Ansible passes them to ssh; None means "as ssh would resolve".
    ``ssh_config`` is the OpenSSH config the host was listed in, if any (it resolves there).
    ``test_recipient`` (Ansible var ``migrator_test_recipient``) beats ``--test-recipient``.
    ``ssh_options`` are ``ssh -o`` settings from the inventory (the key file, the ssh args
    variables), applied after hostname/port/user; ``ssh_config_arg`` is an ``-F`` given there,
    which beats ``--ssh-config`` (inventory variables beat the command line, as in Ansible).
    ``problem`` says (naming the inventory file and line) why the host must not be reached,
    e.g. an ``ansible_host`` OpenSSH would refuse: that host fails, the others go on.
    """

    name: str
    hostname: str | None = None
    port: int | None = None
    user: str | None = None
    groups: tuple[str, ...] = ()
    ssh_config: Path | None = None
    test_recipient: str | None = None
    problem: str | None = None
    ssh_options: tuple[tuple[str, str], ...] = ()
    ssh_config_arg: Path | None = None


@dataclass(frozen=True, slots=True)
class Inventory:
    """Hosts in inventory order (first appearance wins), and where they came from."""

    hosts: tuple[InventoryHost, ...] = ()
    sources: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(host.name for host in self.hosts)

    def merge(self, other: Inventory) -> Inventory:
        """Both inventories; a host named in both keeps the first's settings, all groups."""
        by_name = {host.name: host for host in self.hosts}
        order = list(self.hosts)
        for host in other.hosts:
            if host.name in by_name:
                kept = by_name[host.name]
                groups = kept.groups + tuple(g for g in host.groups if g not in kept.groups)
                merged = replace(kept, groups=groups)
                order[order.index(kept)] = merged
                by_name[host.name] = merged
            else:
                order.append(host)
                by_name[host.name] = host
        return Inventory(tuple(order), self.sources + other.sources)
