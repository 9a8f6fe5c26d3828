"""Rules helpers that fixtures do not pin down: endpoints and the checklist warnings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrator.endpoint import Endpoint
from migrator.errors import RefusedError, UsageError
from tests.unit.hosts import fixture_hosts, replace_in


def test_endpoints() -> None:
    unix = Endpoint.from_option("unix", "/var/spool/postfix/", allow_remote=False)
    assert unix.postfix == "lmtp:unix:private/dovecot-lmtp"
    assert unix.socket_path == "/var/spool/postfix/private/dovecot-lmtp"
    v6 = Endpoint.from_option("inet:[::1]:24", "/q", allow_remote=False)
    assert (v6.postfix, v6.address, v6.port) == ("lmtp:inet:[::1]:24", "::1", "24")
    remote = Endpoint.from_option("inet:192.0.2.1:24", "/q", allow_remote=True)
    assert remote.address == "192.0.2.1"
    with pytest.raises(UsageError, match="loopback"):
        Endpoint.from_option("inet:192.0.2.1:24", "/q", allow_remote=False)
    with pytest.raises(UsageError, match="IP address"):
        Endpoint.from_option("inet:localhost:24", "/q", allow_remote=False)


def test_endpoint_from_postfix() -> None:
    found = Endpoint.from_postfix("lmtp:unix:private/lmtp-dovecot", "/var/spool/postfix")
    assert found.socket_path == "/var/spool/postfix/private/lmtp-dovecot"
    assert Endpoint.from_postfix("lmtp:unix:/run/dovecot/lmtp", "/q").socket_path == (
        "/run/dovecot/lmtp"
    )
    tcp = Endpoint.from_postfix("lmtp:inet:127.0.0.1:24", "/q")
    assert (tcp.address, tcp.port, tcp.socket_path) == ("127.0.0.1", "24", None)


def test_domain_in_mydestination_is_warned(tmp_path: Path) -> None:
    host = next(h for h in fixture_hosts() if h.name == "virtual-lda")
    root = host.copy_to(tmp_path / "root")
    mydestination = "mydestination = localhost"
    replace_in(root / "etc/postfix/main.cf", mydestination, f"{mydestination}, example.test")
    plan = host.plan(root)
    assert any("example.test is in both mydestination" in w for w in plan.warnings)
    assert not any("mydestination" in w for w in host.plan().warnings)


def test_quota_offer_and_lda_only_settings() -> None:
    plan = next(h for h in fixture_hosts() if h.name == "sieve-quota").plan()
    assert any(w.startswith("offer (not planned): lmtp_rcpt_check_quota") for w in plan.warnings)
    assert any("auth_socket_path is not carried" in w for w in plan.warnings)


def test_unread_transport_map_beside_an_lda_service_is_refused(tmp_path: Path) -> None:
    """Class 10: a map migrator cannot read (pcre, SQL, LDAP) may route to the LDA service."""
    host = next(h for h in fixture_hosts() if h.name == "transport-maps")
    root = host.copy_to(tmp_path / "root")
    maps = "transport_maps = hash:/etc/postfix/transport"
    replace_in(root / "etc/postfix/main.cf", maps, f"{maps}, pcre:/etc/postfix/transport.pcre")
    unread = r"transport_maps pcre:/etc/postfix/transport\.pcre: "
    with pytest.raises(RefusedError, match=unread) as e:
        host.plan(root)
    assert e.value.path == "/etc/postfix/main.cf" and e.value.line is not None
    assert "LDA service dovecot" in str(e.value)
    assert host.plan().has_changes


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ('-m "$EXTENSION"', None),
        ("-m INBOX/Mail", "mailbox_command runs the LDA with -m INBOX/Mail: LMTP can only"),
        ("-c /etc/dovecot/dovecot.conf", None),
        ("-c /etc/dovecot/other.conf", "with -c /etc/dovecot/other.conf: it reads another"),
    ],
)
def test_mailbox_command_lda_options(tmp_path: Path, options: str, refused: str | None) -> None:
    """-m $EXTENSION becomes lmtp_save_to_detail_mailbox; -c naming the server's own config
    is that config (class 12); another folder or config is refused, naming the option."""
    host = next(h for h in fixture_hosts() if h.name == "system-lda")
    root = host.copy_to(tmp_path / "root")
    lda = "mailbox_command = /usr/lib/dovecot/dovecot-lda"
    replace_in(root / "etc/postfix/main.cf", lda, f"{lda} {options}")
    if refused:
        with pytest.raises(RefusedError, match=re.escape(refused)) as caught:
            host.plan(root)
        assert (caught.value.path, caught.value.line) == ("/etc/postfix/main.cf", 23)
        return
    summaries = [c.summary for c in host.plan(root).changes]
    assert any("remove mailbox_command" in s for s in summaries)
    detail = any("lmtp_save_to_detail_mailbox = yes" in s for s in summaries)
    assert detail == ("EXTENSION" in options)


@pytest.mark.parametrize(("destination", "refused"), [("", True), (' -d "$USER"', False)])
def test_mailbox_command_without_d_on_a_virtual_only_userdb(
    tmp_path: Path, destination: str, refused: bool
) -> None:
    """Class 6: the LDA without -d never asked the userdb; LMTP does, and an SQL-only userdb
    does not know system users: refused with that reason, not planned to bounce local mail."""
    host = next(h for h in fixture_hosts() if h.name == "system-lda")
    root = host.copy_to(tmp_path / "root")
    replace_in(
        root / "etc/dovecot/conf.d/10-auth.conf", "!include auth-system", "!include auth-sql"
    )
    lda = "mailbox_command = /usr/lib/dovecot/dovecot-lda"
    replace_in(root / "etc/postfix/main.cf", lda, lda + destination)
    spec = dict(host.spec, facts={k: v for k, v in host.spec["facts"].items() if k != "userdb"})
    unknown_user = type(host)(host.name, host.root, spec)
    if not refused:
        assert unknown_user.plan(root).has_changes
        return
    with pytest.raises(RefusedError, match=r"without -d: .* this host's \(sql\) has no passwd"):
        unknown_user.plan(root)
    assert host.plan(root).has_changes  # the live answer says the userdb knows the user
