"""What apply may write on a host: only the plan's files, under the host's own mail config dirs.

The plan's schema already keeps its files under the config directories its facts name; but
facts are part of the plan, and a plan is only as trusted as whoever wrote it. So before the
lock (before anything changes) apply asks the host itself, with its own ``postconf`` and
``doveconf``, where its Postfix and Dovecot configs live, and refuses any file outside.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from migrator.errors import PlanError
from migrator.host.facts import parse_dovecot_config_path
from migrator.host.fifos import FIFO_GUARD, fifo_error
from migrator.plan.document import Plan
from migrator.transport.base import Transport

# Two lines: Postfix's config_directory, then the first line of `doveconf -n`, which names
# Dovecot's main config file.
CONFIG_DIRS_SCRIPT = (
    FIFO_GUARD
    + r"""
postconf -h config_directory 2>/dev/null || echo
doveconf -n 2>/dev/null | head -n 1
"""
)


@dataclass(frozen=True, slots=True)
class ConfigDirs:
    """Where the host's Postfix and Dovecot read their configs, as their binaries say."""

    postfix: str
    dovecot: str

    def holds(self, path: str) -> bool:
        """Whether path lies under one of the two directories."""
        return any(path.startswith(d.rstrip("/") + "/") for d in (self.postfix, self.dovecot))


def parse_config_dirs(output: str) -> ConfigDirs | None:
    """The directories in CONFIG_DIRS_SCRIPT's output (pure); None when Postfix said nothing."""
    lines = output.splitlines()
    postfix = lines[0].strip() if lines else ""
    if not postfix.startswith("/") or posixpath.normpath(postfix) != postfix:
        return None
    dovecot = posixpath.dirname(parse_dovecot_config_path(lines[1:2]))
    return ConfigDirs(postfix, dovecot)


def read_config_dirs(transport: Transport) -> ConfigDirs:
    """Ask the host where its Postfix and Dovecot configs live (one round trip).

    Raises PlanError when Postfix does not say, FactError when a FIFO stands where either
    reads a config; TransportError when the host cannot be reached.
    """
    result = transport.run(["sh", "-c", CONFIG_DIRS_SCRIPT], timeout=60)
    fifo = fifo_error(transport.host, result.out)
    if fifo is not None:  # put there since the plan was made
        raise fifo
    dirs = parse_config_dirs(result.out)
    if dirs is None:
        raise PlanError(
            "cannot learn the host's Postfix config_directory (postconf -h config_directory)",
            host=transport.host,
        )
    return dirs


def check_scope(transport: Transport, plan: Plan) -> None:
    """Refuse a plan that would write outside the host's Postfix and Dovecot config dirs.

    Raises PlanError naming the first such file (nothing is changed); TransportError.
    """
    if not plan.files:
        return
    dirs = read_config_dirs(transport)
    for change in plan.files:
        if not dirs.holds(change.path):
            raise PlanError(
                f"plan {plan.plan_id} would write {change.path!r}, outside this host's "
                f"Postfix ({dirs.postfix}) and Dovecot ({dirs.dovecot}) config directories; "
                "nothing was changed",
                host=transport.host,
            )
