"""The POSIX sh scripts SSHTransport runs for files, and the parser of what they print.

Remote hosts have sh and coreutils (or busybox), not always python or tar. Reading N files
costs three processes, not N: ``stat`` of every regular file, one ``cat`` of all of them,
``stat`` again. Framing comes from the first ``stat``'s sizes; the second ``stat`` proves no
file changed in between (size, inode, mtime), else the caller reads again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from migrator.errors import PlanDriftError, TransportError
from migrator.transport.base import FileData

# Runs argv on the host with optional stdin; returns (rc, stdout, stderr). Each transport
# supplies its own (SSH channel, Ansible connection) with its file timeout bound in.
Exec = Callable[[list[str], bytes | None], tuple[int, bytes, bytes]]

# fstat [-L] FORMAT PATH...: stat(1) in GNU's format letters (%a mode in octal, %U %G owner and
# group names, %u uid, %s size, %i inode, %Y mtime, %n name, %F type). GNU's and busybox's
# stat take them with -c; the BSDs' stat takes -f with its own letters, so they are translated
# (there %a has a leading 0: read it as octal, and %F is capitalised: "Regular File"). Which
# stat this is gets asked once, inside the script that uses it: no extra round trip.
# sha256: the sha256 of stdin, in hex (GNU, busybox and FreeBSD 14 have sha256sum; older BSDs
# only sha256 -q).
PORTABLE_SH = r"""
if stat -c %a / >/dev/null 2>&1; then
  fstat() { _o=; [ "$1" = -L ] && { _o=-L; shift; }; _f=$1; shift; stat $_o -c "$_f" -- "$@"; }
