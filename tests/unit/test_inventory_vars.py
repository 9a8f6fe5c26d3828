"""Ansible inventories as Ansible reads them: group_vars/host_vars, connection variables,
ssh args, become, ``ansible-inventory --list`` JSON; everything else refused with file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator.errors import UsageError
from migrator.fleet.work import Reacher
from migrator.inventory.load import load_inventory, load_variables
from migrator.inventory.model import InventoryHost
from migrator.transport.ssh import SSHTransport


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / next(iter(files))


def _hosts(path: Path) -> dict[str, InventoryHost]:
    return {host.name: host for host in load_inventory([str(path)]).hosts}


def test_vars_files_are_found_as_ansible_finds_them(tmp_path: Path) -> None:
    inventory = _tree(
        tmp_path,
        {
            "hosts.ini": "[web]\nw1\n[db]\nd1\n[mx]\nm1\n",
            "group_vars/web": "v: no_extension_first\n",
            "group_vars/web.yml": "v: never_read\n",
            "group_vars/db/10.yml": "v: first\nw: first\n",
            "group_vars/db/20": "v: second\n",
            "group_vars/db/sub/30.yaml": "w: nested\n",
            "group_vars/db/.hidden.yml": "v: hidden\n",
            "group_vars/db/99.yml~": "v: backup\n",
            "group_vars/db/99.txt": "v: other extension\n",
            "group_vars/mx.json": '{"v": "json"}\n',
        },
    )
    found = load_variables(str(inventory))
    assert found == {
        "w1": {"v": "no_extension_first"},
        "d1": {"v": "second", "w": "nested"},
        "m1": {"v": "json"},
    }


def test_precedence_all_parent_child_inventory_then_files_then_host(tmp_path: Path) -> None:
    inventory = _tree(
        tmp_path,
        {
            "hosts.ini": (
                "[mx]\nm1 h=inline\nm2\n[mail:children]\nmx\n"
                "[all:vars]\na=all\nc=all\n[mail:vars]\na=mail\nb=mail\nc=mail\n[mx:vars]\na=mx\n"
            ),
            "group_vars/all.yml": "b: gv_all\nc: gv_all\nh: gv_all\n",
            "group_vars/mail.yml": "c: gv_mail\n",
            "group_vars/mx.yml": "h: gv_mx\n",
            "host_vars/m2.yml": "h: hv_m2\n",
        },
    )
    found = load_variables(str(inventory))
    # a: the child group beats its parent and all; b: group_vars/all beats every inventory
    # group var; c: group_vars of a group beat group_vars/all; h: inventory host vars beat
    # group_vars, host_vars beat everything.
    assert found["m1"] == {"a": "mx", "b": "gv_all", "c": "gv_mail", "h": "inline"}
    assert found["m2"] == {"a": "mx", "b": "gv_all", "c": "gv_mail", "h": "hv_m2"}


def test_key_port_user_from_vars_files_reach_the_transport(tmp_path: Path) -> None:
    inventory = _tree(
        tmp_path,
        {
            "inventory.yml": "all:\n  hosts:\n    mx1:\n      ansible_host: 192.0.2.1\n",
            "group_vars/all/connection.yml": (
                "ansible_port: 2222\nansible_user: deploy\nansible_become: yes\n"
                "ansible_ssh_private_key_file: /keys/fleet\n"
                "ansible_ssh_common_args: >-\n"
                "  -o UserKnownHostsFile=/keys/known_hosts -o ControlMaster=auto -C\n"
                "  -i /keys/extra -J jump@bastion:2200 -F none\n"
            ),
        },
    )
    host = _hosts(inventory)["mx1"]
    assert host.problem is None
    assert (host.hostname, host.port, host.user) == ("192.0.2.1", 2222, "deploy")
    assert host.ssh_options == (
        ("IdentityFile", "/keys/fleet"),
        ("UserKnownHostsFile", "/keys/known_hosts"),
        ("IdentityFile", "/keys/extra"),
        ("ProxyJump", "jump@bastion:2200"),
    )
    assert host.ssh_config_arg == Path("/dev/null")
    transport = Reacher(ssh_config=tmp_path / "ignored")(host)  # -F beats --ssh-config
    assert isinstance(transport, SSHTransport)
    spec = transport.spec
    assert (spec.name, spec.hostname, spec.port, spec.user) == ("mx1", "192.0.2.1", 2222, "deploy")
    assert spec.identity_files == ("/keys/fleet", "/keys/extra")
    assert spec.known_hosts_files == ("/keys/known_hosts",)
    assert spec.jump is not None and (spec.jump.hostname, spec.jump.port) == ("bastion", 2200)
    assert transport.sudo and transport.connections == 0


def _problem(tmp_path: Path, group_vars: str) -> str:
    inventory = _tree(
        tmp_path,
        {"hosts.ini": "[mx]\nmx1\n[other]\nok1\n", "group_vars/mx.yml": f"# mx\n{group_vars}"},
    )
    hosts = _hosts(inventory)
    assert hosts["ok1"].problem is None  # one host's refusal is that host's
    problem = hosts["mx1"].problem or ""
    assert "\n" not in problem
    with pytest.raises(UsageError) as caught:
        Reacher()(hosts["mx1"])
    assert str(caught.value) == f"mx1: {problem}"
    return problem


@pytest.mark.parametrize(
    ("group_vars", "message"),
    [
        ("ansible_become_method: su\n", "ansible_become_method 'su' is not supported"),
        ("ansible_become: true\nansible_become_user: postgres\n", "ansible_become_user"),
        ("ansible_user: ops\nansible_become: false\n", "ansible_become is false but mx1"),
        ("ansible_become_pass: secret\n", "needs passwordless sudo"),
        ("ansible_password: secret\n", "keys only"),
        ("ansible_user: a\nansible_ssh_user: b\n", "ansible_user and ansible_ssh_user"),
        ("ansible_ssh_timeout: soon\n", "ansible_ssh_timeout is not a number"),
        ("ansible_private_key: '-----BEGIN'\n", "ansible_private_key is not supported"),
        ("ansible_connection: local\n", "ansible_connection 'local' is not supported"),
        ("ansible_ssh_executable: /opt/ssh\n", "ansible_ssh_executable is not supported"),
        ("migrator_test_recepient: a@b.test\n", "migrator_test_recepient is not supported"),
        ('ansible_user: \'{{ lookup("env", "U") }}\'\n', "ansible_user is a Jinja2 template"),
        ("ansible_become: maybe\n", "ansible_become is not a boolean"),
        ("ansible_ssh_extra_args: -A\n", "ansible_ssh_extra_args: ssh argument '-A'"),
        ("ansible_ssh_common_args: -o ForwardAgent=yes\n", "ssh option ForwardAgent"),
        ("ansible_ssh_common_args: -o\n", "ssh argument -o needs a value"),
        ("ansible_ssh_args: -o 'ProxyCommand=nc %h\n", "No closing quotation"),
        ("ansible_host: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n", "Vault-encrypted"),
    ],
)
def test_what_migrator_cannot_honour_fails_its_host_naming_file_and_line(
    tmp_path: Path, group_vars: str, message: str
) -> None:
    problem = _problem(tmp_path, group_vars)
    assert problem.startswith(f"{tmp_path / 'group_vars/mx.yml'}:"), problem
    assert message in problem


def test_the_line_named_is_where_the_variable_was_set(tmp_path: Path) -> None:
    problem = _problem(tmp_path, "ansible_python_interpreter: /usr/bin/python3\nansible_foo: 1\n")
    assert problem.startswith(f"{tmp_path / 'group_vars/mx.yml'}:3: ansible_foo is not supported")


def test_harmless_and_sudo_to_root_are_accepted(tmp_path: Path) -> None:
    inventory = _tree(
        tmp_path,
        {
            "hosts.ini": "[mx]\nmx1 ansible_become=True ansible_become_user=root\n",
            "group_vars/all.yml": (
                "ansible_python_interpreter: auto\nansible_pipelining: true\nansible_host:\n"
                "ansible_connection: ssh\nansible_become_method: sudo\nsite_name: anything\n"
                "ansible_ssh_args: -C -o ControlMaster=auto -o ControlPersist=60s\n"
            ),
        },
    )
    host = _hosts(inventory)["mx1"]
    assert host.problem is None and host.hostname is None  # null is unset, not "None"


def test_a_vault_encrypted_vars_file_fails_the_hosts_it_applies_to(tmp_path: Path) -> None:
    inventory = _tree(
        tmp_path,
        {
            "hosts.ini": "[mx]\nmx1\n[web]\nw1\n",
            "group_vars/mx/vault.yml": "$ANSIBLE_VAULT;1.1;AES256\n61626364\n",
        },
    )
    hosts = _hosts(inventory)
    assert hosts["w1"].problem is None
    vault = tmp_path / "group_vars/mx/vault.yml"
    assert (hosts["mx1"].problem or "").startswith(f"{vault}:1: the file is Ansible Vault")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ansible_port: a: b\n", r"mx\.yml:1: not valid YAML"),
        ("- a\n- b\n", r"mx\.yml:1: a vars file must be a mapping"),
        ("ansible_port: ssh\n", r"mx\.yml:1: mx1: ansible_port is not a number"),
    ],
)
def test_a_malformed_vars_file_refuses_the_inventory_naming_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    inventory = _tree(tmp_path, {"hosts.ini": "[mx]\nmx1\n", "group_vars/mx.yml": text})
    with pytest.raises(UsageError, match=message) as caught:
        load_inventory([str(inventory)])
    assert "\n" not in str(caught.value)


def test_ansible_inventory_list_json_is_read_by_content(tmp_path: Path) -> None:
    listed = {
        "_meta": {
            "hostvars": {
                "mx1": {"ansible_host": "192.0.2.1", "ansible_port": 2200, "ansible_user": "ops"},
                "mx2": {"ansible_connection": "winrm"},
            }
        },
        "all": {"children": ["ungrouped", "mail"]},
        "mail": {"hosts": ["mx1", "mx2"], "vars": {"ansible_user": "group"}},
        "legacy": ["mx3"],
    }
    path = tmp_path / "dynamic"  # no .json suffix: recognised by _meta.hostvars
    path.write_text(json.dumps(listed, indent=2))
    hosts = _hosts(path)
    assert list(hosts) == ["mx1", "mx2", "mx3"]
    mx1 = hosts["mx1"]
    assert (mx1.hostname, mx1.port, mx1.user, mx1.groups) == ("192.0.2.1", 2200, "ops", ("mail",))
    assert (hosts["mx2"].user, hosts["mx3"].user, hosts["mx3"].groups) == (
        "group",
        None,
        ("legacy",),
    )
    [line] = [n for n, text in enumerate(path.read_text().splitlines(), 1) if "winrm" in text]
    assert (hosts["mx2"].problem or "").startswith(f"{path}:{line}: ansible_connection 'winrm'")


def test_list_json_with_a_bad_shape_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text('{\n  "_meta": {"hostvars": {}},\n  "mail": {"hosts": {"mx1": 1}}\n}\n')
    with pytest.raises(UsageError, match=r"fleet\.json:3: hosts of 'mail' must be a list"):
        load_inventory([str(path)])


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("ec2.py", "#!/usr/bin/env python3\nprint('{}')\n", 1),
        ("aws_ec2.yml", "# dynamic\nplugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n", 2),
    ],
)
def test_a_dynamic_inventory_is_refused_saying_how_to_give_its_output(
    tmp_path: Path, name: str, text: str, line: int
) -> None:
    path = _tree(tmp_path, {name: text})
    with pytest.raises(UsageError) as caught:
        load_inventory([str(path)])
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: an inventory ")
    assert message.endswith(f"`ansible-inventory -i {path} --list > fleet.json`")


def test_an_ini_proxy_command_in_common_args_reaches_the_spec(tmp_path: Path) -> None:
    inventory = _tree(
        tmp_path,
        {
            "hosts.ini": (
                "[mx]\nmx1 ansible_host=192.0.2.1\n[mx:vars]\n"
                "ansible_ssh_common_args='-o ProxyCommand=\"ssh -W %h:%p -q bastion\"'\n"
            ),
            "empty_config": "",
        },
    )
    host = _hosts(inventory)["mx1"]
    assert host.ssh_options == (("ProxyCommand", "ssh -W %h:%p -q bastion"),)
    transport = Reacher(ssh_config=tmp_path / "empty_config")(host)
    assert isinstance(transport, SSHTransport)
    assert transport.spec.proxy_command == "ssh -W 192.0.2.1:22 -q bastion"
