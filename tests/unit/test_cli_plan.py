"""`migrator plan --root DIR` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from migrator.cli import main
from tests.unit.hosts import HOSTS


def _plan(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["plan", *args])
    return result.exit_code, result.stdout, result.stderr


def test_changes_with_detailed_exitcode(tmp_path: Path) -> None:
    code, out, _ = _plan(
        "--root", str(HOSTS / "virtual-lda"), "--plans-dir", str(tmp_path), "--detailed-exitcode"
    )
    assert code == 2
    assert "switch delivery from Dovecot LDA (dovecot)" in out
    assert "+virtual_transport = lmtp:unix:private/dovecot-lmtp" in out
    assert "userdb answer (not known from a directory)" in out
    saved = list((tmp_path / "virtual-lda").glob("*.json"))
    assert len(saved) == 1


def test_no_changes_exits_zero(tmp_path: Path) -> None:
    code, out, _ = _plan("--root", str(HOSTS / "already-lmtp"), "--no-save", "--detailed-exitcode")
    assert code == 0
    assert "no changes" in out


def test_json_document(tmp_path: Path) -> None:
    code, out, _ = _plan("--root", str(HOSTS / "virtual-lda"), "--json", "--no-save", "mx1")
    assert code == 0
    data = json.loads(out)
    assert data["host"] == "mx1"
    assert data["endpoint"] == "lmtp:unix:private/dovecot-lmtp"


def test_refusal_is_one_line_exit_one() -> None:
    code, _, err = _plan("--root", str(HOSTS / "wrapped-lda"), "--no-save")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "wrapped-lda: /etc/postfix/master.cf:" in lines[0]
    assert "spamc" in lines[0]


def test_bad_lmtp_option() -> None:
    code, _, err = _plan("--root", str(HOSTS / "virtual-lda"), "--no-save", "--lmtp", "tcp")
    assert code == 1
    assert "--lmtp must be unix or inet:ADDRESS:PORT" in err


def test_no_host_no_root() -> None:
    code, _, err = _plan("--no-save")
    assert code == 1
    assert "give a HOST" in err


def test_directory_without_dovecot(tmp_path: Path) -> None:
    (tmp_path / "etc/postfix").mkdir(parents=True)
    for name in ("main.cf", "master.cf"):
        source = HOSTS / "virtual-lda/etc/postfix" / name
        (tmp_path / "etc/postfix" / name).write_bytes(source.read_bytes())
    code, _, err = _plan("--root", str(tmp_path), "--no-save")
    assert code == 1
    assert "/etc/dovecot/dovecot.conf: Dovecot config file not found" in err


def test_facts_file_supplies_live_facts() -> None:
    root = HOSTS / "sieve-quota"
    code, out, _ = _plan("--root", str(root), "--facts", str(root / "expected.yaml"), "--no-save")
    assert code == 0
    assert "set mail_uid = vmail, mail_gid = vmail" in out
    assert "not checked: userdb" not in out
    code, _, err = _plan("somehost", "--facts", str(root / "expected.yaml"), "--no-save")
    assert code == 1 and "--facts supplies what a --root directory cannot" in err
