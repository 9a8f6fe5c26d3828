"""The run log: JSON lines on the control node, so a 3 a.m. run can be read the next morning.

One object a line, each with ``time`` (UTC) and ``event``: ``run`` (command, migrator's
version, user, pid), ``step`` (the ``StepEvent`` the views show: host, action, description,
and once it ends its seconds, ok and detail), ``host`` (a host's outcome and exit code, its
plan and error) and ``end`` (the exit code). It holds what the terminal showed and no more:
never file contents, diffs or key material. ``--log FILE`` appends to FILE; the default is a
new file under ``$XDG_STATE_HOME/migrator/runs/`` (``~/.local/state``), mode 0600.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from migrator import __version__
from migrator.cli.fleet_view import FleetProgress
from migrator.cli.output_file import open_output
from migrator.errors import MigratorError, UsageError
from migrator.executor.step_log import Notify, StepEvent
from migrator.exit_status import ExitStatus
from migrator.fleet.rollout import FleetObserver, FleetReport, HostResult

F = TypeVar("F", bound=Callable[..., Any])


def runs_directory() -> Path:
    """Where run logs go by default: $XDG_STATE_HOME/migrator/runs (~/.local/state)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "migrator" / "runs"


class RunLog:
    """Appends one JSON object a line to a stream; safe to call from worker threads.

    A failed write never stops the run it records (an apply half done is worse than a log
    half written): the first failure is kept in ``error`` and said when the run ends.
    """

    def __init__(self, stream: IO[str], path: Path, command: str = "") -> None:
        self.path = path
        self.command = command
        self.error = ""
        self._stream = stream
        # Re-entrant: a Ctrl-C raised between taking it and the with block's first line
        # must not leave the main thread locked out of logging its own rollback.
        self._lock = threading.RLock()
        self._hosts: set[tuple[str, str]] = set()  # (phase, host) already logged

    def record(self, event: str, **fields: object) -> None:
        """Write one line: the time, the event and its fields."""
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = json.dumps({"time": stamp, "event": event, **fields}, default=str)
        with self._lock:
            if self.error:
                return
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except OSError as exc:
                self.error = exc.strerror or str(exc)

    def step(self, event: StepEvent) -> None:
        """A Notify: a step starting (no seconds yet) or ending."""
        fields: dict[str, object] = {
            "host": event.host,
            "action": event.action,
            "description": event.description,
        }
        if event.seconds is not None:
            fields.update(seconds=round(event.seconds, 3), ok=event.ok, detail=event.detail)
        if event.skipped:
            fields["skipped"] = event.skipped
        self.record("step", **fields)

    def host(
        self, name: str, outcome: str, exit_code: int, phase: str = "", **fields: object
    ) -> None:
        """A host's result in a phase (plan, apply, rollback: by default the command's): its
        outcome and exit code, and what else the run knows."""
        phase = phase or self.command
        with self._lock:
            self._hosts.add((phase, name))
        fields = {"phase": phase, "outcome": outcome, "exit_code": exit_code, **fields}
        self.record("host", host=name, **fields)

    def result(self, result: HostResult, phase: str) -> None:
        """A fleet host's result, as the fleet report has it."""
        seconds = None if result.seconds is None else round(result.seconds, 3)
        self.host(
            result.host,
            result.outcome.value,
            int(result.exit_code),
            phase,
            plan_id=result.plan_id,
            plan_path=result.plan_path,
            failed_step=result.failed_step,
            error=result.error,
            batch=result.batch,
            seconds=seconds,
        )

    def rest(self, report: FleetReport) -> None:
        """The results of a fleet report's hosts not logged yet: those decided before the
        rollout (no plan, refused) and those never started."""
        with self._lock:
            logged = set(self._hosts)
        for result in report.results:
            if (report.action, result.host) not in logged:
                self.result(result, report.action)

    def notifying(self, notify: Notify) -> Notify:
        """A Notify that tells both notify and this log."""

        def both(event: StepEvent) -> None:
            notify(event)
            self.step(event)

        return both

    def observing(self, observer: FleetObserver, phase: str) -> FleetObserver:
        """A FleetObserver that tells both observer and this log, of a phase's hosts."""
        return _Observed(observer, self, phase)


def observed(progress: FleetProgress, log: RunLog | None) -> FleetObserver:
    """What a fleet run tells: the progress shown, and the run log when there is one."""
    return progress if log is None else log.observing(progress, progress.action)


class _Observed:
    """A FleetObserver telling the progress view first, then the run log."""

    def __init__(self, shown: FleetObserver, log: RunLog, phase: str) -> None:
        self.shown = shown
        self.log = log
        self.phase = phase

    def started(self, host: str, batch: str) -> None:
        self.shown.started(host, batch)
        self.log.record("started", host=host, batch=batch)

    def step(self, event: StepEvent) -> None:
        self.shown.step(event)
        self.log.step(event)

    def finished(self, result: HostResult) -> None:
        self.shown.finished(result)
        self.log.result(result, self.phase)


@contextlib.contextmanager
def open_run_log(path: Path | None, command: str) -> Iterator[RunLog]:
    """A RunLog for one command's run, recording its start and (however it ends) its exit.

    Raises UsageError when the log cannot be opened: nothing has been done yet.
    """
    target = path or runs_directory() / _file_name(command)
    try:
        if path is None:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = open_output(target, append=True)
    except OSError as exc:
        raise UsageError(f"cannot write the run log: {exc.strerror}", path=str(target)) from exc
    with os.fdopen(descriptor, "a", encoding="utf-8") as stream:
        log = RunLog(stream, target, command)
        log.record("run", command=command, migrator=__version__, user=_user(), pid=os.getpid())
        ending: dict[str, object] = {"exit_code": int(ExitStatus.SUCCESS)}
        try:
            yield log
        except BaseException as exc:  # recorded here, raised on to the group as it was
            ending = _ending(exc)
            raise
        finally:
            log.record("end", **ending)
            if log.error:
                click.echo(f"migrator: warning: run log {target}: {log.error}", err=True)


def _ending(exc: BaseException) -> dict[str, object]:
    """The exit code (and error) the group will make of exc (cli/__init__.py)."""
    if isinstance(exc, SystemExit):
        return {"exit_code": exc.code if isinstance(exc.code, int) else int(ExitStatus.ERROR)}
    if isinstance(exc, KeyboardInterrupt):
        return {"exit_code": int(ExitStatus.INTERRUPTED), "error": "interrupted"}
    if isinstance(exc, click.UsageError):
        return {"exit_code": int(ExitStatus.USAGE), "error": exc.format_message()}
    error = str(exc) if isinstance(exc, MigratorError) else f"unexpected error: {exc!r}"
    return {"exit_code": int(ExitStatus.ERROR), "error": error}


def _file_name(command: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{command}-{os.getpid()}.jsonl"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (a container)
        return str(os.getuid())


def run_log_option(command: str) -> Callable[[F], F]:
    """Add ``--log FILE`` to a command, open its run log around the body and hand the body
    ``run_log``. Put it below ``list_hosts_option`` and above ``fleet_options``."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(**kwargs: Any) -> Any:
            with open_run_log(kwargs.pop("log"), command) as run_log:
                return function(run_log=run_log, **kwargs)

        option = click.option(
            "--log",
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="FILE",
            help="Append the run log (JSON lines: each host and step) to FILE "
            "(default: a new file under $XDG_STATE_HOME/migrator/runs).",
        )
        return option(wrapper)  # type: ignore[return-value]

    return decorate
