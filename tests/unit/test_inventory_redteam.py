"""Hostile inventories: every probe gives one line naming the file (and line), never a
traceback, a hang or a value silently dropped; what concerns one host fails only that host."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.errors import UsageError
from migrator.inventory.load import load_inventory
from migrator.inventory.model import InventoryHost
from migrator.transport.ssh_config import resolve_host
from tests.unit.no_hang import no_hang  # noqa: F401 (the fixture, by name)

_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)


pytestmark = pytest.mark.usefixtures("no_hang")


def _write(root: Path, files: dict[str, str | bytes | None]) -> Path:
    """Files under root (None: a FIFO); returns the first, the inventory."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            os.mkfifo(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root / next(iter(files))


def _refused(path: Path, pattern: str) -> str:
    with pytest.raises(UsageError, match=pattern) as caught:
        load_inventory([str(path)])
    message = str(caught.value)
    assert "\n" not in message and str(path.parent) in message
    return message


def _host(path: Path, name: str = "h1") -> InventoryHost:
    return {h.name: h for h in load_inventory([str(path)]).hosts}[name]


def _listed(hostvars: dict[str, object], **groups: object) -> str:
    return json.dumps({"_meta": {"hostvars": hostvars}, "all": {"hosts": list(hostvars)}, **groups})


@pytest.mark.parametrize(
    ("files", "pattern"),
    [
        ({"hosts": "h1\n", "group_vars/all": None}, r"group_vars/all: not a regular file"),
        ({"hosts": "h1\n", "group_vars/all.yml": None}, r"all\.yml: not a regular file"),
        (
            {"hosts": "h1\n", "group_vars/all/a.yml": "x: 1\n", "group_vars/all/b.yml": None},
            r"all/b\.yml: not a regular file",
        ),
        ({"inv": None}, r"cannot read inventory .*/inv: not a regular file"),
        ({"hosts": "h1\n", "group_vars/all.yml": _BOMB}, r"all\.yml:1: YAML aliases expand"),
        ({"inv.yml": "all:\n  vars:\n    " + _BOMB.replace("\n", "\n    ")}, r"inv\.yml:1: YAML"),
        (
            {"hosts": "h1\n", "group_vars/all.yml": "x: " + "[" * 900 + "]" * 900 + "\n"},
            r"all\.yml:1: nested deeper than 64 levels",
        ),
        (
            {"hosts": "h1\n", "group_vars/all.yml": "ansible_host: a\nansible_host: b\n"},
            r"all\.yml:2: 'ansible_host' is set twice in one mapping \(also line 1\)",
        ),
        (
            {"inv.yml": "all:\n  hosts:\n    h1: {ansible_host: a}\n    h1: {ansible_host: b}\n"},
            r"inv\.yml:4: 'h1' is set twice",
        ),
        ({"inv.json": '{"_meta": {"hostvars": {"h1": {}, "h1": {}}}}'}, r"inv\.json:1: 'h1' is"),
        ({"hosts": "h1\n", "group_vars/all.yml": b"x: 1\ny: \xff\n"}, r"all\.yml:2: .*not UTF-8"),
        ({"hosts": b"h1\n\xfe\n"}, r"hosts:2: inventory is not UTF-8"),
        ({"hosts": "[a]\nh1\n[a:children]\nb\n[b:children]\na\n"}, r"hosts:6: group 'a' as a"),
        ({"hosts": "[a]\nh1\n[a:children]\na\n"}, r"hosts:4: group 'a' as a child of 'a'"),
        (
            {
                "inv.yml": "all:\n  children:\n    a:\n      hosts: {h1: }\n      children:\n"
                "        b:\n          children:\n            a:\n"
            },
            r"inv\.yml:8: group 'a' as a child of 'b' makes a loop",
        ),
        ({"inv.json": _listed({"h1": {}}, a={"children": ["a"]})}, r"group 'a' as a child of"),
        ({"hosts": "h1 ansible_port=" + "9" * 5000 + "\n"}, r"hosts:1: h1: ansible_port is not"),
        ({"hosts": "h1:99999999\n"}, r"hosts:1: h1: ansible_port is not a number 1-65535"),
        ({"inv.json": _listed({"h1": {"ansible_port": 10**30}})}, r"an integer of 100 bits"),
        ({"inv.json": _listed({"h1": {"ansible_port": -22}})}, r"ansible_port is not a number"),
        ({"inv.json": _listed({"h1": {"ansible_port": 0}})}, r"ansible_port is not a number"),
        ({"inv.json": _listed({"h1": {"ansible_port": "\u00b2"}})}, r"ansible_port is not a"),
        ({"inv.json": _listed({"h1": {"ansible_port": "\uff12\uff12"}})}, r"ansible_port is not"),
        (
            {"inv.json": '{"_meta": {"hostvars": {"h1": {"ansible_port": ' + "9" * 5000 + "}}}}"},
            r"inv\.json:1: cannot read value",
        ),
    ],
)
def test_a_hostile_file_refuses_the_inventory_in_one_line(
    tmp_path: Path, files: dict[str, str | bytes | None], pattern: str
) -> None:
    _refused(_write(tmp_path, files), pattern)


