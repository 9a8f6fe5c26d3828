"""The lab's pure parts: preflight checks, profiles, lab names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator.errors import LabError
from migrator.lab import preflight
from migrator.lab.profile import load_profile
from migrator.lab.state import LAB_DIR_ENV, Versions, check_name, load_lab


def test_missing_binary_names_the_debian_package(tmp_path: Path) -> None:
    required = {"/usr/bin/nsenter": "util-linux", str(tmp_path / "lmtp"): "dovecot-lmtpd"}
    with pytest.raises(LabError) as caught:
        preflight.check_binaries(required)
    assert (
        str(caught.value)
        == f"{tmp_path / 'lmtp'} is missing: install the Debian package dovecot-lmtpd"
    )


def test_every_required_binary_is_installed_here() -> None:
    preflight.check_binaries()


def test_profiles_layer_over_the_profile_they_extend() -> None:
    lmtp = load_profile("lmtp")
    files = lmtp.files()
    assert files["etc/postfix/main.cf"].parent.parent.parent.name == "lmtp"
    assert files["etc/dovecot/users"].parts[-4] == "virtual-lda"
    assert "manifest.yaml" not in files
    assert lmtp.addresses() == ("alice@example.test", "bob@example.test")


def test_bad_manifest_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.yaml").write_text("domain: example.test\nusers: [a,\n")
    with pytest.raises(LabError) as caught:
        load_profile("broken", tmp_path)
    assert caught.value.path == str(tmp_path / "broken" / "manifest.yaml")
    assert caught.value.line is not None


@pytest.mark.parametrize("name", ["lab", "t1", "abcdefgh"])
def test_good_lab_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "1lab", "abcdefghi", "a-b", "LAB"])
def test_bad_lab_names(name: str) -> None:
    with pytest.raises(LabError):
        check_name(name)


def test_lab_state_of_older_and_newer_migrators_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LAB_DIR_ENV, str(tmp_path))
    host = {"name": "a-01", "index": 1, "address": "10.231.1.11", "profile": "lmtp"}
    host |= {"netns": "mlab-a-1", "veth": "mv-a-1"}
    old = {"name": "a", "subnet": "10.231.1", "bridge": "mlbr-a", "owner_pid": 1, "status": "up"}
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "lab.json").write_text(json.dumps(old | {"hosts": [host]}))
    loaded = load_lab("a")
    assert loaded is not None and loaded.hosts[0].release == ""
    newer = host | {"release": "trixie", "versions": {"dovecot": "2.4.1"}, "future": 1}
    (tmp_path / "a" / "lab.json").write_text(json.dumps(old | {"hosts": [newer]}))
    loaded = load_lab("a")
    assert loaded is not None
    assert (loaded.hosts[0].release, loaded.hosts[0].versions) == ("trixie", Versions("2.4.1"))
