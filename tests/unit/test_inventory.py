"""Inventories: command-line lists, hosts files, OpenSSH configs, Ansible INI and YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import UsageError
from migrator.inventory.limit import limit
from migrator.inventory.load import load_inventory
from migrator.inventory.model import Inventory, InventoryHost

INI = """\
# mail fleet, as an admin keeps it
standalone.example.net

[mx]
mx[01:03].example.net
mx-legacy.example.net:2222  ansible_user=admin   # old box

[imap]
imap1.example.net ansible_host=10.0.0.21 ansible_port=2200
imap2.example.net ansible_ssh_host="10.0.0.22"

[mail:children]
mx
imap

[eu:children]
mail

[mail:vars]
ansible_user=ops

[imap:vars]
ansible_user=imapops

[all:vars]
migrator_test_recipient=postmaster@example.net
ansible_user=nobody
ansible_python_interpreter=/usr/bin/python3
"""

YAML = """\
all:
  vars:
    ansible_user: deploy
  hosts:
    lone.example.org:
  children:
    mail:
      vars:
        ansible_port: 2022
      children:
        mx:
          hosts:
            mx[a:c].example.org:
            mx9.example.org:
              ansible_host: 192.0.2.9
              ansible_user: root
        lmtp_done:
          hosts:
            mxa.example.org:
    web:
      hosts:
        www.example.org:
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _by_name(inventory: Inventory) -> dict[str, InventoryHost]:
    return {host.name: host for host in inventory.hosts}


def test_ini_groups_children_ranges_and_vars(tmp_path: Path) -> None:
    inventory = load_inventory([_write(tmp_path, "hosts", INI)])
    hosts = _by_name(inventory)
    assert inventory.names == (
        "standalone.example.net",
        "mx01.example.net",
        "mx02.example.net",
        "mx03.example.net",
        "mx-legacy.example.net",
        "imap1.example.net",
        "imap2.example.net",
    )
    assert hosts["standalone.example.net"] == InventoryHost(
        "standalone.example.net",
        user="nobody",
        groups=("ungrouped",),
        test_recipient="postmaster@example.net",
    )
    assert hosts["mx01.example.net"].user == "ops"  # mail:vars beat all:vars
    assert set(hosts["mx02.example.net"].groups) == {"eu", "mail", "mx"}
    legacy = hosts["mx-legacy.example.net"]
    assert (legacy.port, legacy.user) == (2222, "admin")  # host var beats group var
    imap1 = hosts["imap1.example.net"]
    assert (imap1.hostname, imap1.port, imap1.user) == ("10.0.0.21", 2200, "imapops")
    assert hosts["imap2.example.net"].hostname == "10.0.0.22"


def test_yaml_all_children_and_precedence(tmp_path: Path) -> None:
    inventory = load_inventory([_write(tmp_path, "inventory.yml", YAML)])
    hosts = _by_name(inventory)
    assert list(hosts) == [
        "lone.example.org",
        "mxa.example.org",
        "mxb.example.org",
        "mxc.example.org",
        "mx9.example.org",
        "www.example.org",
    ]
    assert hosts["lone.example.org"] == InventoryHost(
        "lone.example.org", user="deploy", groups=("ungrouped",)
    )
    assert hosts["mxb.example.org"].port == 2022
    assert hosts["mxb.example.org"].user == "deploy"
    mx9 = hosts["mx9.example.org"]
    assert (mx9.hostname, mx9.port, mx9.user) == ("192.0.2.9", 2022, "root")
    assert set(hosts["mxa.example.org"].groups) == {"mail", "mx", "lmtp_done"}


def test_yaml_detected_without_extension(tmp_path: Path) -> None:
    inventory = load_inventory([_write(tmp_path, "prod", YAML)])
    assert len(inventory.hosts) == 6


