"""What LMTP does differently from the LDA with the same message, and what the plan does about it.

Measured on the lab's releases (Dovecot 2.3.13/Postfix 3.5, 2.3.19/3.7, 2.4.1/3.10; issue 13):

- SMTPUTF8: no Dovecot LMTP offers it by default, so Postfix bounces mail that needs it with
  5.6.7; the pipe delivered it. 2.4 offers it with ``mail_utf8_extensions = yes`` (planned
  in ``protocol lmtp``); 2.3 cannot (a warning), and ``-o smtputf8_enable=no`` on Postfix's
  lmtp client does not help (measured on 2.3.19/3.7). Postfix before 3.7.17/3.8.12/3.9.6/3.10.5
  checks only on a new LMTP connection: over a reused one such mail arrives (test_load.py).
- Delivered-To: Dovecot writes it only for a transaction with one recipient; the pipe wrote
  one for each recipient (flag D). ``lmtp_destination_recipient_limit = 1`` restores it, and
  one recipient per transaction is what the LDA had (a lost session cannot redeliver others).
- ``service lmtp { vsz_limit }``: the LDA ran with no limit. LMTP streams a message to a
  temporary file (2.3.19 delivered 60 MB with 24M), but 2.4.1's lmtp does not even start
  with 48M: a limit below ``message_size_limit`` plus 64M is raised.
- Original recipient, ``+detail``, quota (``rules.quota``), process limits, Sieve's own mail:
  warnings.
Pure: parsed config and facts in, edits and warnings out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from migrator.config.edits import Edit, SetDovecotSetting, SetMainParam
from migrator.config.params import MainParams
from migrator.endpoint import Endpoint
from migrator.errors import RefusedError
from migrator.host.config import HostConfig
from migrator.host.facts import Facts
from migrator.rules.dovecot import PROTOCOL_LDA, PROTOCOL_LMTP, SERVICE_LMTP
from migrator.rules.hooks import (
    Hook,
    HookKind,
    LdaService,
    mailbox_command_argv,
    parse_lda_argv,
)
from migrator.rules.plugins import path_plugins
from migrator.rules.quota import quota_warnings
from migrator.rules.syntax import DovecotSyntax
from migrator.rules.userdb import userdb_uids

MIB = 1024 * 1024
LMTP_BASELINE = 64 * MIB
"""What an lmtp process needs besides the message (2.4.1 does not start with 48M)."""
DEFAULT_VSZ = 256 * MIB
DEFAULT_MESSAGE_SIZE = 10240000
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": MIB, "mb": MIB, "g": 1024 * MIB}
_UNITS |= {"gb": 1024 * MIB, "t": 1024**2 * MIB, "tb": 1024**2 * MIB}
_SIZE = re.compile(r"(\d+)\s*([A-Za-z]*)")
_UNSET = 2**64 - 1  # doveconf's "18446744073709551615 B": no value of the service's own
# Each Postfix series' first release checking SMTPUTF8 on a reused connection (HISTORY 20250911)
SMTPUTF8_REUSE_FIXED = {(3, 7): 17, (3, 8): 12, (3, 9): 6, (3, 10): 5}
_REUSED = (
    " when the lmtp client opens a connection for it: Postfix {} checks only then, so such "
    "mail sent over a connection it reuses arrives (whether one bounces depends on the connection)"
)


@dataclass(frozen=True, slots=True)
class Equivalence:
    """The edits and warnings that make LMTP deliver as the LDA did, or say where it cannot."""

    edits: tuple[Edit, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())
    # The differences a warning announces, for the A/B proof to tell them from new ones:
    # "KIND:bounced CODE" (that kind may bounce so) or "*:header NAME" (it may change).
    accepts: tuple[str, ...] = field(default=())


def dovecot_size(value: str) -> int | None:
    """A Dovecot size setting in bytes; None for no limit (0, ``unlimited``, unset).

    Raises ValueError for a value Dovecot would not read either.
    """
    text = value.strip()
    if text.lower() in ("unlimited", "0"):
        return None
    match = _SIZE.fullmatch(text)
    if not match or match[2].lower() not in _UNITS:
        raise ValueError(f"not a size: {value!r}")
    size = int(match[1]) * _UNITS[match[2].lower()]
    return None if size in (0, _UNSET) else size


def smtputf8_enabled(main: MainParams, postfix_version: str | None) -> bool | None:
    """Whether Postfix accepts SMTPUTF8 mail: main.cf's smtputf8_enable, else its default
    (yes from compatibility_level 1 on, Postfix 3.0 and later). None when it cannot be told."""
    if postfix_version and int(postfix_version.split(".")[0] or 0) < 3:
        return False
    if "smtputf8_enable" not in main.values:
        level = main.values.get("compatibility_level", "0").strip()
        found = re.match(r"\d+", level)
        return int(found.group()) >= 1 if found else None
    try:
        return main.expand("smtputf8_enable").strip().lower() == "yes"
    except RefusedError:
        return None


def smtputf8_checked_on_reuse(postfix_version: str | None) -> bool | None:
    """Whether Postfix checks SMTPUTF8 on reused connections too (None: version unknown)."""
    if not (found := re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", postfix_version or "")):
        return None
    series, patch = (int(found[1]), int(found[2])), int(found[3] or 0)
    fixed = SMTPUTF8_REUSE_FIXED.get(series)
    return patch >= fixed if fixed is not None else series > max(SMTPUTF8_REUSE_FIXED)


class EquivalenceRules:
    """Each method compares one thing the two paths do and adds an edit or a warning."""

    def __init__(
        self,
        facts: Facts,
        config: HostConfig,
        syntax: DovecotSyntax,
        endpoint: Endpoint,
        services: Sequence[LdaService],
        hooks: Sequence[Hook],
        planned: Sequence[Edit],
    ) -> None:
        self.facts = facts
        self.config = config
        self.dovecot = config.dovecot
        self.syntax = syntax
        self.endpoint = endpoint
        self.services = list(services)
        self.hooks = list(hooks)
        self.planned = list(planned)
        self.main = MainParams(config.main, config.main_file, config.main_lines, facts.host)
        self._edits: list[Edit] = []
        self._warnings: list[str] = []
        self._accepts: list[str] = []

    def result(self) -> Equivalence:
        """Every rule, in a fixed order. Raises RefusedError where LMTP would fail mail the
        LDA delivered and no edit can make it equal."""
        self._home()
        self._smtputf8()
        self._recipient_limit()
        self._vsz_limit()
        self._original_recipient()
        self._detail()
        self._quota()
        self._process_limits()
        return Equivalence(tuple(self._edits), tuple(self._warnings), tuple(self._accepts))

    def _lmtp_value(self, key: str) -> str | None:
        """KEY as protocol lmtp will have it: planned, set inside, or set globally."""
        wanted = (key, PROTOCOL_LMTP)
        for edit in reversed(self.planned + self._edits):
            if isinstance(edit, SetDovecotSetting) and (edit.key, edit.chain) == wanted:
                return edit.value
        inside = self.dovecot.value(key, PROTOCOL_LMTP)
        return inside if inside is not None else self.dovecot.value(key)

    def _lmtp_file(self) -> str:
        for chain in (PROTOCOL_LMTP, PROTOCOL_LDA):
            files = self.dovecot.files_with(chain)
            if files:
                return files[-1]
        return self.dovecot.root

    def _home(self) -> None:
        """mailbox_command ran the LDA without -d: it took the user's home from local(8)'s
        HOME. LMTP takes it from the userdb; with none, a ~/ mail location or Sieve's ~/
        scripts fail (2.3.19: 451 4.3.0, deferred) and the duplicate database is off."""
        command = self._command_without_destination()
        if command is None or self.dovecot.value("mail_home"):
            return
        answer = self.facts.userdb
        if answer is not None and answer.exists and answer.home is not None:
            none = [] if answer.home else [f"the userdb's answer for {answer.recipient}"]
        else:
            none = [u.describe() for u in userdb_uids(self.dovecot) if u.returns_home is False]
        if not none:
            return
        why = (
            "mailbox_command ran the LDA without -d, with local(8)'s HOME; LMTP takes the home "
            f"from the userdb, and {none[0]} gives none"
        )
        location = self.dovecot.value("mail_location") or self.dovecot.value("mail_path") or ""
        fails = [f"the mail location {location} needs ~/ (every delivery deferred, 4.3.0)"]
        fails = fails if "~" in location else []
        if "sieve" in path_plugins(self.dovecot, self.syntax, PROTOCOL_LDA):
            fails.append("Sieve's personal scripts fail")
        if not fails:
            self._warnings.append(f"{why}: the duplicate database is off under LMTP")
            return
        raise RefusedError(
            f"{why}: {' and '.join(fails)} under LMTP; set mail_home (e.g. mail_home = "
            "/home/%n) and plan again",
            host=self.facts.host,
            path=self.config.main_file,
            line=command.line,
        )

    def _command_without_destination(self) -> Hook | None:
        for hook in self.hooks:
            argv = mailbox_command_argv(hook.value)
            if hook.kind is HookKind.MAILBOX_COMMAND and parse_lda_argv(argv).destination is None:
                return hook
        return None

    def _smtputf8(self) -> None:
        enabled = smtputf8_enabled(self.main, self.facts.postfix_version)
        if enabled is False or self._lmtp_value("mail_utf8_extensions") == "yes":
            return
        said = "accepts SMTPUTF8 mail" if enabled else "may accept SMTPUTF8 mail"
        if self.syntax.version == "2.4":
            self._edits.append(
                SetDovecotSetting(
                    self._lmtp_file(),
                    PROTOCOL_LMTP,
                    "mail_utf8_extensions",
                    "yes",
                    f"Postfix {said} (smtputf8_enable); Dovecot's LMTP offers SMTPUTF8 only "
                    "with mail_utf8_extensions = yes, and without it Postfix bounces such mail "
                    "(5.6.7) that the LDA pipe delivered",
                )
            )
            return
        version = self.facts.postfix_version
        checked = smtputf8_checked_on_reuse(version)
        who = version if checked is False else "before 3.7.17, 3.8.12, 3.9.6, 3.10.5"
        reuse = "" if checked else _REUSED.format(who)
        self._warnings.append(
            f"SMTPUTF8: Postfix {said} (smtputf8_enable), and Dovecot {self.syntax.version}'s "
            "LMTP does not offer SMTPUTF8: mail that needs it (sent with SMTPUTF8, or flagged "
            "so by smtputf8_autodetect_classes, and with a UTF-8 envelope sender, recipient or "
            "header value; SMTPUTF8 mail that is all ASCII is not affected) will bounce 5.6.7 "
            f"instead of being delivered as the LDA pipe did{reuse}; no "
            "setting of Dovecot 2.3 or of Postfix's lmtp client makes LMTP take it (Dovecot "
            "2.4 does, with mail_utf8_extensions)"
        )
        self._accepts.append("smtputf8:bounced 5.6.7")

    def _recipient_limit(self) -> None:
        if not self.services:
            return  # local(8) hands mailbox_transport one recipient at a time
        transport = self.endpoint.postfix.split(":", 1)[0]
        name = f"{transport}_destination_recipient_limit"
        if self._main_value(name, "default_destination_recipient_limit", "50") == "1":
            return
        flagged = [s.name for s in self.services if "D" in s.flags]
        why = (
            f"the pipe service {', '.join(flagged)} wrote Delivered-To for every recipient "
            "(flags D), and Dovecot's LMTP writes it only in a transaction with one recipient; "
            if flagged
            else ""
        )
        self._edits.append(
            SetMainParam(
                self.config.main_file,
                name,
                "1",
                f"{why}the LDA delivered one recipient per process: so does LMTP now, and a "
                "session lost after DATA cannot redeliver to recipients already saved",
            )
        )

    def _main_value(self, name: str, fallback: str, default: str) -> str:
        source = name if name in self.main.values else fallback
        if source not in self.main.values:
            return default
        try:
            return self.main.expand(source).strip()
        except RefusedError:
            return ""

    def _vsz_limit(self) -> None:
        raw = self.dovecot.block_settings(SERVICE_LMTP).get("vsz_limit")
        if raw is None or raw.strip() == "$default_vsz_limit":  # 2.3's stock comment, uncommented
            raw = self.dovecot.value("default_vsz_limit")
        try:
            limit = DEFAULT_VSZ if raw is None else dovecot_size(raw)
        except ValueError:
            self._warnings.append(f"service lmtp's vsz_limit {raw!r} is not a size migrator reads")
            return
        text = self._main_value("message_size_limit", "message_size_limit", "")
        message = int(text) if text.isdigit() else DEFAULT_MESSAGE_SIZE
        needed = message + LMTP_BASELINE
        if limit is None or limit >= needed:
            return
        value = f"{math.ceil(needed / MIB)}M"
        files = self.dovecot.files_setting("vsz_limit", SERVICE_LMTP) or self.dovecot.files_with(
            SERVICE_LMTP
        )
        self._edits.append(
            SetDovecotSetting(
                files[-1] if files else self._listener_file(),
                SERVICE_LMTP,
                "vsz_limit",
                value,
                f"the LDA ran with no memory limit; an lmtp process limited to {raw} may fail "
                f"a message at message_size_limit ({message} bytes): it needs the message size "
                "plus 64M (Dovecot 2.4.1's lmtp does not start with 48M)",
            )
        )

    def _listener_file(self) -> str:
        for edit in self.planned:
            if isinstance(edit, SetDovecotSetting) and edit.chain[:1] == SERVICE_LMTP:
                return edit.file
        return self.dovecot.root

    def _original_recipient(self) -> None:
        if any(h.kind is HookKind.MAILBOX_COMMAND for h in self.hooks):
            self._warnings.append(
                "original recipient: local(8) wrote X-Original-To and Delivered-To with the "
                "address as sent (team@ for an alias) before running the LDA; through "
                "mailbox_transport LMTP gets the expanded address (bob@$myhostname): no "
                "X-Original-To, Delivered-To names the final recipient, and Sieve rules or "
                "clients reading them see the new values"
            )
            self._accepts += ["*:header x-original-to", "*:header delivered-to"]

    def _detail(self) -> None:
        if not self.config.main.get("recipient_delimiter"):
            return
        for service in self.services:
            destination = service.lda.destination or ""
            if "${recipient}" in destination and service.lda.mailbox is None:
                self._warnings.append(
                    f"+detail: service {service.name} looked users up as -d {destination}, "
                    "with the address extension, so mail to user+detail@ bounced (user "
                    "unknown) unless the userdb knew that name; LMTP strips the extension "
                    f"(recipient_delimiter) and delivers it to the user"
                )

    def _quota(self) -> None:
        lda = path_plugins(self.dovecot, self.syntax, PROTOCOL_LDA)
        lmtp = path_plugins(self.dovecot, self.syntax, PROTOCOL_LMTP, self.planned + self._edits)
        said = self.dovecot.value("quota_full_tempfail", PROTOCOL_LDA)
        said = said if said is not None else self.dovecot.value("quota_full_tempfail")
        tempfail, rcpt = (
            self._lmtp_value(k) for k in ("quota_full_tempfail", "lmtp_rcpt_check_quota")
        )
        self._warnings.extend(quota_warnings(lda, lmtp, said, tempfail, rcpt))

    def _process_limits(self) -> None:
        dovecot_limit = self.dovecot.block_settings(SERVICE_LMTP).get("process_limit") or (
            self.dovecot.value("default_process_limit") or "100"
        )
        postfix_limit = self._main_value("default_process_limit", "default_process_limit", "100")
        digits = dovecot_limit.isdigit() and postfix_limit.isdigit()
        if digits and 0 < int(dovecot_limit) < int(postfix_limit):
            self._warnings.append(
                f"concurrency: Postfix runs up to {postfix_limit} deliveries at once (as "
                f"it ran LDA processes), Dovecot's service lmtp only {dovecot_limit}: the "
                "others wait, and may be deferred under load"
            )
        per_user = self._lmtp_value("lmtp_user_concurrency_limit") or "0"
        if per_user.isdigit() and int(per_user) > 0:
            self._warnings.append(
                f"concurrency: lmtp_user_concurrency_limit = {per_user}: more simultaneous "
                "deliveries to one user are deferred (4.x) and retried; the LDA had no such limit"
            )


def equivalence(
    facts: Facts,
    config: HostConfig,
    syntax: DovecotSyntax,
    endpoint: Endpoint,
    services: Sequence[LdaService],
    hooks: Sequence[Hook],
    planned: Sequence[Edit],
) -> Equivalence:
    """The edits and warnings that make LMTP deliver every message kind as the LDA did (a value
    migrator cannot read becomes a warning). Raises RefusedError where LMTP would fail mail the
    LDA delivered and no edit can make it equal (a home only local(8) gave)."""
    return EquivalenceRules(facts, config, syntax, endpoint, services, hooks, planned).result()
