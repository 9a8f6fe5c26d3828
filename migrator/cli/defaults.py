"""Defaults for the command line from config files and the environment: the one place.

Each setting comes from the first of: the command line, ``MIGRATOR_<NAME>`` in the
environment, ``./migrator.toml``, the user's ``$XDG_CONFIG_HOME/migrator/config.toml``
(``~/.config``), migrator's own default. They reach click as ``ctx.default_map`` (black's
``read_pyproject_toml``), so an option given on the command line always wins. An unknown key,
a table, or a bad value is a ``DefaultsError`` naming the file and line (or the variable):
nothing is silently ignored.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from migrator.address import check_recipient
from migrator.delivery.proof_mode import DEFAULT_PROOF, ProofMode
from migrator.errors import MigratorError, UsageError

PROJECT_FILE = Path("migrator.toml")
ENV_PREFIX = "MIGRATOR_"
# The kinds of proof `apply --proof` takes (basic: one test message; ab: the A/B proof).
PROOF_KINDS = tuple(mode.value for mode in ProofMode)
_MAX_FORKS = 500


class DefaultsError(MigratorError):
    """A config file or MIGRATOR_* variable is unreadable, unknown or has a bad value."""


Value = str | int | Path


def _path(raw: object, base: Path) -> Path:
    if not isinstance(raw, str) or not raw:
        raise ValueError("must be a path (a non-empty string)")
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base / path


def _forks(raw: object, base: Path) -> int:
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= _MAX_FORKS:
        raise ValueError(f"must be a whole number from 1 to {_MAX_FORKS}")
    return raw


def _recipient(raw: object, base: Path) -> str:
    if not isinstance(raw, str):
        raise ValueError("must be an address (a string)")
    try:
        return check_recipient(raw)
    except UsageError as exc:
        raise ValueError(exc.message) from exc


def _proof(raw: object, base: Path) -> str:
    if raw not in PROOF_KINDS:
        raise ValueError(f"must be one of {', '.join(PROOF_KINDS)}")
    return str(raw)


# Setting name (a TOML key; the option's parameter name) -> how its raw value is checked.
SETTINGS: Mapping[str, Callable[[object, Path], Value]] = {
    "plans_dir": _path,
    "forks": _forks,
    "ssh_config": _path,
    "test_recipient": _recipient,
    "proof": _proof,
}
# The other MIGRATOR_* variables migrator reads (each where its feature is: the plan key's in
# cli/trust_options.py, the lab's in lab/); any other one is a typo, never ignored.
OTHER_VARIABLES = frozenset(
    {
        "MIGRATOR_PLAN_KEY_FILE",
        "MIGRATOR_REQUIRE_SIGNATURE",
        "MIGRATOR_LAB_DIR",
        "MIGRATOR_LAB_MIRROR",
        "MIGRATOR_LAB_ROOTS",
        "MIGRATOR_PROFILES",
    }
)
# migrator's own default of a setting that has one value for every command (`config` shows
# it); the others are each command's own (--forks, --plans-dir...).
BUILT_IN: Mapping[str, Value] = {"proof": DEFAULT_PROOF.value}
# Commands a setting must not reach: rollback's test recipient is, by default, the one its
# journal recorded for that host; a site-wide default must never replace it.
_NOT_FOR: Mapping[str, frozenset[str]] = {"test_recipient": frozenset({"rollback"})}


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting's value and where it came from (a file and line, or a variable)."""

    name: str
    value: Value
    source: str


@dataclass(frozen=True, slots=True)
class Defaults:
    """The settings found, and the config files looked at (with whether each exists)."""

    settings: tuple[Setting, ...]
    files: tuple[tuple[Path, bool], ...]

    def get(self, name: str) -> Setting | None:
        """The setting called name, if any source set it."""
        return next((s for s in self.settings if s.name == name), None)

    def default_map(self, commands: Iterable[str]) -> dict[str, dict[str, Value]]:
        """click's default_map: every setting for every command (click skips the
        options a command does not have)."""
        return {
            command: {
                s.name: s.value
                for s in self.settings
                if command not in _NOT_FOR.get(s.name, frozenset())
            }
            for command in commands
        }


def config_files(environ: Mapping[str, str], cwd: Path) -> tuple[Path, ...]:
    """The config files in the order they win: the project's, then the user's."""
    config_home = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return cwd / PROJECT_FILE, Path(config_home) / "migrator" / "config.toml"


