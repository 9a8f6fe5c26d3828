"""Reading a host: the live path (fact script) against this machine's own stock files."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from migrator.config.reader import Reader
from migrator.config.tree import ConfigTree
from migrator.errors import FactError, RefusedError
from migrator.host.facts import Facts
from migrator.host.snapshot import (
    Snapshot,
    instance_directories,
    read_host,
    transport_map_sources,
)
from migrator.plan.build import build_plan
from migrator.rules.switch import Options
from migrator.transport.base import FileData, RunResult, Transport
from migrator.transport.local import LocalTransport


class CountingLocal:
    """This machine as a live host (read-only), counting round trips."""

    host = "this-machine"
    live = True

    def __init__(self) -> None:
        self.round_trips = 0
        self._files = LocalTransport(Path("/"), "this-machine")

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> RunResult:
        self.round_trips += 1
        done = subprocess.run(list(argv), capture_output=True, check=False)
        return RunResult(self.host, tuple(argv), done.returncode, done.stdout, done.stderr)

    def read_files(self, paths: Sequence[str]) -> Mapping[str, FileData]:
        self.round_trips += 1
        return self._files.read_files(paths)

    def write_atomic(self, path: str, content: bytes, *, owner: str, group: str, mode: int) -> None:
        raise AssertionError("planning must never write")

    def close(self) -> None:
        return None


def _read(transport: Transport) -> tuple[Facts, Snapshot]:
    with ConfigTree(transport.host, {}, {}) as tree:
        return read_host(transport, None, reader=Reader(tree))


def test_live_read_of_stock_debian_in_few_round_trips() -> None:
    transport = CountingLocal()
    facts, snapshot = _read(transport)
    assert facts.live and facts.queue_directory == "/var/spool/postfix"
    assert "/etc/dovecot/conf.d/10-master.conf" in snapshot.dovecot_files
    assert not any("/private/" in path for path in snapshot.files)
    assert transport.round_trips <= 4
    with pytest.raises(RefusedError, match="no Dovecot LDA"):
        build_plan(CountingLocal(), Options())


def test_transport_map_sources() -> None:
    value = "hash:/etc/postfix/transport, pcre:/etc/postfix/t.pcre lmdb:/etc/postfix/t2"
    assert transport_map_sources({"transport_maps": value}, "/etc/postfix/main.cf") == [
        ("hash:/etc/postfix/transport", "/etc/postfix/transport"),
        ("lmdb:/etc/postfix/t2", "/etc/postfix/t2"),
    ]


def test_transport_map_sources_as_postfix_reads_them() -> None:
    """$config_directory (by default where main.cf is) and other references are expanded;
    proxy: is dropped (postmap rebuilds the table by its own type); a form migrator does
    not expand names no table it reads."""
    params = {
        "transport_maps": "hash:$config_directory/transport proxy:btree:${my_maps}/t2",
        "my_maps": "/srv/maps",
    }
    assert transport_map_sources(params, "/usr/local/etc/postfix/main.cf") == [
        ("hash:/usr/local/etc/postfix/transport", "/usr/local/etc/postfix/transport"),
        ("btree:/srv/maps/t2", "/srv/maps/t2"),
    ]
    set_directory = {**params, "config_directory": "/opt/pf"}
    assert transport_map_sources(set_directory, "/etc/postfix/main.cf")[0][1] == "/opt/pf/transport"
    odd = {"transport_maps": "hash:${x?{a}:{b}}/transport proxy:mysql:/etc/postfix/t.cf"}
    assert transport_map_sources(odd, "/etc/postfix/main.cf") == []


def test_instance_directories_as_postmulti_lists_them() -> None:
    params = {"multi_instance_directories": "/etc/postfix-in, /etc/postfix-out/ relative"}
    assert instance_directories(params) == ["/etc/postfix-in", "/etc/postfix-out"]
    assert instance_directories({}) == []


def test_directory_facts_say_what_is_unknown() -> None:
    root = Path(__file__).resolve().parents[2] / "fixtures/hosts/virtual-lda"
    facts, snapshot = _read(LocalTransport(root, "v"))
    assert not facts.live
    assert any("userdb answer (not known from a directory)" in u for u in facts.unknown)
    assert facts.mail_owner_group == "postfix"
    assert snapshot.dovecot_files[0] == "/etc/dovecot/dovecot.conf"
    assert "/etc/dovecot/local.conf" in snapshot.dovecot_files


def test_glob_include_outside_listed_dirs_is_an_error(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "fixtures/hosts/virtual-lda"
    shutil.copytree(root, tmp_path / "h")
    local = tmp_path / "h/etc/dovecot/local.conf"
    local.write_text(local.read_text() + "!include_try /opt/dovecot/*.conf\n")
    with pytest.raises(FactError, match="cannot know which files") as caught:
        _read(LocalTransport(tmp_path / "h", "h"))
    assert caught.value.path == "/etc/dovecot/local.conf"
