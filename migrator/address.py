"""What may name a host, a login and a test recipient: each checked once, where it enters.

Host and user names follow OpenSSH (``ssh.c``, ``valid_hostname``/``valid_ruser``, 9.6 and
later): a name that starts with ``-`` or holds a shell metacharacter, a space or a control
character is refused before any ``%`` token is expanded, so no name can reach a
``ProxyCommand`` or ``Match exec`` shell as code. A test recipient is an RFC 5321 path
without the angle brackets: ``local@domain`` with a dot-string local part (quoted local
parts are refused: they are rare for a test mailbox and every tool on the way would have to
agree on their quoting), a domain name or an address literal, no control characters,
within the RFC's length limits. Nothing is ever stripped or repaired: a value is taken as
it is or refused with one line saying why.
"""

from __future__ import annotations

import ipaddress
import re

from migrator.errors import UsageError

__all__ = ["check_hostname", "check_recipient", "check_user", "shell_safe"]

# OpenSSH's valid_hostname refuses these, and any space or control character.
_HOST_FORBIDDEN = frozenset("'`\"$\\;&<>|(){}")
# OpenSSH's valid_ruser: the same minus '$' and '\' (a trailing '\' is refused apart).
_USER_FORBIDDEN = frozenset("'`\";&<>|(){}")
# What a %-token may expand to inside a ProxyCommand: nothing /bin/sh treats specially.
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_.,:@%+=/-]*")
# RFC 5321 atext (Dot-string atoms) and domain labels (Let-dig, Ldh-str).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_STRING = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_MAX_LOCAL, _MAX_DOMAIN, _MAX_PATH = 64, 255, 256


def check_hostname(name: str, *, where: str = "") -> str:
    """NAME if OpenSSH would accept it as a host to connect to; raise UsageError if not.

    WHERE (``file:line``, or "") says where the name came from, for the message.
    """
    reason = _hostname_problem(name)
    if reason:
        raise UsageError(f"host name {name!r} {reason}", path=where or None)
    return name


def check_user(user: str, *, host: str = "", where: str = "") -> str:
    """USER if OpenSSH would accept it as a remote login name; raise UsageError if not."""
    reason = _user_problem(user)
    if reason:
        raise UsageError(f"user name {user!r} {reason}", host=host or None, path=where or None)
    return user


def check_recipient(address: str, *, host: str = "", where: str = "") -> str:
    """ADDRESS if it is a usable RFC 5321 test recipient (see the module); raise UsageError.

    Never strips anything: a trailing newline (a YAML ``|`` block scalar adds one) is an
    error saying so, not a value silently repaired.
    """
    reason = recipient_problem(address)
    if reason:
        raise UsageError(
            f"test recipient {address!r} {reason}", host=host or None, path=where or None
        )
    return address


def recipient_problem(address: str) -> str | None:
    """Why ADDRESS is not a usable test recipient, or None when it is."""
    if address.endswith("\n"):
        return (
            "ends with a newline (a YAML '|' block scalar adds one; "
            "use a plain scalar or '|-'); nothing is stripped"
        )
    if any(_control(char) for char in address):
        return "holds a control character (CR, LF, TAB, NUL ...)"
    if address.startswith("<") or address.endswith(">"):
        return "must be given without <>"
    if len(address) + 2 > _MAX_PATH:
        return f"is longer than RFC 5321 allows ({_MAX_PATH - 2} characters)"
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "is not local@domain"
    if local.startswith('"'):
        return "has a quoted local part, which migrator does not take for a test recipient"
    if len(local) > _MAX_LOCAL or not _DOT_STRING.fullmatch(local):
        return f"has a local part that is not an RFC 5321 dot-string of at most {_MAX_LOCAL}"
    if local.startswith("-") or "*" in local or "?" in local:
        # Legal atext, but `doveadm user` takes a leading '-' for an option, and a '*' or
        # '?' makes the recipient a user mask: `doveadm user`, `fetch -u` and the cleanup's
        # `expunge -u` would then reach every user it matches.
        return "starts with '-' or holds '*' or '?', which doveadm takes for an option or mask"
    return _domain_problem(domain)


def shell_safe(value: str) -> bool:
    """True when VALUE means the same to /bin/sh unquoted (letters, digits, ``_.,:@%+=/-``)."""
    return _SHELL_SAFE.fullmatch(value) is not None


def _hostname_problem(name: str) -> str | None:
    if not name:
        return "is empty"
    if name.startswith("-"):
        return "starts with '-' (ssh would take it for an option)"
    return _invalid_characters(name, _HOST_FORBIDDEN)


def _user_problem(user: str) -> str | None:
    if not user:
        return "is empty"
    if user.startswith("-"):
        return "starts with '-'"
    invalid = _invalid_characters(user, _USER_FORBIDDEN)
    if invalid:
        return invalid
    return "ends with '\\'" if user.endswith("\\") else None


def _invalid_characters(value: str, forbidden: frozenset[str]) -> str | None:
    """The characters OpenSSH refuses in value (forbidden ones, blanks, controls), said."""
    bad = sorted({c for c in value if c in forbidden or c.isspace() or _control(c)})
    if bad:
        return f"contains invalid characters ({_shown(bad)}), as OpenSSH refuses it"
    return None


def _domain_problem(domain: str) -> str | None:
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        literal = literal[5:] if literal.lower().startswith("ipv6:") else literal
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            return "has an address literal that is not an IP address"
        return None
    if len(domain) > _MAX_DOMAIN:
        return f"has a domain longer than {_MAX_DOMAIN} characters"
    if not all(_LABEL.fullmatch(label) for label in domain.split(".")):
        return "has a domain that is not a host name (letters, digits, '-', dots)"
    return None


def _control(char: str) -> bool:
    return ord(char) < 0x20 or ord(char) == 0x7F


def _shown(chars: list[str]) -> str:
    return " ".join(repr(c) for c in chars)
