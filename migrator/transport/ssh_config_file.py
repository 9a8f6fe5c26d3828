"""Reading OpenSSH client config files: the options that apply to one target host.

Follows OpenSSH's ``readconf.c``: first obtained value wins (IdentityFile accumulates),
``Host``/``Match`` lines switch an "active" flag, ``Include`` is read in place with the
current flag and restores it after, ``ProxyJump``/``ProxyCommand`` compete (first wins).
Patterns use only ``*`` and ``?``, as OpenSSH's match_pattern does.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shlex
import stat
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from migrator.address import shell_safe
from migrator.errors import UsageError

MAX_INCLUDE_DEPTH = 16

SYSTEM_CONFIG = Path("/etc/ssh/ssh_config")

# Options that accumulate over every matching block instead of "first one wins".
_MULTI = frozenset({"identityfile", "certificatefile", "localforward", "remoteforward"})
# Options whose value is a list of words (paths) taken from their first line.
_WORD_LISTS = frozenset({"userknownhostsfile", "globalknownhostsfile"})
# Options whose value is the rest of the line, verbatim (a shell command).
_VERBATIM = frozenset({"proxycommand", "localcommand", "remotecommand", "knownhostscommand"})


@dataclass(slots=True)
class ConfigContext:
    """What a config pass knows: the target, the options obtained so far, and where it reads."""

    original: str
    local_user: str
    home: Path
    options: dict[str, list[str]] = field(default_factory=dict)
    final: bool = False
    wants_final: bool = False


def read_config_file(
    path: Path, ctx: ConfigContext, *, active: bool, user_config: bool, depth: int
) -> None:
    for number, key, rest in config_lines(path, depth):
        if key == "host":
            active = match_pattern_list(ctx.original, split_words(rest, path, number))  # as typed
        elif key == "match":
            active = _match(ctx, split_words(rest, path, number), path, number)
        elif key == "include":
            for included in include_paths(split_words(rest, path, number), ctx.home, user_config):
                # OpenSSH reads the included file with the current flag and restores it after.
                read_config_file(
                    included, ctx, active=active, user_config=user_config, depth=depth + 1
                )
        elif active:
            _set_option(ctx.options, key, rest, path, number)


# No OpenSSH config is this large; a file that is (a log, a device behind a link) is refused.
MAX_CONFIG_BYTES = 16 * 1024 * 1024


def _config_text(path: Path) -> str:
    """The text of an OpenSSH config: a regular file, or /dev/null (``-F none``).

    Never blocks on a FIFO (an Include or ``-F`` naming one). Raises UsageError naming PATH.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise UsageError(f"cannot read SSH config {path}: {exc.strerror}") from exc
    found = os.fstat(fd)
    if not stat.S_ISREG(found.st_mode):
        os.close(fd)
        if stat.S_ISCHR(found.st_mode) and found.st_rdev == os.stat(os.devnull).st_rdev:
            return ""
        raise UsageError(f"cannot read SSH config {path}: not a regular file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise UsageError(f"cannot read SSH config {path}: larger than {MAX_CONFIG_BYTES} bytes")
    return data.decode("utf-8", errors="replace")


def config_lines(path: Path, depth: int) -> Iterator[tuple[int, str, str]]:
    """(line number, keyword in lower case, rest) of each setting in an OpenSSH config file.

    Raises UsageError when the file cannot be read or Includes nest too deep (a loop).
    """
    if depth > MAX_INCLUDE_DEPTH:
        raise UsageError(f"{path}: Include nested too deep (a loop?)")
    yield from _settings(path, _config_text(path))


# A fleet run resolves every host against the same config (often one Host block a host):
# each distinct text is split into settings, and each value into words, once per process,
# not once a host (which grew with the square of the fleet's size).
@lru_cache(maxsize=16)
def _settings(path: Path, text: str) -> tuple[tuple[int, str, str], ...]:
    """Raises UsageError naming the line that is not a setting (not cached)."""
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        parsed = _split_line(raw, path, number)
        if parsed is not None:
            found.append((number, *parsed))
    return tuple(found)


def _split_line(raw: str, path: Path, number: int) -> tuple[str, str] | None:
    line = raw.strip()
    if not line or line.startswith("#"):
        return None
    match = re.match(r"([A-Za-z0-9]+)(?:\s*=\s*|\s+)(.*)$", line)
    if not match:
        raise UsageError(f"{path}:{number}: cannot parse {line!r}")
    return match.group(1).lower(), match.group(2).strip()


def split_words(rest: str, path: Path, number: int) -> list[str]:
    """The words of a setting's value, as ssh splits them. Raises UsageError naming the line."""
    try:
        return list(_words(rest))
    except ValueError as exc:
        raise UsageError(f"{path}:{number}: {exc}") from exc


@lru_cache(maxsize=4096)
def _words(rest: str) -> tuple[str, ...]:
    return tuple(shlex.split(rest, comments=True))


def _set_option(options: dict[str, list[str]], key: str, rest: str, path: Path, line: int) -> None:
    if key in _VERBATIM:
        values = [rest]
    else:
        values = split_words(rest, path, line)
        if not values:
            raise UsageError(f"{path}:{line}: {key} needs a value")
    if key in ("proxyjump", "proxycommand"):
        # They compete: whichever is obtained first wins (ssh_config(5), ProxyJump).
        options.setdefault("proxy", [key, values[0] if key == "proxyjump" else rest])
    elif key in _MULTI:
        bucket = options.setdefault(key, [])
        bucket.extend(value for value in values if value not in bucket)
    elif key in _WORD_LISTS:
        # Every word of the first line, each its own (quoted) path.
        options.setdefault(key, values)
    elif key not in options:
        options[key] = [" ".join(values)]


def set_command_line_option(options: dict[str, list[str]], key: str, value: str) -> None:
    """``ssh -o KEY=VALUE``: obtained before any config file, so it beats them (first wins).

    Raises UsageError when a word-list value cannot be split (an unclosed quote).
    """
    key = key.lower()
    rest = value if key in _VERBATIM else shlex.quote(value)
    _set_option(options, key, rest, Path("command line"), 0)


def include_paths(patterns: list[str], home: Path, user_config: bool) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        expanded = expand_tilde(pattern, home)
        if not os.path.isabs(expanded):
            base = home / ".ssh" if user_config else SYSTEM_CONFIG.parent
            expanded = str(base / expanded)
        found.extend(Path(path) for path in sorted(glob.glob(expanded)))
    return found


def _match(ctx: ConfigContext, words: list[str], path: Path, number: int) -> bool:
    result = True
    while words:
        word = words.pop(0)
        negate = word.startswith("!")
        keyword = word.removeprefix("!").lower()
        if keyword == "all":
            passed = True
        elif keyword in ("canonical", "final"):
            ctx.wants_final = ctx.wants_final or keyword == "final"
            passed = ctx.final
        else:
            if not words:
                raise UsageError(f"{path}:{number}: Match {keyword} needs an argument")
            passed = _match_criterion(ctx, keyword, words.pop(0), path, number)
        if passed == negate:
            result = False
    return result


def _match_criterion(ctx: ConfigContext, keyword: str, arg: str, path: Path, number: int) -> bool:
    opts = ctx.options
    if keyword == "host":
        host = expand_hostname(opts.get("hostname", ["%h"])[0], ctx.original.lower())
        return match_pattern_list(host, arg.split(","))
    if keyword == "originalhost":
        return match_pattern_list(ctx.original, arg.split(","))
    if keyword == "user":
        return match_pattern_list(opts.get("user", [ctx.local_user])[0], arg.split(","))
    if keyword == "localuser":
        return match_pattern_list(ctx.local_user, arg.split(","))
    if keyword == "exec":
        # OpenSSH runs the command through the user's shell; exit status 0 means "matches".
        if ("%h" in arg or "%n" in arg) and not shell_safe(ctx.original):
            raise UsageError(
                f"{path}:{number}: Match exec would put {ctx.original!r} into a shell command"
            )
        command = arg.replace("%h", ctx.original).replace("%n", ctx.original)
        done = subprocess.run(["/bin/sh", "-c", command], stdout=subprocess.DEVNULL, check=False)
        return done.returncode == 0
    raise UsageError(f"{path}:{number}: Match {keyword} is not supported by migrator")


def match_pattern_list(value: str, patterns: Iterable[str]) -> bool:
    """OpenSSH's pattern-list match: some pattern matches value, and no negated one (``!p``)."""
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if glob_match(value, pattern.removeprefix("!")):
            if negated:
                return False
            matched = True
    return matched


def glob_match(value: str, pattern: str) -> bool:
    """OpenSSH's match_pattern: only ``*`` and ``?`` are special."""
    # Called for every Host pattern and known_hosts name, for every host of a fleet.
    if "*" not in pattern and "?" not in pattern:
        return value == pattern
    return _glob_regex(pattern).fullmatch(value) is not None


@lru_cache(maxsize=1024)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(regex, re.DOTALL)


def expand_hostname(value: str, original: str) -> str:
    return re.sub(r"%([%h])", lambda m: "%" if m.group(1) == "%" else original, value)


def expand_tilde(value: str, home: Path) -> str:
    if value == "~" or value.startswith("~/"):
        return str(home) + value[1:]
    if value.startswith("~"):
        name, _, rest = value[1:].partition("/")
        try:
            return str(Path(pwd.getpwnam(name).pw_dir) / rest)
        except KeyError:
            return value
    return value
