"""The quota plugin for one delivery path only: the plan warns, naming both paths' plugin
lists and what becomes of over-quota mail each way (premise measured: tests/lab/test_quota.py).
"""

from __future__ import annotations

from pathlib import Path

from migrator.config.dovecot import BlockRef, DovecotConfig, Setting
from migrator.config.edits import SetDovecotSetting
from migrator.plan.document import Plan
from migrator.rules.dovecot import PROTOCOL_LDA, PROTOCOL_LMTP
from migrator.rules.plugins import MAIL_PLUGINS, path_plugins
from migrator.rules.quota import quota_warnings
from migrator.rules.syntax import DOVECOT_23, DOVECOT_24
from tests.unit.hosts import fixture_hosts, variant

HOST = next(h for h in fixture_hosts() if h.name == "virtual-lda")
LDA_CONF = "etc/dovecot/conf.d/15-lda.conf"
MASTER_CONF = "etc/dovecot/conf.d/10-master.conf"


def _planned(tmp_path: Path, appended: str) -> Plan:
    """virtual-lda with protocol lda's own mail_plugins line gone (the LDA loads the global
    list) and APPENDED to 10-master.conf."""
    drop = ("  mail_plugins = $mail_plugins sieve\n", "")
    return variant(HOST, tmp_path / "host", {LDA_CONF: drop, MASTER_CONF: ("", appended)})


def _quota(plan: Plan) -> str:
    [warning] = [w for w in plan.warnings if w.startswith("quota:")]
    return warning


def test_quota_for_lmtp_only_is_warned(tmp_path: Path) -> None:
    plan = _planned(
        tmp_path, "mail_plugins = sieve\nprotocol lmtp {\n  mail_plugins = $mail_plugins quota\n}\n"
    )
    warning = _quota(plan)
    assert "the LDA loaded mail_plugins = sieve, LMTP will load sieve quota" in warning
    assert "the quota plugin for LMTP only" in warning
    assert "which the LDA saved past the quota" in warning
    assert "LMTP answers 552 5.2.2 and Postfix bounces it (5.2.2)" in warning


def test_quota_for_the_lda_only_is_warned(tmp_path: Path) -> None:
    appended = (
        "mail_plugins = sieve quota\nquota_full_tempfail = yes\n"
        "protocol lmtp {\n  mail_plugins = sieve\n}\n"
    )
    warning = _quota(_planned(tmp_path, appended))
    assert "the LDA loaded mail_plugins = sieve quota, LMTP will load sieve" in warning
    assert "the quota plugin for the LDA only" in warning
    assert (
        "the LDA exited 75 and Postfix deferred it (4.3.0) (quota_full_tempfail = yes)" in warning
    )
    assert "will be saved over LMTP past the quota" in warning


def test_both_or_neither_path_loads_quota(tmp_path: Path) -> None:
    both = _quota(_planned(tmp_path / "a", "mail_plugins = sieve quota\n"))
    assert "saved by neither path" in both and "only" not in both
    neither = _planned(tmp_path / "b", "mail_plugins = sieve\n")
    assert not [w for w in neither.warnings if w.startswith("quota:")]
    assert quota_warnings(["sieve"], ["sieve"], None, None, None) == []


def _config(*settings: Setting) -> DovecotConfig:
    return DovecotConfig("/etc/dovecot/dovecot.conf", ("/etc/dovecot/dovecot.conf",), settings, ())


def test_plugins_as_2_4_reads_them() -> None:
    """dovecot24.md: protocol lda's `mail_plugins = sieve` replaces the global list (no quota
    for the LDA), protocol lmtp's `mail_plugins { sieve = yes }` adds to it (quota too)."""
    f = "/etc/dovecot/dovecot.conf"
    config = _config(
        Setting(f, (MAIL_PLUGINS,), "quota", "yes"),
        Setting(f, PROTOCOL_LDA, "mail_plugins", "sieve"),
        Setting(f, (*PROTOCOL_LMTP, MAIL_PLUGINS), "sieve", "yes"),
        Setting(f, (*PROTOCOL_LMTP, MAIL_PLUGINS), "acl", "no"),
    )
    assert path_plugins(config, DOVECOT_24, PROTOCOL_LDA) == ("sieve",)
    assert path_plugins(config, DOVECOT_24, PROTOCOL_LMTP) == ("quota", "sieve")
    carried = SetDovecotSetting(f, PROTOCOL_LMTP, "mail_plugins", "sieve", "carried")
    assert path_plugins(config, DOVECOT_24, PROTOCOL_LMTP, [carried]) == ("sieve",)
    unset = SetDovecotSetting(f, (*PROTOCOL_LMTP, MAIL_PLUGINS), "quota", "no", "why")
    assert path_plugins(config, DOVECOT_24, PROTOCOL_LMTP, [unset]) == ("sieve",)


def test_plugins_as_2_3_reads_them() -> None:
    """2.3: `$mail_plugins` in a protocol block is the global list; a planned value replaces
    the line it edits (its `$mail_plugins` is not the old protocol value)."""
    f = "/etc/dovecot/dovecot.conf"
    config = _config(
        Setting(f, (), "mail_plugins", "quota"),
        Setting(f, (), "mail_plugins", '"$mail_plugins acl"'),
        Setting(f, PROTOCOL_LMTP, "mail_plugins", "$mail_plugins sieve"),
        Setting(f, (BlockRef("mail_plugins"),), "zlib", "yes"),  # no block lists in 2.3
    )
    assert path_plugins(config, DOVECOT_23, PROTOCOL_LDA) == ("quota", "acl")
    assert path_plugins(config, DOVECOT_23, PROTOCOL_LMTP) == ("quota", "acl", "sieve")
    carried = SetDovecotSetting(f, PROTOCOL_LMTP, "mail_plugins", "$mail_plugins notify", "x")
    assert path_plugins(config, DOVECOT_23, PROTOCOL_LMTP, [carried]) == ("quota", "acl", "notify")
