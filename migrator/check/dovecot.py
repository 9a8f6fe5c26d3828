"""Reading ``doveconf -n`` (pure): its blocks, the plugins a protocol gets, the mail root."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Setting = tuple[tuple[str, ...], str, str]  # (enclosing blocks, name, value)


def parse_doveconf(lines: Sequence[str]) -> list[Setting]:
    """Every ``name = value`` of ``doveconf -n`` output with the blocks around it."""
    stack: list[str] = []
    found: list[Setting] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("{"):
            stack.append(" ".join(line[:-1].split()))
        elif line == "}":
            if stack:
                stack.pop()
        else:
            name, _, value = line.partition("=")
            found.append((tuple(stack), name.strip(), value.strip().strip('"').strip()))
    return found


def _block(settings: Sequence[Setting], block: tuple[str, ...]) -> dict[str, str]:
    return {name: value for path, name, value in settings if path == block}


def has_block(settings: Sequence[Setting], block: str) -> bool:
    """Whether a top-level block (``protocol lmtp``) holds any setting."""
    return any(path[:1] == (block,) for path, _, _ in settings)


def plugins(settings: Sequence[Setting], block: str | None) -> frozenset[str]:
    """The mail plugins in effect inside a top-level block (None: the global ones).

    Dovecot 2.3 writes ``mail_plugins = $mail_plugins sieve`` (a list that replaces the
    global one unless it names it); 2.4 a ``mail_plugins { sieve = yes }`` block that adds
    to (or, with ``= no``, removes from) the global set.
    """
    base = _listed(settings, ())
    if block is None:
        return base
    own = _block(settings, (block,))
    if "mail_plugins" in own:
        words = own["mail_plugins"].split()
        global_ref = {"$mail_plugins", "$SET:mail_plugins"}
        extra = {w for w in words if w not in global_ref}
        return frozenset(extra | (base if global_ref & set(words) else set()))
    toggles = _block(settings, (block, "mail_plugins"))
    added = {name for name, value in toggles.items() if value == "yes"}
    removed = {name for name, value in toggles.items() if value == "no"}
    return frozenset((base | added) - removed)


def _listed(settings: Sequence[Setting], block: tuple[str, ...]) -> frozenset[str]:
    own = _block(settings, block)
    if "mail_plugins" in own:
        return frozenset(own["mail_plugins"].split())
    toggles = _block(settings, (*block, "mail_plugins"))
    return frozenset(name for name, value in toggles.items() if value == "yes")


def mail_root(mail: Mapping[str, str], settings: Sequence[Setting]) -> str | None:
    """The directory every mailbox lives under, when the config names a fixed one.

    From ``mail_location``/``mail_path`` when absolute, else from the home a userdb's
    ``home`` field or ``mail_home`` gives (``~/Maildir`` lives in it). None when it depends on
    each user's home (system users) or cannot be told.
    """
    location = mail.get("mail_location", "")
    path = location.partition(":")[2].partition(":")[0] if ":" in location else location
    homes = [mail.get("mail_home", "")]
    for block, name, value in settings:
        if not block or block[0].split()[0] not in ("userdb", "passdb"):
            continue
        if name == "args":  # 2.3: args = uid=vmail home=/var/vmail/%d/%n
            homes += [w.removeprefix("home=") for w in value.split() if w.startswith("home=")]
        elif name == "home" and block[1:] == ("fields",):  # 2.4: fields { home = ... }
            homes.append(value)
    for candidate in (path, mail.get("mail_path", ""), *homes):
        root = _static_prefix(candidate)
        if root:
            return root
    return None


def _static_prefix(template: str) -> str | None:
    """``/var/vmail/%d/%n`` -> ``/var/vmail``: the part no variable reaches."""
    if not template.startswith("/"):
        return None
    fixed = template
    for mark in ("%", "~", "$"):
        fixed = fixed.partition(mark)[0]
    if fixed != template:
        fixed = fixed.rpartition("/")[0]
    fixed = fixed.rstrip("/")
    return fixed or None
