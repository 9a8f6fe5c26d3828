"""Host-key decisions against known_hosts files, without a network."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from migrator.errors import HostKeyError
from migrator.transport.known_hosts import KnownHosts, fingerprint
from migrator.transport.ssh_config import HostSpec, StrictHostKeyChecking

KEY = paramiko.ECDSAKey.generate()
OTHER = paramiko.ECDSAKey.generate()


def line(names: str, key: paramiko.PKey = KEY, marker: str = "") -> str:
    prefix = f"{marker} " if marker else ""
    return f"{prefix}{names} {key.get_name()} {key.get_base64()}\n"


def spec(tmp_path: Path, port: int = 22, **changes: object) -> HostSpec:
    base = HostSpec(
        name="mx1",
        hostname="mx1.example.net",
        port=port,
        known_hosts_files=(str(tmp_path / "known_hosts"),),
        global_known_hosts_files=(str(tmp_path / "global"),),
    )
    fields = {slot: getattr(base, slot) for slot in HostSpec.__slots__}
    fields.update(changes)
    return HostSpec(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "names",
    [
        "mx1.example.net",
        "other,mx1.example.net,10.0.0.1",
        "*.example.net",
        "mx?.example.net",
        "MX1.Example.NET",
        paramiko.HostKeys.hash_host("mx1.example.net"),
    ],
)
def test_known_key_is_accepted(tmp_path: Path, names: str) -> None:
    (tmp_path / "known_hosts").write_text("# comment\n\n" + line(names))
    KnownHosts(spec(tmp_path)).verify(KEY)


def test_port_entries_use_brackets(tmp_path: Path) -> None:
    (tmp_path / "known_hosts").write_text(line("mx1.example.net"))
    with pytest.raises(HostKeyError, match=r"unknown host key for \[mx1.example.net\]:2222"):
        KnownHosts(spec(tmp_path, port=2222)).verify(KEY)
    (tmp_path / "known_hosts").write_text(
        line(paramiko.HostKeys.hash_host("[mx1.example.net]:2222"))
    )
    KnownHosts(spec(tmp_path, port=2222)).verify(KEY)


def test_global_file_counts_and_negation_excludes(tmp_path: Path) -> None:
    (tmp_path / "global").write_text(line("*.example.net"))
    KnownHosts(spec(tmp_path)).verify(KEY)
    (tmp_path / "global").write_text(line("*.example.net,!mx1.example.net"))
    with pytest.raises(HostKeyError, match="unknown"):
        KnownHosts(spec(tmp_path)).verify(KEY)


def test_changed_key_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "known_hosts").write_text("# first\n" + line("mx1.example.net", OTHER))
    with pytest.raises(HostKeyError) as caught:
        KnownHosts(spec(tmp_path), accept_new=True).verify(KEY)
    message = str(caught.value)
    assert message.startswith("mx1: host key for mx1.example.net has CHANGED")
    assert f"{tmp_path / 'known_hosts'}:2" in message and fingerprint(KEY) in message


def test_revoked_key_is_refused_even_if_also_listed(tmp_path: Path) -> None:
    (tmp_path / "known_hosts").write_text(line("*", marker="@revoked") + line("mx1.example.net"))
    with pytest.raises(HostKeyError, match="REVOKED"):
        KnownHosts(spec(tmp_path)).verify(KEY)


def test_cert_authority_and_garbage_lines_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "known_hosts").write_text(
        line("*", marker="@cert-authority") + "mx1.example.net ssh-foo AAAA\nbroken\n"
    )
    with pytest.raises(HostKeyError, match="unknown"):
        KnownHosts(spec(tmp_path)).verify(KEY)


def test_accept_new_appends_hashed_and_creates_the_file(tmp_path: Path) -> None:
    nested = tmp_path / "new" / "known_hosts"
    known = KnownHosts(spec(tmp_path, known_hosts_files=(str(nested),), hash_known_hosts=True))
    with pytest.raises(HostKeyError, match="--accept-new-host-key"):
        known.verify(KEY)
    KnownHosts(
        spec(tmp_path, known_hosts_files=(str(nested),), hash_known_hosts=True), accept_new=True
    ).verify(KEY)
    text = nested.read_text()
    assert text.startswith("|1|") and "mx1" not in text
    assert nested.stat().st_mode & 0o777 == 0o600
    KnownHosts(spec(tmp_path, known_hosts_files=(str(nested),))).verify(KEY)


def test_accept_new_keeps_lines_apart(tmp_path: Path) -> None:
    (tmp_path / "known_hosts").write_text("other ssh-ed25519 AAAA")  # no final newline
    KnownHosts(spec(tmp_path), accept_new=True).verify(KEY)
    assert (tmp_path / "known_hosts").read_text().splitlines()[1] == line("mx1.example.net").strip()


def test_config_modes(tmp_path: Path) -> None:
    for mode, accepts in [
        (StrictHostKeyChecking.YES, False),
        (StrictHostKeyChecking.ASK, False),
        (StrictHostKeyChecking.ACCEPT_NEW, True),
        (StrictHostKeyChecking.NO, True),  # yet a changed key is still refused
    ]:
        assert KnownHosts(spec(tmp_path, strict_host_key_checking=mode)).accept_new is accepts
    with pytest.raises(HostKeyError, match="UserKnownHostsFile is none"):
        KnownHosts(spec(tmp_path, known_hosts_files=()), accept_new=True).verify(KEY)


def test_known_key_types_are_negotiated_first(tmp_path: Path) -> None:
    (tmp_path / "known_hosts").write_text(line("mx1.example.net"))
    offered = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "ssh-rsa")
    order = KnownHosts(spec(tmp_path)).preferred_algorithms(offered)
    assert order == ("ecdsa-sha2-nistp256", "ssh-ed25519", "rsa-sha2-512", "ssh-rsa")
