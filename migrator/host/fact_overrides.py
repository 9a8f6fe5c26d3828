"""FactOverrides from plain data: the live facts a fixture's ``facts:`` section (or
``plan --facts``) supplies for a directory root."""

from __future__ import annotations

from migrator.errors import FactError
from migrator.host.facts import FactOverrides, UserdbAnswer
from migrator.host.platform import OsFamily


def overrides_from_mapping(data: dict[str, object]) -> FactOverrides:
    """Build FactOverrides from plain data (a fixture's ``facts:`` section).

    Raises FactError on a malformed userdb entry.
    """
    userdb = data.get("userdb")
    answer = None
    if isinstance(userdb, dict):
        try:
            answer = UserdbAnswer(
                recipient=str(userdb["recipient"]),
                exists=bool(userdb.get("exists", True)),
                uid=None if userdb.get("uid") is None else str(userdb["uid"]),
                gid=None if userdb.get("gid") is None else str(userdb["gid"]),
                home=None if userdb.get("home") is None else str(userdb["home"]),
            )
        except KeyError as exc:
            raise FactError(f"userdb override lacks {exc}") from exc
    binary = data.get("lmtp_binary", ...)
    return FactOverrides(
        dovecot_version=_opt_str(data.get("dovecot_version")),
        postfix_version=_opt_str(data.get("postfix_version")),
        lmtp_binary=None if binary is ... else _opt_str(binary),
        lmtp_binary_known=binary is not ...,
        userdb=answer,
        protocols_default=_opt_str(data.get("protocols_default")),
        os_family=_os_family(data.get("os_family")),
    )


def _os_family(value: object) -> OsFamily | None:
    """A fixture's os_family. Raises FactError when it names no family migrator knows."""
    if value is None:
        return None
    try:
        return OsFamily(str(value))
    except ValueError:
        known = ", ".join(f.value for f in OsFamily)
        raise FactError(f"os_family {value!r} is not one of {known}") from None


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
