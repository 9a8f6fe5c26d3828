"""Inventories written by someone else: bad names fail their own host, ranges are bounded."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from migrator.errors import UsageError
from migrator.fleet.work import Reacher
from migrator.inventory.ansible import MAX_RANGE_HOSTS
from migrator.inventory.load import load_inventory
from migrator.inventory.model import InventoryHost

INI = """\
[mx]
mx1 ansible_host="a$(touch /tmp/x)b"
mx2
mx3 ansible_user="ops;id"
mx4 migrator_test_recipient="<alice@example.test>"
mx5`id`
"""

YAML = """\
all:
  hosts:
    mx1:
      migrator_test_recipient: |
        alice@example.test
    mx2:
      migrator_test_recipient: |-
        alice@example.test
    mx3:
      migrator_test_recipient: "alice@example.test\\r\\nRCPT TO:<bob@example.test>"
"""


def _hosts(path: Path) -> dict[str, InventoryHost]:
    return {host.name: host for host in load_inventory([str(path)]).hosts}


def test_a_bad_name_or_user_fails_only_its_host_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text(INI)
    hosts = _hosts(path)
    assert hosts["mx2"].problem is None
    problems = {name: host.problem or "" for name, host in hosts.items()}
    assert problems["mx1"].startswith(f"{path}:2: ansible_host: host name 'a$(touch /tmp/x)b'")
    assert problems["mx3"].startswith(f"{path}:4: ansible_user: user name 'ops;id'")
    assert f"{path}:6: host name 'mx5`id`'" in problems["mx5`id`"]
    for name in ("mx1", "mx3", "mx5`id`"):
        with pytest.raises(UsageError, match="invalid characters") as caught:
            Reacher()(hosts[name])  # refused before any connection or expansion
        assert str(caught.value).startswith(f"{name}: {path}:")


def test_a_bad_test_recipient_fails_only_its_host(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text(INI)
    problem = _hosts(path)["mx4"].problem or ""
    assert f"{path}:5: migrator_test_recipient: test recipient" in problem
    assert problem.endswith("must be given without <>")
    yaml_path = tmp_path / "inventory.yml"
    yaml_path.write_text(YAML)
    problem = _hosts(yaml_path)["mx3"].problem or ""
    assert f"{yaml_path}:10: migrator_test_recipient: test recipient" in problem  # its line
    assert "control character" in problem and "\n" not in problem and "\r" not in problem


def test_a_yaml_block_scalar_newline_is_refused_not_stripped(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(YAML)
    hosts = _hosts(path)
    assert "ends with a newline" in (hosts["mx1"].problem or "")
    assert "nothing is stripped" in (hosts["mx1"].problem or "")
    assert hosts["mx1"].test_recipient == "alice@example.test\n"  # kept as written
    assert hosts["mx2"].problem is None and hosts["mx2"].test_recipient == "alice@example.test"


def test_ssh_config_inventory_names_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "ssh_config"
    path.write_text("Host mx1\n  Port 22\nHost mx2 'mx$(id)'\n  Port 2222\n")
    hosts = _hosts(path)
    assert hosts["mx1"].problem is None and hosts["mx2"].problem is None
    assert (hosts["mx$(id)"].problem or "").startswith(f"{path}:3: host name 'mx$(id)'")


def test_command_line_names_are_refused_at_once() -> None:
    with pytest.raises(UsageError, match="host name 'mx1;id'"):
        load_inventory(["mx0,mx1;id,"])
    with pytest.raises(UsageError, match="user name 'a b'"):
        load_inventory(["a b@mx1,"])


@pytest.mark.parametrize(
    ("word", "count"),
    [("x[0:99999999]", 100_000_000), ("x[0:999][0:999]", 1_000_000), ("x[a:z][0:999]", 26_000)],
)
def test_a_huge_range_is_one_line_naming_file_and_line(
    tmp_path: Path, word: str, count: int
) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text(f"# fleet\n\n{word}\n")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    # 512 MiB more address space than now: building 10^8 names would hit MemoryError.
    in_use = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    limit = in_use + (512 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard < 0 else min(limit, hard), hard))
    try:
        with pytest.raises(UsageError) as caught:
            load_inventory([str(path)])
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert str(caught.value) == (
        f"{path}:3: host range {word!r} expands to {count} hosts; at most {MAX_RANGE_HOSTS} a line"
    )


def test_ranges_up_to_the_bound_still_expand_in_order(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("mx[1:2][a:b].example\n")
    names = load_inventory([str(path)]).names
    assert names == ("mx1a.example", "mx1b.example", "mx2a.example", "mx2b.example")
    path.write_text("x[0000:9999]\n")
    assert len(load_inventory([str(path)]).names) == MAX_RANGE_HOSTS


@pytest.mark.parametrize("word", ["x[1:3:0]", "x[3:1]"])
def test_a_stride_of_zero_or_a_reversed_range_is_refused(tmp_path: Path, word: str) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text(f"{word}\n")
    with pytest.raises(UsageError, match=f"{path}:1: "):
        load_inventory([str(path)])