def test_a_symlink_loop_in_a_vars_directory_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, {"hosts": "h1\n", "group_vars/all/a.yml": "x: 1\n"})
    (tmp_path / "group_vars/all/loop").symlink_to(".")
    _refused(path, r"group_vars/all/loop: a symlink loop")


def test_a_vars_file_linked_to_a_device_is_not_read(tmp_path: Path) -> None:
    path = _write(tmp_path, {"hosts": "h1\n"})
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars/all.yml").symlink_to("/dev/zero")
    _refused(path, r"all\.yml: not a regular file")


@pytest.mark.parametrize(
    ("hostvars", "pattern"),
    [
        ({"ansible_host": ["a", "b"]}, r"ansible_host must be a string, not list"),
        ({"ansible_host": {"x": "y"}}, r"ansible_host must be a string, not dict"),
        ({"ansible_host": True}, r"ansible_host must be a string, not bool"),
        ({"ansible_host": {"__ansible_unsafe": {"x": 1}}}, r"must be a string, not dict"),
        ({"ansible_user": ["root"]}, r"ansible_user must be a string, not list"),
        ({"migrator_test_recipient": ["a@b.example"]}, r"migrator_test_recipient must be a"),
        ({"migrator_test_recipient": {"__ansible_vault": "x"}}, r"Vault-encrypted"),
        ({"ansible_ssh_common_args": ["-oProxyCommand=x"]}, r"must be a string, not list"),
        ({"ansible_ssh_private_key_file": ["/k"]}, r"must be a string, not list"),
        ({"ansible_ssh_private_key_file": "/k\nProxyCommand x"}, r"is not a file name"),
        ({"ansible_ssh_timeout": 10**40}, r"ansible_ssh_timeout is not a number of seconds"),
        ({"ansible_become": True, "ansible_become_user": ["root"]}, r"must be a string"),
        ({"ansible_connection": {"ssh": 1}}, r"ansible_connection must be a string"),
        ({"ansible_ssh_common_args": "-o 'ProxyCommand=x\ny'"}, r"control character"),
        ({"ansible_ssh_common_args": "-o Port=22\u0000"}, r"Port value .* control character"),
        ({"ansible_ssh_common_args": "-p -1"}, r"-p: Port '-1' is not a number 1-65535"),
        ({"ansible_ssh_common_args": "-p 99999999999999999999"}, r"Port .* is not a number"),
        ({"ansible_ssh_common_args": "-o Port=70000"}, r"Port '70000' is not a number"),
        ({"ansible_ssh_common_args": "-o HostName=a;id"}, r"HostName: host name 'a;id'"),
        ({"ansible_ssh_common_args": "-l '-oProxyCommand=x'"}, r"-l: User: user name"),
        ({"ansible_ssh_common_args": "-J '-oProxyCommand=x'"}, r"-J: ProxyJump: host name"),
        ({"ansible_ssh_common_args": "-J 'ops@jump:99999'"}, r"Port '99999' is not a number"),
        ({"ansible_ssh_common_args": "-o ConnectTimeout=-5"}, r"ConnectTimeout '-5' is not"),
        ({"ansible_ssh_common_args": "-o StrictHostKeyChecking=maybe"}, r"is not one of"),
        ({"ansible_ssh_extra_args": "-o HostKeyAlias=`id`"}, r"HostKeyAlias: host name"),
    ],
)
def test_a_hostile_value_fails_only_its_host_naming_file_and_line(
    tmp_path: Path, hostvars: dict[str, object], pattern: str
) -> None:
    path = _write(tmp_path, {"inv.json": _listed({"h1": hostvars, "h2": {}})})
    problem = _host(path).problem or ""
    assert problem.startswith(f"{path}:1: ") and "\n" not in problem
    assert re.search(pattern, problem), problem
    assert _host(path, "h2").problem is None


