"""Which Dovecot config syntax a host speaks (2.3 or 2.4), and the forms the switch writes in it.

Dovecot 2.4 changed the syntax of what the switch touches (shared/dovecot24.md): boolean
lists (``protocols``, ``mail_plugins``) take ``name = yes`` blocks that add to the inherited
list, ``$protocols`` no longer expands, and ``%variables`` became ``%{... | filters}``. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from migrator.config.dovecot import BlockRef, DovecotConfig
from migrator.errors import RefusedError
from migrator.host.facts import Facts

PROTOCOLS_BLOCK = (BlockRef("protocols"),)


@dataclass(frozen=True, slots=True)
class DovecotSyntax:
    """The forms of one Dovecot config syntax that the switch reads and writes."""

    version: str  # "2.3" or "2.4"
    username_local_part: str  # auth_username_format: the user's local part, lower case
    username_full: str  # auth_username_format: the full address, lower case (the default)

    @property
    def boolean_lists(self) -> bool:
        """2.4: ``protocols``/``mail_plugins`` are lists a ``{ name = yes }`` block adds to."""
        return self.version == "2.4"

    def strips_domain(self, username_format: str | None) -> bool:
        """Whether an auth_username_format looks users up by their local part only."""
        value = username_format or ""
        if self.version == "2.4":
            for expression in re.findall(r"%\{([^}]*)\}", value):
                parts = [part.strip() for part in expression.split("|")]
                if parts[0] == "username" or "username" in parts[1:]:
                    return True
            return False
        return re.search(r"%L?n|%\{(n|username)\}", value) is not None


DOVECOT_23 = DovecotSyntax("2.3", "%Ln", "%Lu")
DOVECOT_24 = DovecotSyntax("2.4", "%{user | username | lower}", "%{user | lower}")


def dovecot_syntax(facts: Facts, dovecot: DovecotConfig) -> DovecotSyntax:
    """The syntax of the host's Dovecot: its version when known, else its config's own
    ``dovecot_config_version`` (2.4 requires it as the first setting; 2.3 does not know it).

    Raises RefusedError for a version migrator does not plan, and for a config whose syntax
    is not its Dovecot's (that Dovecot would not start with it).
    """
    running = facts.dovecot_version.split()[0] if facts.dovecot_version else ""
    declared = next((s for s in dovecot.settings if s.key == "dovecot_config_version"), None)
    written = "2.4" if declared is not None else "2.3"
    version = _major_minor(running or written)
    if version not in ((2, 3), (2, 4)):
        raise RefusedError(
            f"Dovecot {running} is not supported: migrator plans 2.3 and 2.4 hosts",
            host=facts.host,
        )
    syntax = DOVECOT_24 if version == (2, 4) else DOVECOT_23
    if written != syntax.version:
        where = (declared.file, declared.line) if declared else (dovecot.root, None)
        said = "sets dovecot_config_version" if declared else "has no dovecot_config_version"
        raise RefusedError(
            f"Dovecot {running} runs, but its config {said}: it is {written} syntax, which "
            f"Dovecot {syntax.version} does not read; fix the config first",
            host=facts.host,
            path=where[0],
            line=where[1],
        )
    return syntax


def effective_protocols(dovecot: DovecotConfig, syntax: DovecotSyntax, default: str = "") -> str:
    """The protocols Dovecot ends up with, reading the files in order.

    2.3: each ``protocols = ...`` replaces, ``$protocols`` expanded. 2.4 also: a
    ``protocols { name = yes|no }`` block adds or removes one name.
    """
    current = default.split()
    for setting in dovecot.settings:
        if setting.key == "protocols" and setting.chain == ():
            value = setting.value.replace("$protocols", " ".join(current))
            current = value.split() if value != "none" else []
        elif syntax.boolean_lists and setting.chain == PROTOCOLS_BLOCK:
            current = [p for p in current if p != setting.key]
            if setting.value == "yes":
                current.append(setting.key)
    return " ".join(dict.fromkeys(current))


def _major_minor(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
