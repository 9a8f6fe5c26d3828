"""Checks and small actions apply and rollback take on a live host, one function each.

Each runs through the transport in one round trip where it can, and raises a typed
``MigratorError`` naming the host (and file) when the host says no.
"""

from __future__ import annotations

from collections.abc import Sequence

from migrator.errors import PlanDriftError, ServiceError, TransportError, ValidationError
from migrator.transport.base import RunResult, Transport
from migrator.transport.remote_scripts import PORTABLE_SH

# $1 path, $2 "owner group mode" expected, $3 tenths of a second to wait.
# A BSD stat's mode has a leading 0 ("0600"): dropped to compare.
WAIT_SOCKET_SCRIPT = (
    PORTABLE_SH
    + r"""
i=0; seen=missing
while [ "$i" -lt "$3" ]; do
  if [ -S "$1" ]; then seen=$(fstat '%U %G %a' "$1"); m=${seen##* }
    [ "${m#0}" != "" ] && seen="${seen% *} ${m#0}"; [ "$seen" = "$2" ] && exit 0; fi
  sleep 0.1; i=$((i + 1))
done
echo "$seen"; exit 1
"""
)

# $1 address, $2 port, $3 tenths of a second to wait. POSIX sh has no TCP client: bash's
# /dev/tcp (Debian's bash is essential, RHEL's too), else nc: -z where it has it (the BSDs'
# base), else busybox's: connected, it runs `true` and ends; exit 2 with one line when there
# is no client.
WAIT_PORT_SCRIPT = r"""
if command -v bash >/dev/null 2>&1; then
  connect() { bash -c 'exec 3<>"/dev/tcp/$1/$2"' bash "$1" "$2" 2>/dev/null; }
elif command -v nc >/dev/null 2>&1 && nc -h 2>&1 | grep -q -- -z; then
  connect() { nc -z -w 1 "$1" "$2" >/dev/null 2>&1; }
elif command -v nc >/dev/null 2>&1; then
  connect() { nc -w 1 "$1" "$2" -e true </dev/null >/dev/null 2>&1; }
else echo "no TCP client on the host (neither bash nor nc)"; exit 2; fi
i=0
while [ "$i" -lt "$3" ]; do
  connect "$1" "$2" && exit 0
  sleep 0.1; i=$((i + 1))
done
exit 1
"""


# $1 path, $2 its expected sha256 ("": any): removed only if it still has it (exit 9 if not).
REMOVE_SCRIPT = (
    PORTABLE_SH
    + r"""
if [ -n "$2" ] && [ -e "$1" ]; then
  now=$(sha256 < "$1")
  [ "$now" = "$2" ] || { echo "sha256 is now $now" >&2; exit 9; }
fi
rm -f -- "$1"
"""
)

# $1 path, $2 what the symlink says: the link is made beside it and renamed over it, never
# into a directory it names: GNU's and busybox's mv -T, the BSDs' mv -h.
LINK_SCRIPT = r"""
t="$1.migrator-link.$$"
case $(mv -T 2>&1) in *illegal*|*invalid*|*unknown*|*unrecognized*) over=-hf;; *) over=-Tf;; esac
ln -s -- "$2" "$t" && mv "$over" -- "$t" "$1" || { rm -f -- "$t"; exit 1; }
"""


def remove_file(transport: Transport, path: str, expected_sha256: str = "") -> None:
    """Remove a file apply created, if it still has expected_sha256 (when given).

    Raises PlanDriftError when it changed meanwhile, TransportError when it stays.
    """
    result = transport.run(["sh", "-c", REMOVE_SCRIPT, "sh", path, expected_sha256], timeout=30)
    if result.rc == 9:
        raise PlanDriftError(
            f"changed meanwhile ({result.err.strip()}); not removed", host=transport.host, path=path
        )
    if not result.ok:
        raise TransportError(f"cannot remove: {result.err.strip()}", host=transport.host, path=path)


def restore_link(transport: Transport, path: str, link: str) -> None:
    """Make path the symlink it was (saying ``link``). Raises TransportError."""
    result = transport.run(["sh", "-c", LINK_SCRIPT, "sh", path, link], timeout=30)
    if not result.ok:
        message = f"cannot restore the symlink to {link}: {result.err.strip()}"
        raise TransportError(message, host=transport.host, path=path)


