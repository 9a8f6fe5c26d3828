"""The POSIX sh scripts SSHTransport runs for files, and the parser of what they print.

Remote hosts have sh and coreutils (or busybox), not always python or tar. Reading N files
costs three processes, not N: ``stat`` of every regular file, one ``cat`` of all of them,
``stat`` again. Framing comes from the first ``stat``'s sizes; the second ``stat`` proves no
file changed in between (size, inode, mtime), else the caller reads again.
"""

from __future__ import annotations

from migrator.transport.base import FileData

# Prints a start marker (anything a login shell's rc file printed before it is skipped), one
# line per argument (F regular file, N exists but is not one, M missing), then for
# the F paths: their stat lines, all their bytes, their stat lines again.
READ_SCRIPT = """\
echo migrator-files-v1
for p do
  shift
  if [ -f "$p" ]; then echo F; set -- "$@" "$p"
  elif [ -e "$p" ] || [ -L "$p" ]; then echo N
  else echo M
  fi
done
[ "$#" -gt 0 ] || exit 0
f='%a %U %G %s %i %Y'
stat -L -c "$f" -- "$@" || exit 3
cat -- "$@" || exit 3
stat -L -c "$f" -- "$@" || exit 3
"""

# $1 path, $2 owner, $3 group, $4 octal mode; content on stdin. The temp file sits in the
# target's directory so the rename is atomic; it is removed on any failure.
WRITE_SCRIPT = """\
set -e
p=$1
if [ -d "$p" ]; then echo "$p is a directory" >&2; exit 1; fi
t=$(mktemp "$(dirname -- "$p")/.$(basename -- "$p").migrator.XXXXXX")
trap 'rm -f -- "$t"' EXIT
cat > "$t"
chown -- "$2:$3" "$t"
chmod -- "$4" "$t"
mv -f -- "$t" "$p"
trap - EXIT
"""


_MARKER = b"migrator-files-v1\n"


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

    kinds = [line() for _ in paths]
    if any(kind not in (b"F", b"M", b"N") for kind in kinds):
        raise StreamError(f"unexpected record in {kinds!r}")
    regular = [path for path, kind in zip(paths, kinds, strict=True) if kind == b"F"]
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
        result[path] = FileData(path, content, owner, group, int(mode, 8))
    return result


def _size(stat: bytes) -> int:
    fields = stat.split(b" ")
    if len(fields) != 6:
        raise StreamError(f"bad stat line {stat!r}")
    try:
        int(fields[0], 8)
        return int(fields[3])
    except ValueError:
        raise StreamError(f"bad stat line {stat!r}") from None
