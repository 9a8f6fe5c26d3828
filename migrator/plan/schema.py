"""The plan document's schema: every field's type and form, checked before a plan is used.

A plan file may come from anyone who can write to an ops repository, and its checksum is a
sha256 anyone can recompute. So nothing in it is trusted for its shape: ids, names, paths,
modes and step arguments must have exactly the form ``build`` makes, every file must lie
under the host's Postfix or Dovecot config directory, and every step must name only what
the plan itself describes. ``check_plan_data`` raises one ``PlanError`` naming the field.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Any

from migrator.endpoint import Endpoint, is_port
from migrator.errors import PlanError, UsageError

PLAN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
CREATED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:@%+\[\]-]{0,252}")
POSIX_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,31}")
MODE = re.compile(r"[0-7]{4}")
SHA256 = re.compile(r"[0-9a-f]{64}")
VERSION = re.compile(r"[0-9A-Za-z.+-]{1,64}")
DNS_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")
SERVICE = re.compile(r"[A-Za-z0-9._:\[\]-]{1,64}")
MAP_SPEC = re.compile(r"([a-z0-9_]+):(/.+)")
ACCEPT = re.compile(r"(\*|[a-z0-9]{1,32}):(bounced [245]\.\d{1,3}\.\d{1,3}|header [a-z0-9-]{1,64})")
SECONDS = re.compile(r"[1-9][0-9]?|[12][0-9][0-9]|300")
LMTP_DRAIN_SECONDS = "30"
"""How long apply (its plan's wait_lmtp) and rollback wait for Postfix's lmtp agents to
finish before they reload Dovecot."""
RECIPIENT = re.compile(r"([^\s<>\"\\@\x00-\x1f\x7f]+(@[^\s<>\"\\@\x00-\x1f\x7f]+)?)?")
# C0 and C1 controls, DEL (a tab is harmless) and the bidirectional overrides and isolates
# (which reorder what a reviewer reads): nothing may rewrite a reviewer's terminal.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

_FORMS = {
    PLAN_ID: "YYYYMMDDTHHMMSSZ-xxxxxxxx",
    CREATED: "YYYY-MM-DDTHH:MM:SSZ",
    HOST: "a host name",
    POSIX_NAME: "a POSIX user or group name",
    MODE: "4 octal digits",
    SHA256: "64 lowercase hex digits",
    VERSION: "a version",
    SERVICE: "a master.cf service name",
    MAP_SPEC: "TYPE:/absolute/path",
    RECIPIENT: "an address without spaces, <>, quotes or control characters",
    ACCEPT: "KIND:bounced CODE or *:header NAME",
    SECONDS: "1 to 300 seconds",
}

TOP_FIELDS = frozenset(
    (
        *("format_version", "plan_id", "host", "created", "migrator_version", "facts"),
        *("endpoint", "lda_services", "changes", "files", "settings_diff", "steps", "warnings"),
    )
)
FILE_FIELDS = frozenset(
    (
        *("path", "owner", "group", "mode", "sha256_before", "sha256_after"),
        *("content_before", "content_after", "diff"),
    )
)
STEP_FIELDS = frozenset(("action", "description", "args"))
CHANGE_FIELDS = frozenset(("file", "summary", "reason"))
FIXED_ARGV = {
    "validate_postfix": "postfix check",
    "validate_dovecot": "doveconf -n",
    "reload_dovecot": "doveadm reload",
    "reload_postfix": "postfix reload",
}
STEP_ARGS: Mapping[str, frozenset[str]] = {
    **{action: frozenset(("argv",)) for action in FIXED_ARGV},
    "write_file": frozenset(("path", "sha256_before", "sha256_after")),
    "postmap": frozenset(("map",)),
    "wait_socket": frozenset(("path", "owner", "group", "mode")),
    "wait_port": frozenset(("address", "port")),
    "probe_lmtp": frozenset(("endpoint", "recipient")),
    "test_delivery": frozenset(("recipient",)),
    "check_queue": frozenset(("services",)),
    "proof_before": frozenset(("recipient", "accepts")),
    "wait_lmtp": frozenset(("seconds", "in_use")),  # in_use: why, in words
}


class _Check:
    """Raise PlanError for one field of one plan file."""

    def __init__(self, host: str | None, source: str | None) -> None:
        self.host, self.source = host, source

    def fail(self, where: str, problem: str) -> PlanError:
        return PlanError(f"{where}: {problem}", host=self.host, path=self.source)

    def fields(self, where: str, value: Any, names: frozenset[str]) -> dict[str, Any]:
        """value as an object with exactly these fields."""
        if not isinstance(value, dict):
            raise self.fail(where, "must be an object")
        missing = sorted(names - value.keys())
        unknown = sorted(value.keys() - names)
        if missing:
            raise self.fail(where, f"missing field {missing[0]!r}")
        if unknown:
            raise self.fail(where, f"unknown field {unknown[0]!r}")
        return value

    def text(self, where: str, value: Any, pattern: re.Pattern[str] | None = None) -> str:
        """value as a string of pattern's form, or (no pattern) without control characters."""
        if not isinstance(value, str):
            raise self.fail(where, "must be a string")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(where, f"{_shown(value)} is not {_FORMS[pattern]}")
        if pattern is None and CONTROL.search(value):
            raise self.fail(where, "contains a control character")
        return value

    def path(self, where: str, value: Any) -> str:
        """value as an absolute, normalised path."""
        path = self.text(where, value)
        if not path.startswith("/") or posixpath.normpath(path) != path or "//" in path:
            raise self.fail(where, f"{_shown(path)} is not an absolute, normalised path")
        return path

    def items(self, where: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, "must be a list")
        return value


def _shown(value: str) -> str:
    """A value in an error message: quoted, escaped, bounded (the message stays one line)."""
    return repr(value if len(value) <= 80 else value[:77] + "...")


def check_plan_data(data: Mapping[str, Any], host: str | None, source: str | None) -> None:
    """Check every field of a plan's JSON data (without its checksum and signature).

    Raises PlanError naming the file and the first field that is not as ``build`` makes it.
    """
    check = _Check(host, source)
    check.fields("plan", dict(data), TOP_FIELDS)
    _check_header(check, data)
    dirs = _check_facts(check, data["facts"])
    endpoint = _check_endpoint(check, data["endpoint"], data["facts"]["queue_directory"])
    for index, service in enumerate(check.items("lda_services", data["lda_services"])):
        check.text(f"lda_services[{index}]", service, SERVICE)
    for index, change in enumerate(check.items("changes", data["changes"])):
        check.fields(f"changes[{index}]", change, CHANGE_FIELDS)
        check.path(f"changes[{index}].file", change["file"])
        check.text(f"changes[{index}].summary", change["summary"])
        check.text(f"changes[{index}].reason", change["reason"])
    files = _check_files(check, data["files"], dirs)
    if not isinstance(data["settings_diff"], dict):
        raise check.fail("settings_diff", "must be an object")
    _check_steps(check, data["steps"], files, endpoint)
    _check_finalize(check, data["steps"], data["lda_services"])
    for path, change in files.items():
        # Every master.cf, not only the facts' config_directory's: facts are the plan's word.
        if posixpath.basename(path) == "master.cf":
            _check_removed_services(check, data["steps"], change)
    for index, warning in enumerate(check.items("warnings", data["warnings"])):
        check.text(f"warnings[{index}]", warning)


def _check_header(check: _Check, data: Mapping[str, Any]) -> None:
    plan_id = check.text("plan_id", data["plan_id"], PLAN_ID)
    check.text("host", data["host"], HOST)
    created = check.text("created", data["created"], CREATED)
    if not plan_id.startswith(created.replace("-", "").replace(":", "")):
        raise check.fail("plan_id", f"{plan_id!r} does not begin with its created time")
    check.text("migrator_version", data["migrator_version"], VERSION)


def _check_facts(check: _Check, facts: Any) -> tuple[str, str]:
    """The facts apply relies on; returns the Postfix and the Dovecot config directory."""
    if not isinstance(facts, dict):
        raise check.fail("facts", "must be an object")
    for key in ("config_directory", "queue_directory", "dovecot_config"):
        check.path(f"facts.{key}", facts.get(key))
    check.text("facts.mail_owner", facts.get("mail_owner"), POSIX_NAME)
    if facts.get("mail_owner_group") is not None:
        check.text("facts.mail_owner_group", facts["mail_owner_group"], POSIX_NAME)
    return facts["config_directory"], posixpath.dirname(facts["dovecot_config"])


def _check_endpoint(check: _Check, value: Any, queue_directory: str) -> Endpoint:
    try:
        endpoint = Endpoint.from_postfix(check.text("endpoint", value), queue_directory)
    except UsageError as exc:
        raise check.fail("endpoint", exc.message) from exc
    if endpoint.socket_path is not None:
        check.path("endpoint", endpoint.socket_path)
    elif not _is_address(endpoint.address or "") or not is_port(endpoint.port or ""):
        raise check.fail("endpoint", f"{_shown(value)} is not a host and port")
    return endpoint


def _check_files(check: _Check, value: Any, dirs: tuple[str, str]) -> dict[str, dict[str, str]]:
    """Each file of the plan, by path; every one under one of dirs, none twice."""
    files: dict[str, dict[str, str]] = {}
    for index, change in enumerate(check.items("files", value)):
        where = f"files[{index}]"
        check.fields(where, change, FILE_FIELDS)
        path = check.path(f"{where}.path", change["path"])
        if not any(path.startswith(d.rstrip("/") + "/") for d in dirs):
            raise check.fail(
                f"{where}.path", f"{path!r} is outside {dirs[0]} and {dirs[1]}: not a mail config"
            )
        if path in files:
            raise check.fail(f"{where}.path", f"{path!r} appears twice")
        check.text(f"{where}.owner", change["owner"], POSIX_NAME)
        check.text(f"{where}.group", change["group"], POSIX_NAME)
        check.text(f"{where}.mode", change["mode"], MODE)
        for key in ("sha256_before", "sha256_after"):
            check.text(f"{where}.{key}", change[key], SHA256)
        for key in ("content_before", "content_after", "diff"):
            if not isinstance(change[key], str):
                raise check.fail(f"{where}.{key}", "must be a string")
        files[path] = change
    return files


def _check_steps(
    check: _Check, value: Any, files: Mapping[str, Mapping[str, str]], endpoint: Endpoint
) -> None:
    """Known actions with exactly their args; writes are the plan's files, each once."""
    written: list[str] = []
    for index, step in enumerate(check.items("steps", value)):
        where = f"steps[{index}]"
        check.fields(where, step, STEP_FIELDS)
        action = check.text(f"{where}.action", step["action"])
        if action not in STEP_ARGS:
            raise check.fail(f"{where}.action", f"unknown action {_shown(action)}")
        check.text(f"{where}.description", step["description"])
        args = check.fields(f"{where}.args", step["args"], STEP_ARGS[action])
        for key, arg in args.items():
            check.text(f"{where}.args.{key}", arg)
        _ARG_CHECKS[action](check, f"{where}.args", args, files, endpoint)
        if action == "write_file":
            written.append(args["path"])
        if action == "check_queue" and index != 0:
            raise check.fail(f"{where}.action", "check_queue must come before everything else")
    if sorted(written) != sorted(files) or len(set(written)) != len(written):
        raise check.fail("steps", "must write each file of the plan exactly once")
    if bool(files) != bool(value):
        raise check.fail("steps", "a plan has steps exactly when it has files")


def _check_finalize(check: _Check, steps: list[Any], services: list[str]) -> None:
    """A finalize plan's queue check covers exactly the services it removes."""
    for index, step in enumerate(steps):
        if step["action"] == "check_queue" and step["args"]["services"].split(" ") != services:
            raise check.fail(f"steps[{index}].args.services", "are not the plan's lda_services")


def _check_removed_services(check: _Check, steps: list[Any], master: Mapping[str, str]) -> None:
    """A master.cf service the plan removes must be one its first step checks the queue
    for: mail queued for a removed service is deferred ("mail transport unavailable"), and
    only finalize removes a service, after that check. A forged migration plan (no queue
    check) or a finalize plan checking another service cannot drop the pipe unchecked."""
    removed = _master_services(master["content_before"]) - _master_services(master["content_after"])
    checked = {
        name
        for step in steps
        if step["action"] == "check_queue"
        for name in step["args"]["services"].split(" ")
    }
    for name, kind in sorted(removed):
        if name not in checked:
            raise check.fail(
                f"files {master['path']}",
                f"removes the master.cf service {_shown(name)} ({_shown(kind)}) without "
                "checking the queue for it first (only finalize removes a service)",
            )


def _master_services(text: str) -> set[tuple[str, str]]:
    """The (service, type) pairs master.cf defines: each line not indented or a comment."""
    found = set()
    for line in text.split("\n"):
        fields = line.split()
        if fields and not line[0].isspace() and not line.startswith("#"):
            found.add((fields[0], fields[1] if len(fields) > 1 else ""))
    return found


_ArgCheck = Callable[[_Check, str, Mapping[str, str], Any, Endpoint], None]


def _write_args(
    check: _Check, where: str, args: Mapping[str, str], files: Mapping[str, Any], _: Endpoint
) -> None:
    change = files.get(check.path(f"{where}.path", args["path"]))
    if change is None:
        raise check.fail(f"{where}.path", f"{args['path']!r} is not a file of this plan")
    for key in ("sha256_before", "sha256_after"):
        if args[key] != change[key]:
            raise check.fail(f"{where}.{key}", "differs from the file's")


def _argv_args(action: str) -> _ArgCheck:
    def check_argv(
        check: _Check, where: str, args: Mapping[str, str], files: Any, _: Endpoint
    ) -> None:
        if args["argv"] != FIXED_ARGV[action]:
            raise check.fail(f"{where}.argv", f"must be {FIXED_ARGV[action]!r}")

    return check_argv


def _postmap_args(
    check: _Check, where: str, args: Mapping[str, str], files: Mapping[str, Any], _: Endpoint
) -> None:
    path = check.text(f"{where}.map", args["map"], MAP_SPEC).split(":", 1)[1]
    if check.path(f"{where}.map", path) not in files:
        raise check.fail(f"{where}.map", f"{path!r} is not a file of this plan")


def _socket_args(
    check: _Check, where: str, args: Mapping[str, str], files: Any, endpoint: Endpoint
) -> None:
    if check.path(f"{where}.path", args["path"]) != endpoint.socket_path:
        raise check.fail(f"{where}.path", "is not the plan's endpoint socket")
    check.text(f"{where}.owner", args["owner"], POSIX_NAME)
    check.text(f"{where}.group", args["group"], POSIX_NAME)
    check.text(f"{where}.mode", args["mode"], MODE)


def _port_args(
    check: _Check, where: str, args: Mapping[str, str], files: Any, endpoint: Endpoint
) -> None:
    if (args["address"], args["port"]) != (endpoint.address, endpoint.port):
        raise check.fail(where, "address and port are not the plan's endpoint")


def _probe_args(
    check: _Check, where: str, args: Mapping[str, str], files: Any, endpoint: Endpoint
) -> None:
    if args["endpoint"] != endpoint.postfix:
        raise check.fail(f"{where}.endpoint", "is not the plan's endpoint")
    check.text(f"{where}.recipient", args["recipient"], RECIPIENT)


def _delivery_args(
    check: _Check, where: str, args: Mapping[str, str], files: Any, endpoint: Endpoint
) -> None:
    check.text(f"{where}.recipient", args["recipient"], RECIPIENT)


def _proof_args(
    check: _Check, where: str, args: Mapping[str, str], files: Any, endpoint: Endpoint
) -> None:
    """The test recipient, and the differences the plan announced (";"-separated)."""
    _delivery_args(check, where, args, files, endpoint)
    for spec in args["accepts"].split(";") if args["accepts"] else ():
        check.text(f"{where}.accepts", spec, ACCEPT)


def _seconds(check: _Check, where: str, args: Mapping[str, str]) -> None:
    check.text(where, args["seconds"], SECONDS)  # apply waits so long at most


def _queue_args(
    check: _Check, where: str, args: Mapping[str, str], files: Any, endpoint: Endpoint
) -> None:
    """The services whose queued mail blocks the plan: master.cf names, each once."""
    names = args["services"].split(" ")
    for name in names:
        check.text(f"{where}.services", name, SERVICE)
    if len(set(names)) != len(names):
        raise check.fail(f"{where}.services", "names a service twice")


_ARG_CHECKS: Mapping[str, _ArgCheck] = {
    **{action: _argv_args(action) for action in FIXED_ARGV},
    "write_file": _write_args,
    "postmap": _postmap_args,
    "wait_socket": _socket_args,
    "wait_port": _port_args,
    "probe_lmtp": _probe_args,
    "test_delivery": _delivery_args,
    "check_queue": _queue_args,
    "proof_before": _proof_args,
    "wait_lmtp": lambda check, where, args, *_: _seconds(check, f"{where}.seconds", args),
}


def _is_address(address: str) -> bool:
    """An IP address or a DNS name (an already-LMTP host may name its LMTP server)."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return DNS_NAME.fullmatch(address) is not None
    return True
