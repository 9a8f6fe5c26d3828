"""A host's resolved Ansible variables as the way migrator reaches it, or why it must not.

Honoured: ``ansible_host``, ``ansible_port``, ``ansible_user`` (and their ``ansible_ssh_*``
names), ``ansible_ssh_private_key_file``, ``ansible_ssh_common_args``/``_extra_args``/
``ansible_ssh_args`` (``ssh_args.py``), ``ansible_ssh_timeout``, ``ansible_host_key_checking``,
``ansible_connection`` (ssh), ``ansible_become*`` (sudo to root: migrator's own way),
``migrator_test_recipient``. Ignored because they cannot change how migrator reaches a host
or what it runs: HARMLESS. Every other ``ansible_*`` or ``migrator_*`` variable, a Jinja2
template or a Vault value in a honoured one, a value that is not a boolean where one is
wanted, and a Vault-encrypted vars file make the host's ``problem``: one line naming the
file and line where it was set. A port that is not a number raises UsageError.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from migrator.address import check_hostname, check_recipient, check_user
from migrator.errors import UsageError
from migrator.inventory.model import InventoryHost
from migrator.inventory.ssh_args import read_ssh_args
from migrator.inventory.tree import ResolvedHost
from migrator.inventory.variables import VAULT_FILE, Var, Vars, Vault

_ALIASES = {
    "ansible_ssh_host": "ansible_host",
    "ansible_ssh_port": "ansible_port",
    "ansible_ssh_user": "ansible_user",
    "ansible_private_key_file": "ansible_ssh_private_key_file",
    "ansible_ssh_host_key_checking": "ansible_host_key_checking",
}
HONOURED = frozenset(
    {
        *_ALIASES,
        *_ALIASES.values(),
        "ansible_user",
        "ansible_ssh_timeout",
        "ansible_ssh_common_args",
        "ansible_ssh_extra_args",
        "ansible_ssh_args",
        "ansible_connection",
        "ansible_become",
        "ansible_become_user",
        "ansible_become_method",
        "migrator_test_recipient",
    }
)
# Variables that only concern Ansible's own module runs, not the login or what runs.
HARMLESS = frozenset(
    {
        "ansible_python_interpreter",
        "ansible_group_priority",
        "ansible_pipelining",
        "ansible_ssh_pipelining",
        "ansible_ssh_retries",
        "ansible_ssh_transfer_method",
        "ansible_scp_if_ssh",
        "ansible_sftp_batch_mode",
        "ansible_managed",
        "ansible_control_path",
        "ansible_control_path_dir",
        "ansible_ssh_verbosity",
        "ansible_scp_executable",
        "ansible_sftp_executable",
        "ansible_scp_extra_args",
        "ansible_sftp_extra_args",
    }
)
_REASONS = {
    "ansible_password": "migrator logs in with keys only (agent or key file), never a password",
    "ansible_become_password": "migrator runs sudo -n: it needs passwordless sudo (NOPASSWD)",
}
for _name in ("ansible_ssh_pass", "ansible_ssh_password"):
    _REASONS[_name] = _REASONS["ansible_password"]
for _name in ("ansible_become_pass", "ansible_sudo_pass"):
    _REASONS[_name] = _REASONS["ansible_become_password"]
_SSH_CONNECTIONS = ("ssh", "smart", "paramiko", "paramiko_ssh")
# Honoured variables whose value is a name or address (a string; an integer is written out).
_STRINGS = ("ansible_host", "ansible_user", "migrator_test_recipient")
_TRUE = ("true", "yes", "on", "1", "y", "t")
_FALSE = ("false", "no", "off", "0", "n", "f")


def inventory_host(host: ResolvedHost) -> InventoryHost:
    """The InventoryHost for HOST; refusals go in its ``problem`` (file:line, one line).

    Raises UsageError naming the file and line for a port that is not a port number.
    """
    found = _canonical(host.variables)
    name = host.name
    port = _port(found["ansible_port"], name) if "ansible_port" in found else None
    made = InventoryHost(name, port=port, groups=host.groups)
    try:
        text = {key: _string(key, found[key]) for key in _STRINGS if key in found}
        made = replace(
            made,
            hostname=text.get("ansible_host") or None,
            user=text.get("ansible_user") or None,
            test_recipient=text.get("migrator_test_recipient"),
        )
        _refuse_conflicts(host.variables)
        _check_names(made, found, host.where)
        _refuse_unsupported(host.variables)
        _check_connection(found, made.user, name)
        options, config = _ssh_options(found)
    except UsageError as exc:
        return replace(made, problem=str(exc))
    return replace(made, ssh_options=options, ssh_config_arg=config)


def _refuse_conflicts(variables: Vars) -> None:
    """Raises UsageError when a variable and its other name are both set, differently:
    which one Ansible takes has changed between versions, so migrator takes neither."""
    for old, new in _ALIASES.items():
        both = old in variables and new in variables
        if both and variables[old].value != variables[new].value:
            raise UsageError(
                f"{variables[new].where}: {new} and {old} ({variables[old].where}) are "
                "both set, to different values: keep one"
            )


def _canonical(variables: Vars) -> Vars:
    """Variables under their current names (set to equal values when both are set); a
    variable set to null is unset, as in Ansible."""
    found: Vars = {}
    for key, var in variables.items():
        if var.value is None:
            continue
        canonical = _ALIASES.get(key, key)
        if canonical == key or canonical not in variables:
            found[canonical] = var
    return found


def _port(var: Var, name: str) -> int:
    """VAR as a TCP port; raises UsageError naming the file and line for anything but a
    whole number (ASCII digits) from 1 to 65535."""
    port = _number(var.value, 65535)
    if port is None or port < 1:
        shown = _shown(var.value)
        raise UsageError(f"{var.where}: {name}: ansible_port is not a number 1-65535 ({shown})")
    return port


def _number(value: object, top: int) -> int | None:
    """VALUE as a whole number from 0 to TOP (an int, or a string of ASCII digits), else None.

    Never converts an over-long string or integer (Python refuses those with ValueError)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= top else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 12:
        return int(value) if int(value) <= top else None
    return None


