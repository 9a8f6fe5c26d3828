"""FIFOs where Postfix or Dovecot read their configs, looked for before either is run.

``postconf`` and ``doveconf`` open every config file they read; a FIFO there holds them, and
the script running them, until its timeout (60 s for the fact script), and leaves them
blocked on the host afterwards. Every script that runs either starts with FIFO_GUARD.
"""

from __future__ import annotations

from migrator.errors import FactError

MARK = "==migrator:fifos=="
# Looks where Debian, RHEL and FreeBSD keep both configs; when it finds a FIFO it prints
# MARK, the FIFOs, and the fact script's end marker, and ends the script.
FIFO_GUARD = r"""
fifos=$(for f in /etc/postfix/main.cf /etc/postfix/master.cf /usr/local/etc/postfix/main.cf \
  /usr/local/etc/postfix/master.cf; do [ ! -p "$f" ] || echo "$f"; done
  for d in /etc/dovecot /usr/local/etc/dovecot; do [ ! -d "$d" ] || find -L "$d" -type p 2>/dev/null
  done)
if [ -n "$fifos" ]; then
  echo "==migrator:fifos=="; printf '%s\n' "$fifos"; echo "==migrator:end=="; exit 0
fi
"""


def fifo_error(host: str, output: str) -> FactError | None:
    """The error for the first FIFO FIFO_GUARD found (it then printed nothing else), or None."""
    lines = output.splitlines()
    if MARK not in lines:
        return None
    found = lines[lines.index(MARK) + 1 :]
    path = found[0] if found and not found[0].startswith("==migrator:") else None
    detail = "a FIFO where a config file is read: postconf and doveconf would wait on it"
    return FactError(f"{detail} forever; nothing was read", host=host, path=path)