def test_ssh_config_hosts_follow_include(tmp_path: Path) -> None:
    other = _write(tmp_path, "lab2", "Host b1 b2\n  HostName 10.0.0.2\nHost *.internal\n  User x\n")
    main = _write(
        tmp_path,
        "config",
        f"Include {other}\nHost a1\n  HostName 10.0.0.1\nHost !bad a2 c?\nMatch all\n",
    )
    inventory = load_inventory([main])
    assert inventory.names == ("b1", "b2", "a1", "a2")
    assert {host.ssh_config for host in inventory.hosts} == {Path(main)}


def test_a_hosts_file_of_host_names_is_not_an_ssh_config(tmp_path: Path) -> None:
    hosts_file = _write(tmp_path, "list", "host-a.example\nhost.b\nmatch1\n")
    assert load_inventory([hosts_file]).names == ("host-a.example", "host.b", "match1")
    ssh = _write(tmp_path, "cfg", "ServerAliveInterval 30\nHost=mx1 mx2\n  User root\n")
    assert load_inventory([ssh]).names == ("mx1", "mx2")


def test_plain_hosts_file_and_command_line(tmp_path: Path) -> None:
    hosts_file = _write(tmp_path, "list", "# one a line\nmail1\nmail2:2200\n\nmail3\n")
    inventory = load_inventory([hosts_file, "mail3,root@mail4,"])
    assert inventory.names == ("mail1", "mail2", "mail3", "mail4")
    hosts = _by_name(inventory)
    assert hosts["mail2"] == InventoryHost("mail2", port=2200, groups=("ungrouped",))
    assert hosts["mail4"] == InventoryHost("mail4", user="root")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            "mx",
            ["mx01.example.net", "mx02.example.net", "mx03.example.net", "mx-legacy.example.net"],
        ),
        ("imap1.example.net", ["imap1.example.net"]),
        ("mx0*", ["mx01.example.net", "mx02.example.net", "mx03.example.net"]),
        ("imap:ungrouped", ["standalone.example.net", "imap1.example.net", "imap2.example.net"]),
        ("mail:!mx", ["imap1.example.net", "imap2.example.net"]),
        ("eu:&imap", ["imap1.example.net", "imap2.example.net"]),
        ("~mx0[12]", ["mx01.example.net", "mx02.example.net"]),
    ],
)
def test_limit_patterns(tmp_path: Path, pattern: str, expected: list[str]) -> None:
    inventory = load_inventory([_write(tmp_path, "hosts", INI)])
    assert list(limit(inventory, pattern).names) == expected


def test_limit_matching_nothing_is_an_error(tmp_path: Path) -> None:
    inventory = load_inventory([_write(tmp_path, "hosts", INI)])
    with pytest.raises(UsageError, match="matches no host"):
        limit(inventory, "nosuchgroup")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.ini", "[mx]\nmx1\n[mx:vars]\nansible_user\n", r"bad\.ini:4: expected key=value"),
        ("bad2.ini", "[mx:weird]\nmx1\n", r"bad2\.ini:1: unknown section kind"),
        ("bad3.ini", "[mx]\nmx1 ansible_port=ssh\n", r"bad3\.ini:2: mx1: ansible_port"),
        ("bad4.ini", "[mx]\nmx[3:1]\n", r"bad4\.ini:2: empty host range"),
        (
            "bad.yml",
            "all:\n  hosts:\n    - mx1\n    - mx2\n",
            r"bad\.yml:3: hosts of 'all' must be",
        ),
        ("bad2.yml", "all:\n  hostz:\n    mx1:\n", r"bad2\.yml:2: group 'all' has 'hostz'"),
        (
            "bad3.yml",
            "all:\n  hosts:\n    mx1: {ansible_port: 22\n",
            r"bad3\.yml:\d+: not valid YAML",
        ),
        ("bad_ssh", "Host a\nHost 'unclosed\n", r"bad_ssh:2:"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(UsageError, match=message) as caught:
        load_inventory([path])
    assert "\n" not in str(caught.value)


def test_missing_file_and_empty_inventory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read inventory"):
        load_inventory([str(tmp_path / "nope")])
    with pytest.raises(UsageError, match="no hosts"):
        load_inventory([_write(tmp_path, "empty", "# nothing yet\n")])