def test_a_yaml_merge_key_is_honoured_not_dropped(tmp_path: Path) -> None:
    base = "base: &b\n  ansible_port: 2222\n  ansible_user: ops\n<<: *b\nansible_user: admin\n"
    path = _write(tmp_path, {"hosts": "h1\n", "group_vars/all.yml": base})
    host = _host(path)
    assert (host.port, host.user, host.problem) == (2222, "admin", None)


def test_a_group_named_like_a_path_reads_no_file_outside(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd.yml").write_text("ansible_host: outside\n")
    path = _write(tmp_path, {"inv/hosts": "[../../etc]\nh1\n[..]\nh1\n", "inv/group_vars/x": ""})
    assert _host(path).hostname is None


def test_a_name_too_long_for_a_file_has_no_vars_file(tmp_path: Path) -> None:
    name = "h" * 300
    path = _write(tmp_path, {"hosts": f"{name}\n[{'g' * 300}]\n{name}\n", "host_vars/x": ""})
    (tmp_path / "group_vars").mkdir()
    assert _host(path, name).problem is None


def test_many_groups_with_many_parents_resolve_quickly(tmp_path: Path) -> None:
    """40 levels of groups, each a child of both groups above it: 2**40 paths up to all."""
    lines = ["[g0a]", "h1"]
    for level in range(1, 41):
        for side in "ab":
            lines += [f"[g{level - 1}{side}:children]", f"g{level}a", f"g{level}b"]
    path = _write(tmp_path, {"hosts": "\n".join(lines) + "\n"})
    assert _host(path).problem is None


def test_thousands_of_vars_files_are_all_read(tmp_path: Path) -> None:
    files: dict[str, str | bytes | None] = {"hosts": "h1\n"}
    files.update({f"group_vars/all/f{i:05}.yml": f"v{i}: 1\n" for i in range(2000)})
    files["group_vars/all/f99999.yml"] = "ansible_port: 2200\n"
    assert _host(_write(tmp_path, files)).port == 2200


def test_a_port_in_other_digits_is_not_a_port(tmp_path: Path) -> None:
    """``str.isdigit`` takes '\u00b2': int() then raised ValueError, a traceback."""
    host = _host(_write(tmp_path, {"hosts": "h1:\u00b2\n"}), "h1:\u00b2")
    assert host.port is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "~("], "migrator: error: --limit: ~( is not a regular expression"),
        (["--limit", "h1"], "migrator: error: cannot read inventory {fifo}: not a regular file"),
    ],
)
def test_the_cli_refuses_in_one_line_before_any_host_is_reached(
    tmp_path: Path, args: list[str], message: str
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    source = "h1," if "~(" in args else str(fifo)
    result = CliRunner().invoke(main, ["status", "-i", source, *args])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == result.output.strip().splitlines()[0]
    assert result.output.startswith(message.format(fifo=fifo)), result.output


def test_an_ssh_config_including_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    config = _write(tmp_path, {"ssh_config": f"Host a1\nInclude {fifo}\n"})
    _refused(config, rf"cannot read SSH config {fifo}: not a regular file")
    with pytest.raises(UsageError, match=r"cannot read SSH config .*fifo: not a regular file"):
        resolve_host("a1", config=fifo)
    assert resolve_host("a1", config=Path(os.devnull)).hostname == "a1"  # -F none


def test_a_chain_of_thousands_of_ini_groups_does_not_overflow_the_stack(tmp_path: Path) -> None:
    lines = ["[g0]", "h1"]
    for level in range(3000):
        lines += [f"[g{level + 1}:children]", f"g{level}"]
    host = _host(_write(tmp_path, {"hosts": "\n".join(lines) + "\n"}))
    assert len(host.groups) == 3001 and host.groups[0] == "g3000"  # shallowest first


def test_a_vars_file_linked_to_nothing_is_named_not_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path, {"hosts": "h1\n"})
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars/h1.yml").symlink_to(tmp_path / "gone.yml")
    _refused(path, r"host_vars/h1\.yml: a symlink to nothing")
