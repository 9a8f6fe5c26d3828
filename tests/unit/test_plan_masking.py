"""Secret values are masked in every diff shown and in `plan --json`; the saved plan keeps
the real content (apply needs it), in a 0600 file."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.plan.masking import MASK, mask_data, mask_text, masked_diff
from migrator.plan.store import load_plan
from tests.unit.hosts import HOSTS

SECRET = "hunter2-secret-value"


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("doveadm_password = s3", f"doveadm_password = {MASK}"),
        ("  ssl_key_password = s3", f"  ssl_key_password = {MASK}"),
        ("ssl_server_key_password=s3", f"ssl_server_key_password={MASK}"),
        ("auth_master_pass = s3", f"auth_master_pass = {MASK}"),
        ("oauth2_client_secret = s3", f"oauth2_client_secret = {MASK}"),
        ("ssl_key = -----BEGIN PRIVATE KEY-----", f"ssl_key = {MASK}"),
        ("ssl_key = </etc/ssl/private/mail.key", "ssl_key = </etc/ssl/private/mail.key"),
        ("  args = dn=x password=s3 base=y", f"  args = dn=x password={MASK} base=y"),
        (
            "connect = host=db user=mail password='s 3'",
            f"connect = host=db user=mail password={MASK}",
        ),
        ("  -o smtp_sasl_password=s3", f"  -o smtp_sasl_password={MASK}"),
        ("relayhost_passwd = s3", f"relayhost_passwd = {MASK}"),
        ("smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd", None),
        ("virtual_transport = dovecot", None),
        ("# doveadm_password = s3 (a comment)", None),
    ],
)
def test_mask_line(line: str, shown: str | None) -> None:
    assert mask_text(line + "\n") == (shown or line) + "\n"


def test_postfix_continuation_lines_of_a_secret_are_masked() -> None:
    text = "smtp_secret = first\n  second\nmydomain = example.test\n  next\n"
    assert mask_text(text) == f"smtp_secret = {MASK}\n  {MASK}\nmydomain = example.test\n  next\n"


def test_masked_diff_is_difflibs_when_nothing_is_secret() -> None:
    before = "a = 1\nb = 2\nc = 3\n" * 5
    after = before.replace("b = 2", "b = 4", 1) + "d = 5"
    expected = difflib.unified_diff(
        before.splitlines(True), after.splitlines(True), fromfile="a/etc/x", tofile="b/etc/x"
    )
    assert masked_diff("/etc/x", before, after) == "".join(expected)


def test_a_changed_secret_shows_as_changed_but_masked() -> None:
    diff = masked_diff("/etc/x", "doveadm_password = old\n", "doveadm_password = new\n")
    assert f"-doveadm_password = {MASK}\n+doveadm_password = {MASK}\n" in diff
    assert "old" not in diff and "new" not in diff


def test_mask_data_masks_by_key_and_inline() -> None:
    data = {
        "values_changed": {
            "root['dovecot']['doveadm_password']": {"old_value": "a", "new_value": "b"}
        },
        "root['dovecot']['passdb / args']": "dn=x password=s3",
        "mail_plugins": "sieve",
    }
    assert mask_data(data) == {
        "values_changed": {
            "root['dovecot']['doveadm_password']": {"old_value": MASK, "new_value": MASK}
        },
        "root['dovecot']['passdb / args']": f"dn=x password={MASK}",
        "mail_plugins": "sieve",
    }


@pytest.fixture
def secret_root(tmp_path: Path) -> Path:
    root = tmp_path / "virtual-lda"
    shutil.copytree(HOSTS / "virtual-lda", root, symlinks=True)
    master = root / "etc/dovecot/conf.d/10-master.conf"
    text = master.read_text()
    assert text.count("}\n\nservice imap {") == 1
    master.write_text(
        text.replace("}\n\nservice imap {", f"}}\ndoveadm_password = {SECRET}\n\nservice imap {{")
    )
    return root


def test_plan_shows_no_secret_but_keeps_it_for_apply(secret_root: Path, tmp_path: Path) -> None:
    plans = tmp_path / "plans"
    shown = CliRunner().invoke(
        main, ["plan", "--root", str(secret_root), "--plans-dir", str(plans)]
    )
    assert shown.exit_code == 0, shown.output
    assert f"doveadm_password = {MASK}" in shown.output and SECRET not in shown.output
    as_json = CliRunner().invoke(main, ["plan", "--root", str(secret_root), "--json", "--no-save"])
    assert as_json.exit_code == 0 and SECRET not in as_json.output
    master = next(f for f in json.loads(as_json.output)["files"] if "10-master" in f["path"])
    assert f"doveadm_password = {MASK}" in master["content_after"]
    (saved,) = (plans / "virtual-lda").glob("*.json")
    plan = load_plan(saved)
    change = next(f for f in plan.files if "10-master" in f.path)
    assert f"doveadm_password = {SECRET}" in change.content_after  # what apply writes
    assert SECRET not in change.diff