def load_defaults(environ: Mapping[str, str], cwd: Path) -> Defaults:
    """Read the config files and the MIGRATOR_* variables into Defaults.

    Raises DefaultsError, naming the file and line or the variable, for a file that cannot
    be read or parsed, an unknown key, a table, or a value its setting refuses.
    """
    found: dict[str, Setting] = {}
    files = config_files(environ, cwd)
    for path in reversed(files):  # the user's first, so the project's overrides it
        if _present(path):
            found.update((s.name, s) for s in _read_file(path))
    _check_variables(environ)
    for name, check in SETTINGS.items():
        variable = ENV_PREFIX + name.upper()
        if environ.get(variable):
            value = _checked(check, environ[variable], cwd, name, f"${variable}")
            found[name] = Setting(name, value, f"${variable}")
    ordered = tuple(found[name] for name in SETTINGS if name in found)
    return Defaults(ordered, tuple((path, _present(path)) for path in files))


def _check_variables(environ: Mapping[str, str]) -> None:
    """Raise DefaultsError for a MIGRATOR_* variable migrator does not read (MIGRATOR_LMTP,
    MIGRATOR_TEST_RECIPENT): whoever set it expects it to change what migrator does."""
    known = {ENV_PREFIX + name.upper() for name in SETTINGS} | OTHER_VARIABLES
    for variable in sorted(environ):
        if variable.startswith(ENV_PREFIX) and variable not in known:
            close = difflib.get_close_matches(variable, sorted(known), n=1, cutoff=0.85)
            hint = f"did you mean ${close[0]}?" if close else f"settings: {_variables()}"
            raise DefaultsError(f"${variable}: not a variable migrator reads ({hint})")


def _variables() -> str:
    return ", ".join(f"${ENV_PREFIX}{name.upper()}" for name in SETTINGS)


def _present(path: Path) -> bool:
    """Whether a config file is there; one that cannot even be looked at (a directory on
    its way the user may not search), or is there but no regular file (a directory, a FIFO,
    a link to nothing), is an error, not absent. Raises DefaultsError."""
    try:
        if path.is_file():
            return True
        if not path.is_symlink() and not path.exists():
            return False
    except OSError as exc:
        raise DefaultsError(f"cannot read: {exc.strerror}", path=str(path)) from exc
    raise DefaultsError("is there but not a regular file (nor a link to one)", path=str(path))


def _read_file(path: Path) -> list[Setting]:
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise DefaultsError(f"cannot read: {exc.strerror}", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise DefaultsError("not UTF-8 text", path=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        # "Expected ... (at line 3, column 7)": the line leads, as in every message of ours.
        found = re.search(r"\(at line (\d+), column \d+\)$", str(exc))
        line = int(found.group(1)) if found else None
        reason = str(exc)[: found.start()].strip() if found else str(exc)
        raise DefaultsError(f"not TOML: {reason}", path=str(path), line=line) from exc
    settings = []
    for key, raw in data.items():
        where = f"{path}:{_line_of(text, key)}"
        check = SETTINGS.get(key)
        if check is None:
            raise DefaultsError(f"{where}: unknown key {key!r}{_hint(key)}")
        value = _checked(check, raw, path.parent, key, where)
        settings.append(Setting(key, value, where))
    return settings


def _checked(
    check: Callable[[object, Path], Value], raw: object, base: Path, key: str, where: str
) -> Value:
    try:
        return check(raw, base)
    except ValueError as exc:
        raise DefaultsError(f"{where}: {key} {exc} (not {raw!r})") from exc


def _line_of(text: str, key: str) -> int | str:
    """The line that sets (or opens a table called) key; "?" if it cannot be told."""
    quoted = re.escape(key)
    pattern = re.compile(rf"^\s*(\[+\s*)?(\"{quoted}\"|'{quoted}'|{quoted})\s*[=\].]")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return "?"


def _hint(key: str) -> str:
    close = difflib.get_close_matches(key.replace("-", "_"), list(SETTINGS), n=1)
    known = ", ".join(SETTINGS)
    return f" (did you mean {close[0]}?)" if close else f" (known keys: {known})"


def current_defaults() -> Defaults:
    """Defaults for this process: its environment and working directory. Raises
    DefaultsError as load_defaults does."""
    return load_defaults(os.environ, Path.cwd())