def _shown(value: object) -> str:
    """A value in a one-line message, bounded (an integer too long to print is described)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value) if isinstance(value, str) else f"{type(value).__name__} {value!r}"
    return text if len(text) <= 80 else text[:77] + "..."


def _string(key: str, var: Var) -> str:
    """VAR's value as a string: a string, or an integer written out. Raises UsageError for
    a Vault value, a template, and a value of another type (a list, a mapping, a boolean)."""
    value = _plain(key, var)
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 64:
        return str(value)
    raise UsageError(f"{var.where}: {key} must be a string, not {_shown(value)}")


def _check_names(made: InventoryHost, found: Vars, where: str) -> None:
    """Raises UsageError for a name OpenSSH would refuse or a bad test recipient."""
    check_hostname(made.name, where=where)
    for key, check in (("ansible_host", check_hostname), ("ansible_user", check_user)):
        if key in found and (value := _string(key, found[key])):
            check(value, where=f"{found[key].where}: {key}")
    if made.test_recipient is not None:
        var = found["migrator_test_recipient"]
        check_recipient(made.test_recipient, where=f"{var.where}: migrator_test_recipient")


def _refuse_unsupported(variables: Vars) -> None:
    """Raises UsageError for the first variable migrator would otherwise silently ignore."""
    for key, var in variables.items():
        if key == VAULT_FILE:
            raise UsageError(
                f"{var.where}: the file is Ansible Vault-encrypted and migrator cannot read it "
                "(give migrator `ansible-inventory --list` JSON made with the vault password)"
            )
        if key in _REASONS:
            raise UsageError(f"{var.where}: {key} is not supported: {_REASONS[key]}")
        if key.startswith(("ansible_", "migrator_")) and key not in HONOURED | HARMLESS:
            raise UsageError(
                f"{var.where}: {key} is not supported by migrator "
                "(it could change how the host is reached); remove it for migrator's runs"
            )


def _check_connection(found: Vars, user: str | None, name: str) -> None:
    """Raises UsageError when the connection or privilege escalation is not migrator's."""
    connection = found.get("ansible_connection")
    if connection and _string("ansible_connection", connection) not in _SSH_CONNECTIONS:
        raise UsageError(
            f"{connection.where}: ansible_connection {connection.value!r} is not supported: "
            "migrator reaches hosts over SSH only"
        )
    method = found.get("ansible_become_method")
    if method and _string("ansible_become_method", method) != "sudo":
        raise UsageError(
            f"{method.where}: ansible_become_method {method.value!r} is not supported: "
            "migrator becomes root with sudo -n only"
        )
    become = found.get("ansible_become")
    becoming = become is not None and _boolean(become, "ansible_become", name)
    target = found.get("ansible_become_user")
    if becoming and target and _string("ansible_become_user", target) != "root":
        raise UsageError(
            f"{target.where}: ansible_become_user {target.value!r} is not supported: "
            "migrator must run as root"
        )
    if become is not None and not becoming and user not in (None, "root"):
        raise UsageError(
            f"{become.where}: ansible_become is false but {name} logs in as {user!r}: migrator "
            "needs root and runs every command through sudo -n; set ansible_become: true"
        )


