"""HostSpec resolution checked against this machine's own ``ssh -G`` on the same config."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from migrator.errors import UsageError
from migrator.transport.ssh_config import (
    HostSpec,
    StrictHostKeyChecking,
    resolve_host,
)

HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)
needs_ssh = pytest.mark.skipif(shutil.which("ssh") is None, reason="no OpenSSH client")


def ssh_g(host: str, config: Path | None, *extra: str) -> dict[str, list[str]]:
    """What ``ssh -G`` resolves for HOST, as key -> values (repeated keys keep every value)."""
    argv = ["ssh", "-G", *extra]
    if config is not None:
        argv += ["-F", str(config)]
    out = subprocess.run(
        [*argv, host], capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL
    ).stdout
    result: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        result.setdefault(key, []).append(value)
    return result


def _home(path: str) -> str:
    return str(HOME) + path[1:] if path.startswith("~") else path


def assert_like_ssh(spec: HostSpec, expected: dict[str, list[str]]) -> None:
    assert spec.hostname == expected["hostname"][0]
    assert spec.port == int(expected["port"][0])
    assert spec.user == expected["user"][0]
    assert list(spec.identity_files) == [_home(p) for p in expected["identityfile"]]
    assert spec.identities_only == (expected["identitiesonly"][0] == "yes")
    user_files = expected["userknownhostsfile"][0]
    assert " ".join(spec.known_hosts_files) == ("" if user_files == "none" else user_files)
    assert " ".join(spec.global_known_hosts_files) == expected["globalknownhostsfile"][0]
    assert spec.strict_host_key_checking.value == expected["stricthostkeychecking"][0]
    assert spec.hash_known_hosts == (expected["hashknownhosts"][0] == "yes")
    assert spec.host_key_alias == expected.get("hostkeyalias", [None])[0]
    assert spec.proxy_jump == expected.get("proxyjump", [None])[0]
    raw_command = expected.get("proxycommand", [None])[0]
    if raw_command is None:
        assert spec.proxy_command is None
    else:
        # ssh -G prints ProxyCommand before token expansion; expand the tokens it uses.
        for token, value in (("%h", spec.hostname), ("%p", str(spec.port)), ("%r", spec.user)):
            raw_command = raw_command.replace(token, value)
        assert spec.proxy_command == raw_command
    assert spec.server_alive_interval == int(expected["serveraliveinterval"][0])
    timeout = expected["connecttimeout"][0]
    assert spec.connect_timeout == (None if timeout == "none" else float(timeout))


CONFIGS = {
    "basic": (
        """
Host mail1
  HostName 10.0.0.5
  User admin
  Port 2222
  IdentityFile ~/.ssh/id_mail
  IdentitiesOnly yes
  ConnectTimeout 7
  ServerAliveInterval 15
Host *
  User fallback
  Port 22
""",
        ["mail1", "other", "MAIL1"],
    ),
    "wildcards_and_negation": (
        """
Host *.prod !db?.prod
  User ops
  IdentityFile ~/.ssh/prod_key
Host web*
  HostName %h.internal.example
  IdentityFile ~/.ssh/web_key
Host *
  IdentityFile ~/.ssh/default_key
  StrictHostKeyChecking accept-new
""",
        ["web1.prod", "db1.prod", "db10.prod", "web7", "plain"],
    ),
    "proxies": (
        """
Host behind
  ProxyJump bastion,ops@jump2:2022
Host piped
  ProxyCommand nc -q0 %h %p 2>/dev/null
  ProxyJump ignored-because-command-came-first
Host jumpfirst
  ProxyJump bastion
Host jumpfirst
  ProxyCommand never-used
Host none default-bastion
  ProxyJump none
Host *
  ProxyJump default-bastion
""",
        ["behind", "piped", "jumpfirst", "none", "anything", "default-bastion"],
    ),
    "known_hosts": (
        """
Host strict
  StrictHostKeyChecking yes
  UserKnownHostsFile ~/kh/one /tmp/kh-two
  GlobalKnownHostsFile /nonexistent/global
  HashKnownHosts yes
Host lax
  StrictHostKeyChecking no
  HostKeyAlias lax-alias
Host off
  StrictHostKeyChecking off
  UserKnownHostsFile none
""",
        ["strict", "lax", "off", "default"],
    ),
    "syntax": (
        """
# comment line
Host=eq
  HostName = eq.example
  user=EqUser
  IDENTITYFILE "~/my keys/id_eq"
  Port=2022
Host tabbed
\tHostName\ttabbed.example
\tUserKnownHostsFile "/tmp/with space/kh" /tmp/kh2
""",
        ["eq", "tabbed"],
    ),
    "match": (
        """
Match originalhost m1
  HostName m1.example.net
Match host m1.example.net
  User matched-by-host
Match user deploy
  Port 2201
