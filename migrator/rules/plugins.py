"""The mail plugins each delivery path loads: the LDA's (the global list, then protocol
lda's) and LMTP's as the plan leaves them (the global list, then protocol lmtp's, with the
planned edits in place of the settings they replace).

Both releases: ``mail_plugins = a b`` replaces the list, ``$mail_plugins`` in it stands for
the list read so far (in a protocol block: the global one). 2.4 also: a ``mail_plugins {
name = yes|no }`` block adds or removes one name (dovecot24.md). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from migrator.config.dovecot import BlockRef, Chain, DovecotConfig, Setting
from migrator.config.edits import Edit, SetDovecotSetting
from migrator.rules.quota import dovecot_bool
from migrator.rules.syntax import DovecotSyntax

MAIL_PLUGINS = BlockRef("mail_plugins")


def path_plugins(
    dovecot: DovecotConfig, syntax: DovecotSyntax, protocol: Chain, planned: Sequence[Edit] = ()
) -> tuple[str, ...]:
    """The plugins Dovecot loads for PROTOCOL (``protocol lda`` or ``protocol lmtp``), in
    order, once the PLANNED edits are made. Never raises."""
    edits = [e for e in planned if isinstance(e, SetDovecotSetting)]
    replaced = {(e.chain, e.key) for e in edits}
    settings = [s for s in dovecot.settings if (s.chain, s.key) not in replaced]
    settings += [Setting(e.file, e.chain, e.key, e.value) for e in edits]
    outer = _read(settings, (), [], syntax)
    return tuple(_read(settings, protocol, outer, syntax))


def _read(
    settings: Sequence[Setting], chain: Chain, start: list[str], syntax: DovecotSyntax
) -> list[str]:
    """The list as CHAIN's own settings leave it, starting from START (inherited)."""
    current = list(start)
    for setting in settings:
        if setting.chain == chain and setting.key == "mail_plugins":
            value = setting.value.replace('"', " ").replace("$mail_plugins", " ".join(current))
            current = [name for name in value.split() if name != "none"]
        elif syntax.boolean_lists and setting.chain == (*chain, MAIL_PLUGINS):
            current = [name for name in current if name != setting.key]
            if dovecot_bool(setting.value):
                current.append(setting.key)
    return list(dict.fromkeys(current))