def _ssh_options(found: Vars) -> tuple[tuple[tuple[str, str], ...], Path | None]:
    """``ssh -o`` options and the ``-F`` config, in the order Ansible's ssh passes them."""
    options: list[tuple[str, str]] = []
    config: Path | None = None
    for key in ("ansible_ssh_args", "", "ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if not key:
            options.extend(_fixed_options(found))
        elif key in found and found[key].value:
            args = read_ssh_args(_string(key, found[key]), key, found[key].where)
            options.extend(args.options)
            config = args.config or config  # ssh: the last -F wins
    return tuple(options), config


def _fixed_options(found: Vars) -> list[tuple[str, str]]:
    """What Ansible's ssh adds itself: no host key checking, the key file, the timeout."""
    options: list[tuple[str, str]] = []
    checking = found.get("ansible_host_key_checking")
    if checking is not None and not _boolean(checking, "ansible_host_key_checking", ""):
        options.append(("StrictHostKeyChecking", "no"))
    key_file = found.get("ansible_ssh_private_key_file")
    if key_file is not None and key_file.value:
        options.append(("IdentityFile", _path("ansible_ssh_private_key_file", key_file)))
    timeout = found.get("ansible_ssh_timeout")
    if timeout is not None:
        seconds = _number(timeout.value, 86400)
        if seconds is None:
            raise UsageError(
                f"{timeout.where}: ansible_ssh_timeout is not a number of seconds "
                f"0-86400 ({_shown(timeout.value)})"
            )
        options.append(("ConnectTimeout", str(seconds)))
    return options


def _path(key: str, var: Var) -> str:
    """VAR as a file name: a string without control characters. Raises UsageError."""
    text = _string(key, var)
    if not text or any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise UsageError(f"{var.where}: {key} {_shown(text)} is not a file name")
    return text


def _plain(key: str, var: Var) -> object:
    """VAR's value; raises UsageError for a Vault value or a Jinja2 template."""
    if isinstance(var.value, Vault):
        raise UsageError(f"{var.where}: {key} is Ansible Vault-encrypted; migrator cannot read it")
    if isinstance(var.value, str) and ("{{" in var.value or "{%" in var.value):
        raise UsageError(
            f"{var.where}: {key} is a Jinja2 template ({var.value!r}); migrator does not "
            "evaluate templates: write the value"
        )
    return var.value


def _boolean(var: Var, key: str, name: str) -> bool:
    """Ansible's boolean(); raises UsageError naming the file and line for anything else."""
    value = _plain(key, var)
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else ""
    if isinstance(value, int) and value in (0, 1):
        text = str(value)
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    who = f"{name}: " if name else ""
    raise UsageError(f"{var.where}: {who}{key} is not a boolean ({_shown(value)})")