Match exec "test %h = execme"
  Port 2300
Match !host zz*
  IdentityFile ~/.ssh/not_zz
Match all
  ConnectTimeout 3
""",
        ["m1", "deploy@elsewhere", "execme", "zz9"],
    ),
}


@needs_ssh
@pytest.mark.parametrize(
    ("config_name", "host"),
    [(name, host) for name, (_, hosts) in CONFIGS.items() for host in hosts],
)
def test_resolution_matches_ssh_g(tmp_path: Path, config_name: str, host: str) -> None:
    config = tmp_path / "config"
    config.write_text(CONFIGS[config_name][0])
    spec = resolve_host(host, config=config)
    assert_like_ssh(spec, ssh_g(host, config))
    assert spec.name == host.rsplit("@", 1)[-1]


@needs_ssh
def test_include_is_conditional_and_restores_the_block(tmp_path: Path) -> None:
    included = tmp_path / "conf.d"
    included.mkdir()
    (included / "10-alpha.conf").write_text("Host alpha\n  HostName alpha.internal\n  Port 2200\n")
    (included / "20-beta.conf").write_text("Port 2300\nUser from-include\n")
    config = tmp_path / "config"
    config.write_text(
        f"Include {included}/10-*.conf\n"
        "Host gamma\n"
        f"  Include {included}/20-*.conf\n"
        "  HostName gamma.internal\n"
        "Host *\n"
        "  User everyone\n"
    )
    for host in ("alpha", "gamma", "delta"):
        assert_like_ssh(resolve_host(host, config=config), ssh_g(host, config))
    assert resolve_host("gamma", config=config).port == 2300


def test_quoted_known_hosts_paths_keep_their_spaces(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(CONFIGS["syntax"][0])
    spec = resolve_host("tabbed", config=config)
    assert spec.known_hosts_files == ("/tmp/with space/kh", "/tmp/kh2")


@needs_ssh
def test_command_line_user_and_port_beat_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host h\n  User cfg\n  Port 2000\n")
    spec = resolve_host("h", config=config, user="cli", port=2001)
    assert_like_ssh(spec, ssh_g("h", config, "-l", "cli", "-p", "2001"))


@needs_ssh
def test_default_files_match_ssh_without_dash_f() -> None:
    # No -F: ssh reads ~/.ssh/config (when present) then /etc/ssh/ssh_config; so do we.
    assert_like_ssh(resolve_host("some-host"), ssh_g("some-host", None))


def test_proxy_jump_chain_is_resolved_hop_by_hop(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "Host target\n  ProxyJump a,ops@b:2022\n"
        "Host a\n  HostName a.example\n  User ua\n  ProxyJump outer\n"
        "Host b\n  HostName b.example\n  ProxyJump never-used-for-b\n"
        "Host outer\n  HostName outer.example\n"
    )
    spec = resolve_host("target", config=config)
    b = spec.jump
    assert b is not None
    assert (b.hostname, b.port, b.user, b.proxy_jump) == ("b.example", 2022, "ops", "a")
    a = b.jump
    assert a is not None
    # The first hop is reached with its own config, including its own ProxyJump.
    assert (a.hostname, a.user, a.proxy_jump) == ("a.example", "ua", "outer")
    assert a.jump is not None and a.jump.hostname == "outer.example"
    assert a.jump.jump is None


@needs_ssh
def test_proxy_jump_loops_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\nHost *\n  ProxyJump c\n")
    with pytest.raises(UsageError, match="loop"):
        resolve_host("a", config=config)
    # A host whose own jump is itself: ssh refuses it the same way.
    with pytest.raises(UsageError, match="jumphost loop via c"):
        resolve_host("c", config=config)
    with pytest.raises(subprocess.CalledProcessError):
        ssh_g("c", config)


def test_jump_hop_forms(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host t\n  ProxyJump ssh://u@[::1]:2200\n")
    jump = resolve_host("t", config=config).jump
    assert jump is not None
    assert (jump.user, jump.hostname, jump.port) == ("u", "::1", 2200)
    spec = HostSpec(name="x", hostname="10.1.1.1", port=2222)
    assert spec.known_hosts_name == "[10.1.1.1]:2222"
    assert HostSpec(name="x", hostname="h").known_hosts_name == "h"
    assert HostSpec(name="x", hostname="h", host_key_alias="al").known_hosts_name == "al"


def test_bad_values_are_usage_errors(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host *\n  StrictHostKeyChecking perhaps\n")
    with pytest.raises(UsageError, match="StrictHostKeyChecking"):
        resolve_host("x", config=config)
    with pytest.raises(UsageError, match="cannot read SSH config"):
        resolve_host("x", config=tmp_path / "missing")
    assert StrictHostKeyChecking.parse("accept-new") is StrictHostKeyChecking.ACCEPT_NEW
