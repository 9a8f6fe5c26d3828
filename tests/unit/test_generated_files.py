"""Edits to config files a system generates into a read-only store are refused (NixOS, Guix)."""

from __future__ import annotations

import pytest

from migrator.config.dovecot import DovecotConfig
from migrator.config.edits import SetDovecotSetting, SetMainParam
from migrator.errors import RefusedError
from migrator.host.config import HostConfig
from migrator.rules.generated import refuse_store_files

MAIN, CONF = "/etc/postfix/main.cf", "/etc/dovecot/dovecot.conf"


def _config(real_files: dict[str, str]) -> HostConfig:
    dovecot = DovecotConfig(CONF, (CONF,), (), ())
    return HostConfig(MAIN, {}, {}, "/etc/postfix/master.cf", (), (), dovecot, {}, real_files)


def _edits() -> list[SetMainParam | SetDovecotSetting]:
    return [
        SetMainParam(MAIN, "virtual_transport", "lmtp:unix:private/dovecot-lmtp", "why"),
        SetDovecotSetting(CONF, (), "protocols", "imap lmtp", "why"),
    ]


@pytest.mark.parametrize(
    ("real", "store"),
    [("/nix/store/abc-dovecot.conf", "Nix"), ("/gnu/store/abc-dovecot.conf", "Guix")],
)
def test_an_edit_through_a_link_into_a_store_is_refused_naming_the_file(
    real: str, store: str
) -> None:
    with pytest.raises(RefusedError, match=f"which is {real}, in the {store} store") as refused:
        refuse_store_files("h", _config({CONF: real}), _edits())
    assert refused.value.path == CONF


def test_links_elsewhere_and_store_files_left_alone_are_fine() -> None:
    """Sentora links its files into /etc/sentora (writable): planned as usual; a store file
    no edit touches (a transport map, say) stops nothing."""
    links = {MAIN: "/etc/sentora/configs/postfix/main.cf", "/etc/postfix/t": "/nix/store/x-t"}
    refuse_store_files("h", _config(links), _edits())