else
  fstat() {
    _o=; [ "$1" = -L ] && { _o=-L; shift; }
    _f=$(printf '%s\n' "$1" | sed 's/%a/%Mp%Lp/g; s/%U/%Su/g; s/%G/%Sg/g; s/%s/%z/g
      s/%Y/%m/g; s/%n/%N/g; s/%F/%HT/g'); shift; stat $_o -f "$_f" -- "$@"
  }
fi
if command -v sha256sum >/dev/null 2>&1; then sha256() { _h=$(sha256sum) && echo "${_h%% *}"; }
else sha256() { command sha256 -q; }; fi
"""

# Prints a start marker (anything a login shell's rc file printed before it is skipped), one
# line per argument (F regular file, L symlink to one, followed by two lines: what the link
# says and the real file, N exists but is not one, M missing), then for the F and L paths:
# their stat lines, all their bytes, their stat lines again. Links are followed as Postfix
# and Dovecot follow them.
READ_SCRIPT = (
    PORTABLE_SH
    + """\
echo migrator-files-v1
for p do
  shift
  if [ -f "$p" ]; then
    if [ -L "$p" ]; then echo L; readlink -- "$p"; readlink -f -- "$p"; else echo F; fi
    set -- "$@" "$p"
  elif [ -e "$p" ] || [ -L "$p" ]; then echo N
  else echo M
  fi
done
[ "$#" -gt 0 ] || exit 0
f='%a %U %G %s %i %Y'
fstat -L "$f" "$@" || exit 3
cat -- "$@" || exit 3
fstat -L "$f" "$@" || exit 3
"""
)

# $1 path, $2 owner, $3 group, $4 octal mode, $5 expected sha256 ("" for any); content on
# stdin. A symlink stays one: the real file is written. The temp file sits in the real file's
# directory so the rename is atomic; it is removed on any failure. The sha256 is compared
# right before the rename (exit 9 and the sha256 found on stderr when it differs). Its mtime
# is two seconds back (see below).
WRITE_SCRIPT = (
    PORTABLE_SH
    + """\
set -e
p=$1
if [ -L "$p" ]; then p=$(readlink -f -- "$p"); fi
if [ -d "$p" ]; then echo "$p is a directory" >&2; exit 1; fi
t=$(mktemp "$(dirname -- "$p")/.$(basename -- "$p").migrator.XXXXXX")
trap 'rm -f -- "$t"' EXIT
cat > "$t"
chown -- "$2:$3" "$t"
chmod -- "$4" "$t"
if [ -n "${5:-}" ]; then
  if [ -e "$p" ]; then now=$(sha256 < "$p"); else now=$(sha256 < /dev/null); fi
  if [ "$now" != "$5" ]; then echo "sha256 is now $now" >&2; exit 9; fi
fi
# Postfix's programs (postconf, postfix check, sendmail) nap, up to two seconds each, while
# main.cf is younger than two seconds, lest they read a file still being written. This file
# appears whole, by rename: dated two seconds back, it is read at once.
touch -d "@$(($(date +%s) - 2))" -- "$t" 2>/dev/null || :
mv -f -- "$t" "$p"
trap - EXIT
"""
)

CHANGED_RC = 9


_MARKER = b"migrator-files-v1\n"


def read_files(run: Exec, host: str, paths: Sequence[str]) -> dict[str, FileData]:
    """Read PATHS with READ_SCRIPT through RUN: one round trip, two if a file changed
    meanwhile; missing files and non-regular files read as content None.

    Raises TransportError when the files cannot be read consistently.
    """
    unique = list(dict.fromkeys(paths))
    if not unique:
        return {}
    for path in unique:
        require_absolute(host, path)
    for attempt in (1, 2):
        rc, out, err = run(["sh", "-c", READ_SCRIPT, "sh", *unique], None)
        if rc != 0 and attempt == 1:
            continue  # a file vanished between test and read: read again, once
        if rc != 0:
            raise TransportError(f"reading files failed: {last_line(err, rc)}", host=host)
        try:
            return parse_read_stream(unique, out)
        except StreamError as exc:
            if attempt == 2:
                raise TransportError(f"reading files failed: {exc}", host=host) from exc
    raise AssertionError("unreachable")


def write_file(
    run: Exec, host: str, path: str, content: bytes, stat: tuple[str, str, int], expected: str
) -> None:
    """Write PATH (through a symlink) with WRITE_SCRIPT through RUN, in one round trip;
    STAT is (owner, group, mode); EXPECTED the sha256 PATH must still have ("" for any).

    Raises PlanDriftError when the file no longer has EXPECTED, TransportError (naming the
    path) when any step fails; PATH is then unchanged.
    """
    require_absolute(host, path)
    owner, group, mode = stat
    argv = ["sh", "-c", WRITE_SCRIPT, "sh", path, owner, group, format(mode, "04o"), expected]
    rc, _, err = run(argv, content)
    if rc == CHANGED_RC:
        detail = f"changed on the host since it was checked ({last_line(err, rc)}); not written"
        raise PlanDriftError(detail, host=host, path=path)
    if rc != 0:
        raise TransportError(f"cannot write: {last_line(err, rc)}", host=host, path=path)


def require_absolute(host: str, path: str) -> None:
    """Raise TransportError unless PATH is absolute (every path on a host is)."""
    if not path.startswith("/"):
        raise TransportError("paths on a host must be absolute", host=host, path=path)


def last_line(err: bytes, rc: int) -> str:
    """The last line a failed remote command printed on stderr, or its exit status."""
    text = err.decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else f"exit status {rc}"


class StreamError(ValueError):
    """The stream does not parse, or a file changed while it was read."""


def parse_read_stream(paths: list[str], stream: bytes) -> dict[str, FileData]:
    """The files READ_SCRIPT printed for PATHS; raise StreamError if it is inconsistent."""
    marker = stream.find(_MARKER)
    if marker < 0 or (marker > 0 and stream[marker - 1 : marker] != b"\n"):
        raise StreamError("no start marker in the stream")
    position = marker + len(_MARKER)

    def line() -> bytes:
        nonlocal position
        end = stream.find(b"\n", position)
        if end < 0:
            raise StreamError("stream ends early")
        text, position = stream[position:end], end + 1
        return text

    kinds, links = [], {}
    for path in paths:
        kind = line()
        if kind == b"L":
            links[path] = (_text(line()), _text(line()))
        kinds.append(kind)
    if any(kind not in (b"F", b"L", b"M", b"N") for kind in kinds):
        raise StreamError(f"unexpected record in {kinds!r}")
    regular = [path for path, kind in zip(paths, kinds, strict=True) if kind in (b"F", b"L")]
    before = [line() for _ in regular]
    sizes = [_size(stat) for stat in before]
    contents = []
    for size in sizes:
        contents.append(stream[position : position + size])
        position += size
    after = [line() for _ in regular]
    if before != after or position != len(stream):
        raise StreamError("a file changed while it was read")
    result = {path: FileData(path=path, content=None) for path in paths}
    for path, stat, content in zip(regular, before, contents, strict=True):
        mode, owner, group = stat.decode("utf-8", "replace").split(" ")[:3]
        link, target = links.get(path, ("", ""))
        result[path] = FileData(path, content, owner, group, int(mode, 8), link, target)
    return result


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _size(stat: bytes) -> int:
    fields = stat.split(b" ")
    if len(fields) != 6:
        raise StreamError(f"bad stat line {stat!r}")
    try:
        int(fields[0], 8)
        return int(fields[3])
    except ValueError:
        raise StreamError(f"bad stat line {stat!r}") from None
