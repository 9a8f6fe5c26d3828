"""Release roots without building one: versions, names, manifests, apt's mirror, profile layers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator.errors import LabError
from migrator.lab import mirror, roots
from migrator.lab.profile import load_profile


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [
        ("1:2.3.19.1+dfsg1-2.1+deb12u1", "2.3.19.1"),
        ("1:2.3.13+dfsg1-2+deb11u1", "2.3.13"),
        ("1:2.4.1+dfsg1-6+deb13u7", "2.4.1"),
        ("3.10.13-0+deb13u1", "3.10.13"),
        ("1:10.0p1-7+deb13u4", "10.0p1"),
        ("1.9.16p2-3", "1.9.16p2"),
        ("2.15.2", "2.15.2"),
        ("", ""),
    ],
)
def test_upstream_version(debian: str, upstream: str) -> None:
    assert roots.upstream_version(debian) == upstream


@pytest.mark.parametrize("name", ["", "../etc", "Bookworm", "a", "trixie/x", "x" * 40])
def test_bad_release_names(name: str) -> None:
    with pytest.raises(LabError, match="bad release name"):
        roots.check_release(name)


def _manifest(directory: Path, packages: list[str]) -> None:
    directory.mkdir(parents=True)
    data = {
        "release": directory.name,
        "mirror": "http://deb.example/debian",
        "packages": packages,
        "installed": [["dovecot-core", "1:2.4.1+dfsg1-6"], ["postfix", "3.10.13-0+deb13u1"]],
        "built": "2026-01-01T00:00:00+00:00",
        "build_seconds": 44.0,
    }
    (directory / roots.MANIFEST).write_text(json.dumps(data))


def test_a_root_is_its_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(roots.ROOTS_ENV, str(tmp_path))
    _manifest(tmp_path / "trixie", list(roots.PACKAGES))
    _manifest(tmp_path / "forky", ["postfix"])
    (tmp_path / ".sid.build-123" / "fs").mkdir(parents=True)  # a build that never ended
    (tmp_path / "sid" / "fs").mkdir(parents=True)  # no manifest: never used
    found = {root.release: root for root in roots.list_roots()}
    assert sorted(found) == ["forky", "trixie"]
    trixie = found["trixie"]
    assert (trixie.versions.dovecot, trixie.versions.postfix, trixie.versions.openssh) == (
        "2.4.1",
        "3.10.13",
        "",
    )
    assert trixie.dovecot_series == "2.4"
    assert trixie.fs == tmp_path / "trixie" / "fs"
    assert trixie.current and not found["forky"].current
    assert roots.load_root("sid") is None


def test_an_unreadable_manifest_names_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(roots.ROOTS_ENV, str(tmp_path))
    (tmp_path / "trixie").mkdir()
    (tmp_path / "trixie" / roots.MANIFEST).write_text('{"release": "trixie"}')
    with pytest.raises(LabError) as caught:
        roots.load_root("trixie")
    assert caught.value.path == str(tmp_path / "trixie" / roots.MANIFEST)


def _apt(tmp_path: Path, one_line: str, deb822: str) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(one_line)
    (tmp_path / "sources.list.d" / "debian.sources").write_text(deb822)
    return tmp_path


def test_the_mirror_is_apts_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(mirror.MIRROR_ENV, raising=False)
    deb822 = (
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    assert mirror.debian_mirror(_apt(tmp_path, "", deb822)) == "http://mirror.example/debian"


def test_one_line_sources_come_first_and_security_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(mirror.MIRROR_ENV, raising=False)
    one_line = (
        "# deb http://commented.example/debian bookworm main\n"
        "deb http://security.debian.org/debian-security bookworm-security main\n"
        "deb [arch=amd64] http://local.example/debian bookworm main\n"
    )
    deb822 = "Types: deb\nURIs: http://other.example/debian\nSuites: bookworm\n"
    assert mirror.debian_mirror(_apt(tmp_path, one_line, deb822)) == "http://local.example/debian"


def test_no_mirror_in_apts_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(mirror.MIRROR_ENV, raising=False)
    deb822 = "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n"
    with pytest.raises(LabError, match="no Debian mirror in apt's sources"):
        mirror.debian_mirror(_apt(tmp_path, "", deb822))
    monkeypatch.setenv(mirror.MIRROR_ENV, "http://env.example/debian/")
    assert mirror.debian_mirror(tmp_path) == "http://env.example/debian"


def test_profile_layers_follow_the_root() -> None:
    lmtp = load_profile("lmtp")
    common = lmtp.files()
    assert not any("conf.d" in path for path in common), "Dovecot's syntax comes from a layer"
    trixie = lmtp.files(["dovecot-2.4", "release-trixie"])
    assert trixie["etc/dovecot/conf.d/20-lmtp.conf"].parts[-6:-4] == ("lmtp", "dovecot-2.4")
    assert trixie["etc/dovecot/conf.d/10-auth.conf"].parts[-6:-4] == ("virtual-lda", "dovecot-2.4")
    assert trixie["etc/postfix/master.cf"].parts[-5:-3] == ("virtual-lda", "release-trixie")
    assert trixie["etc/postfix/main.cf"].parts[-4] == "lmtp"
    bookworm = lmtp.files(["dovecot-2.3", "release-bookworm"])
    assert "mail_plugins = $mail_plugins sieve" in (
        bookworm["etc/dovecot/conf.d/20-lmtp.conf"].read_text()
    )
    assert "  mail_plugins {\n    sieve = yes\n  }\n" in (
        trixie["etc/dovecot/conf.d/20-lmtp.conf"].read_text()
    )
    lmtp.check_dovecot("2.3")
    lmtp.check_dovecot("2.4")
    with pytest.raises(LabError, match=r"no files for Dovecot 2\.5 \(it has dovecot-2\.3, "):
        lmtp.check_dovecot("2.5")


def test_no_24_profile_keeps_a_23_form() -> None:
    # 2.3 forms that pass `doveconf -n` on 2.4 and then fail every delivery (dovecot24.md).
    for name in ("virtual-lda", "system-lda", "lmtp"):
        for path in load_profile(name).files(["dovecot-2.4"]).values():
            text = path.read_text()
            lines = [line.strip() for line in text.splitlines() if not line.strip().startswith("#")]
            assert not any("$mail_plugins" in line or "%Ln" in line for line in lines), path
            assert not any(line.startswith("mail_location") for line in lines), path
