"""Secrets out of sight: the values of secret-bearing settings, masked wherever a plan is shown.

A plan keeps every file it rewrites whole (apply needs the bytes), and mail configs hold
secrets: ``doveadm_password``, ``ssl_key_password``, SQL/LDAP ``password=`` in ``connect`` or
``args``, Postfix ``*_passwd`` maps. The terminal diff and ``plan --json`` show ``********``
instead. Masking works on lines (Postfix main.cf and master.cf ``-o``, Dovecot ``key = value``,
Postfix's indented continuation lines), so it needs no parser and runs on any file.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

MASK = "********"

_SETTING = re.compile(r"^(\s*(?:-o\s+)?)([A-Za-z0-9_.-]+)(\s*=\s*)(.*?)(\r?\n)?$")
_INLINE = re.compile(r"\b(password|passwd)=(\"[^\"]*\"|'[^']*'|\S+)", re.IGNORECASE)
_CONTINUATION = re.compile(r"^[ \t]+[^=\s{}#][^={}]*(\r?\n)?$")


def is_secret(name: str, value: str = "") -> bool:
    """Whether a setting of this name holds a secret (``*_key`` only with inline material)."""
    key = name.lower().rsplit(".", 1)[-1]
    if key.endswith("_maps"):  # names lookup tables (sasl_passwd), holds no secret itself
        return False
    if any(word in key for word in ("password", "passwd", "secret")) or key.endswith("_pass"):
        return True
    return (key == "ssl_key" or key.endswith("_key")) and not value.lstrip().startswith("<")


def masked_lines(text: str) -> list[str]:
    """The text's lines (ends kept) with every secret value replaced by ``MASK``."""
    shown: list[str] = []
    in_secret = False
    for line in text.splitlines(keepends=True):
        found = _SETTING.match(line)
        if in_secret and not found and _CONTINUATION.match(line):
            end = "\n" if line.endswith("\n") else ""
            shown.append(line[: len(line) - len(line.lstrip())] + MASK + end)
            continue
        in_secret = False
        if found and is_secret(found.group(2), found.group(4)) and found.group(4):
            in_secret = not found.group(1)
            shown.append(found.expand(r"\1\2\3") + MASK + (found.group(5) or ""))
        else:
            shown.append(_INLINE.sub(lambda m: f"{m.group(1)}={MASK}", line))
    return shown


def mask_text(text: str) -> str:
    """The text with every secret value replaced by ``MASK``."""
    return "".join(masked_lines(text))


def masked_diff(path: str, before: str, after: str, context: int = 3) -> str:
    """The unified diff of before and after, as ``diff -u``, with secret values masked.

    Lines are compared as they are (a changed secret still shows as changed), shown masked.
    """
    raw_a, raw_b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    shown_a, shown_b = masked_lines(before), masked_lines(after)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, raw_a, raw_b)
    for group in matcher.get_grouped_opcodes(context):
        if not out:
            out += [f"--- a{path}\n", f"+++ b{path}\n"]
        first, last = group[0], group[-1]
        old = _range(first[1], last[2])
        new = _range(first[3], last[4])
        out.append(f"@@ -{old} +{new} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + line for line in shown_a[i1:i2]]
                continue
            out += ["-" + line for line in shown_a[i1:i2]]
            out += ["+" + line for line in shown_b[j1:j2]]
    return "".join(out)


def _range(start: int, stop: int) -> str:
    """A hunk range as difflib's unified_diff writes it."""
    length = stop - start
    beginning = start + 1 if length else start
    return str(beginning) if length == 1 else f"{beginning},{length}"


def mask_data(value: Any, secret: bool = False) -> Any:
    """A copy of JSON data with secret values masked: under a secret key, and inline."""
    if isinstance(value, dict):
        return {k: mask_data(v, secret or _secret_key(str(k), v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_data(item, secret) for item in value]
    if isinstance(value, str):
        return MASK if secret else _INLINE.sub(lambda m: f"{m.group(1)}={MASK}", value)
    return value


def _secret_key(key: str, value: Any) -> bool:
    """A key in settings data (``root['dovecot']['passdb / args']``) naming a secret."""
    words = re.findall(r"[A-Za-z0-9_]+", key)
    return bool(words) and is_secret(words[-1], value if isinstance(value, str) else "")
