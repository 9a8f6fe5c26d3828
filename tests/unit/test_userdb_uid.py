"""Whether the userdb returns a uid, read off its definitions when no live answer exists
(issue 14 item 4: `--root`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.config.dovecot import LENS, parse_file, read_config
from migrator.config.tree import ConfigTree
from migrator.rules.userdb import uid_returned, userdb_uids
from tests.unit.hosts import fixture_hosts, replace_in

CONF = "/etc/dovecot/dovecot.conf"


def _answer(text: bytes) -> bool | None:
    with ConfigTree("h", {CONF: text}, {CONF: LENS}) as tree:
        config = read_config("h", {CONF: parse_file(tree, CONF)}, CONF, [CONF])
    return uid_returned(userdb_uids(config))


@pytest.mark.parametrize(
    ("text", "returned"),
    [
        (b"userdb {\n  driver = static\n  args = uid=vmail gid=vmail home=/v/%d/%n\n}\n", True),
        (b"userdb {\n  driver = static\n  args = home=/var/vmail/%d/%n\n}\n", False),
        (b"userdb {\n  driver = passwd\n}\n", True),
        (b"userdb {\n  driver = sql\n  args = /etc/dovecot/dovecot-sql.conf.ext\n}\n", None),
        (
            b"userdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n"
            b"  default_fields = uid=vmail gid=vmail\n}\n",
            True,
        ),
        (b"userdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n", None),
        # Two userdbs tried in turn: one with a uid and one without depends on the user.
        (
            b"userdb {\n  driver = passwd\n}\nuserdb {\n  driver = static\n"
            b"  args = home=/h/%n\n}\n",
            None,
        ),
        (b"userdb static {\n  fields {\n    uid = vmail\n  }\n}\n", True),
        (b"protocols = imap\n", None),
    ],
)
def test_uid_returned_from_definitions(text: bytes, returned: bool | None) -> None:
    assert _answer(text) is returned


def _without_live_answer(tmp_path: Path, args: str) -> list[str]:
    host = next(h for h in fixture_hosts() if h.name == "virtual-lda")
    root = host.copy_to(tmp_path / "root")
    vmail = root / "etc/dovecot/conf.d/auth-vmail.conf.ext"
    replace_in(vmail, "args = uid=vmail gid=vmail home=/var/vmail/%d/%n", args)
    spec = dict(host.spec, facts={k: v for k, v in host.spec["facts"].items() if k != "userdb"})
    plan = type(host)(host.name, host.root, spec).plan(root)
    return [c.summary for c in plan.changes] + list(plan.warnings)


def test_static_userdb_without_uid_plans_mail_uid_under_root(tmp_path: Path) -> None:
    said = _without_live_answer(tmp_path, "args = home=/var/vmail/%d/%n")
    assert any("mail_uid = vmail, mail_gid = vmail" in s for s in said), said
    assert not any("userdb answer unknown" in s for s in said)


def test_static_userdb_with_uid_needs_neither_mail_uid_nor_a_warning(tmp_path: Path) -> None:
    said = _without_live_answer(tmp_path, "args = uid=vmail gid=vmail home=/var/vmail/%d/%n")
    assert not any("mail_uid" in s for s in said), said


def test_live_uid_cross_checked_with_a_userdb_that_may_return_none(tmp_path: Path) -> None:
    """The live answer gives the test recipient a uid; a second userdb (passwd-file without
    default uid) may give other users none: said, not silently assumed."""
    host = next(h for h in fixture_hosts() if h.name == "virtual-lda")
    root = host.copy_to(tmp_path / "root")
    auth = root / "etc/dovecot/conf.d/10-auth.conf"
    replace_in(auth, "#!include auth-passwdfile", "!include auth-passwdfile")
    warnings = host.plan(root).warnings
    assert any(
        "returned a uid for alice@example.test, but userdb passwd-file (" in w
        and "may return none for other users" in w
        for w in warnings
    ), warnings
    assert not any("may return none" in w for w in host.plan().warnings)
