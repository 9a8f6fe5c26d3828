"""``--limit``: narrow an inventory with Ansible's host pattern syntax. Pure."""

from __future__ import annotations

import re

from migrator.errors import UsageError
from migrator.inventory.model import Inventory, InventoryHost


def limit(inventory: Inventory, pattern: str | None) -> Inventory:
    """The hosts matching an Ansible-style pattern (see ``matches``), inventory order kept.

    Raises UsageError when the pattern matches no host (a typo should not mean "nothing"),
    or a ``~regex`` term is not a regular expression.
    """
    if not pattern:
        return inventory
    kept = tuple(host for host in inventory.hosts if matches(host, pattern))
    if not kept:
        raise UsageError(f"--limit {pattern!r} matches no host in the inventory")
    return Inventory(kept, inventory.sources)


def matches(host: InventoryHost, pattern: str) -> bool:
    """Ansible's host pattern: ``a:b`` or ``a,b`` union, ``&x`` intersect, ``!x`` exclude;
    each term a host name, group name, glob (``mail*``) or ``~regex``; ``all``/``*`` all."""
    terms = [t.strip() for t in re.split(r"[:,]", pattern) if t.strip()]
    if ":" in pattern and re.fullmatch(r"[^:]+:\d+", pattern):
        terms = [pattern]  # "host:port" is never meant as a union
    included = False
    positive = [t for t in terms if not t.startswith(("!", "&"))]
    if not positive:
        included = True
    for term in positive:
        included = included or _term(host, term)
    for term in terms:
        if term.startswith("&"):
            included = included and _term(host, term[1:])
        elif term.startswith("!"):
            included = included and not _term(host, term[1:])
    return included


def _term(host: InventoryHost, term: str) -> bool:
    if term in ("all", "*"):
        return True
    if term.startswith("~"):
        regex = _regex(term[1:])
        return bool(regex.search(host.name)) or any(regex.search(g) for g in host.groups)
    from fnmatch import fnmatchcase

    candidates = (host.name, *host.groups)
    return any(fnmatchcase(candidate, term) for candidate in candidates)


def _regex(text: str) -> re.Pattern[str]:
    """A ``~regex`` term compiled; raises UsageError naming it when it is not one."""
    try:
        return re.compile(text)
    except re.error as exc:
        raise UsageError(f"--limit: ~{text} is not a regular expression: {exc}") from exc