# The plan's "postfix check", one round trip: every check whose failure fails `postfix check`
# (postfix-script check-fatal), with the host's own binaries, without what costs it most and
# never fails it: its repairs (post-install create-missing) and its warnings (check-warn's
# walk of the config, queue and chroot trees). main.cf as postconf parses it, master.cf as
# postconf -M does (postfix check never parses it), main.cf's values as postfix(1) itself
# checks them (status: nothing but the parse and whether master runs), the postlog service a
# maillog_file needs, the queue's structure (postsuper, as check-fatal). Exit 16: Postfix is
# not running (then nothing would reload); any other failure prints the check's own error.
VALIDATE_POSTFIX_SCRIPT = r"""
n=$(postconf -n) || exit 11
postconf -M >/dev/null || exit 12
if ! out=$(postfix status 2>&1); then
  d=$(postconf -h daemon_directory) && "$d/master" -t 2>/dev/null &&
    { echo "Postfix is not running" >&2; exit 16; }
  printf '%s\n' "${out:-postfix(1) rejected main.cf}" >&2; exit 13
fi
# As check-fatal: a maillog_file (set, so -n shows it; its value expanded) needs postlog.
if printf '%s\n' "$n" | grep -q '^maillog_file =' && [ -n "$(postconf -h maillog_file)" ] &&
  ! postconf -M postlog/unix-dgram 2>/dev/null | grep -q .; then
  echo "missing 'postlog' service in master.cf (maillog_file is set)" >&2; exit 14
fi
postsuper || exit 15
"""
_NOT_RUNNING = 16


def validate_postfix(transport: Transport) -> None:
    """The checks of `postfix check` that can fail it (VALIDATE_POSTFIX_SCRIPT), with the
    host's own binaries. Raises ValidationError naming what rejected the config, or saying
    Postfix is not running."""
    argv = ("sh", "-c", VALIDATE_POSTFIX_SCRIPT)
    result = transport.run(argv, timeout=60)
    if result.rc == _NOT_RUNNING:
        raise ValidationError("`postfix check`: Postfix is not running", host=transport.host)
    _raise_rejected(result, "postfix check", transport.host)


def validate_dovecot(transport: Transport) -> None:
    """`doveconf -n` with the host's own binary. Raises ValidationError."""
    _validate(transport, ("doveconf", "-n"))


def _validate(transport: Transport, argv: Sequence[str]) -> None:
    _raise_rejected(transport.run(argv, timeout=60), " ".join(argv), transport.host)


def _raise_rejected(result: RunResult, command: str, host: str) -> None:
    """Raise ValidationError with the last line the failed check said (none if it passed)."""
    if not result.ok:
        lines = (result.err or result.out).strip().splitlines() or [f"exit {result.rc}"]
        raise ValidationError(f"`{command}` rejected the config: {lines[-1]}", host=host)


def postmap(transport: Transport, spec: str) -> None:
    """Rebuild one Postfix lookup table (`postmap type:path`). Raises ValidationError."""
    _validate(transport, ("postmap", spec))


def wait_socket(
    transport: Transport, path: str, owner: str, group: str, mode: int, timeout: float = 10.0
) -> None:
    """Wait until the socket exists with owner, group and mode. Raises ServiceError."""
    expected = f"{owner} {group} {mode:o}"
    tenths = str(int(timeout * 10))
    argv = ["sh", "-c", WAIT_SOCKET_SCRIPT, "sh", path, expected, tenths]
    result = transport.run(argv, timeout=timeout + 30)
    if not result.ok:
        seen = result.out.strip() or "missing"
        raise ServiceError(
            f"socket is {seen!r} after {timeout:g}s, expected {expected!r}",
            host=transport.host,
            path=path,
        )


def wait_port(transport: Transport, address: str, port: str, timeout: float = 10.0) -> None:
    """Wait until something accepts TCP connections on address:port. Raises ServiceError."""
    tenths = str(int(timeout * 10))
    argv = ["sh", "-c", WAIT_PORT_SCRIPT, "sh", address, port, tenths]
    result = transport.run(argv, timeout=timeout + 30)
    if result.rc == 2:
        raise ServiceError(
            f"cannot wait for {address}:{port}: {result.out.strip()}", host=transport.host
        )
    if not result.ok:
        raise ServiceError(
            f"nothing accepts connections on {address}:{port} after {timeout:g}s",
            host=transport.host,
        )
