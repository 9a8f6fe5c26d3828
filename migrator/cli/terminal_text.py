"""Text from hosts and input files made safe to print on a reviewer's terminal.

A config file, a path or a command's stderr may hold ESC sequences (clear the screen, move
the cursor up and erase a line: hide a line of a diff), a carriage return, a newline that
splits a one-line error, or bidirectional overrides that reorder what is read. Printed, each
shows as an escape (``\\x1b``, ``\\r``, ``\\u202e``), the way ``repr`` shows it; tabs stay.
"""

from __future__ import annotations

import re

# C0 and C1 controls (not TAB), DEL, and the bidirectional marks and overrides: the plan
# schema's CONTROL (plan/schema.py) plus the newline, which one line must not hold either;
# and lone surrogates, the bytes of a file that is not UTF-8 (read with surrogateescape),
# which no terminal's encoding can print.
_UNSAFE = re.compile(
    r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def printable(text: str) -> str:
    """TEXT with every control or reordering character shown as its escape; the same text
    when it holds none (the common case costs one search)."""
    return _UNSAFE.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    code = ord(char) - 0xDC00 if 0xDC80 <= ord(char) <= 0xDCFF else ord(char)  # the byte
    return {"\n": "\\n", "\r": "\\r"}.get(char) or (
        f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    )
