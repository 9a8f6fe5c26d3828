"""The LDA -> LMTP switch as a pure function: facts + parsed config -> edits with reasons.

Never calls a transport or Augeas; ``plan.py`` applies the edits through the lenses.
Refusals raise RefusedError naming host, file and (where known) line.
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass

from migrator.config.dovecot import BlockRef, Chain, DovecotConfig
from migrator.config.edits import (
    Edit,
    RemoveMainParam,
    SetDovecotSetting,
    SetMainParam,
    SetTransportEntry,
)
from migrator.errors import RefusedError, UsageError
from migrator.facts import Facts
from migrator.hooks import (
    Destination,
    Hook,
    HookKind,
    LdaService,
    is_lda,
    lda_services,
    mailbox_command_argv,
    map_hooks,
    param_hooks,
    parse_lda_argv,
    wrapped_ldas,
)
from migrator.hostconfig import HostConfig

PROTOCOL_LDA: Chain = (BlockRef("protocol", "lda"),)
PROTOCOL_LMTP: Chain = (BlockRef("protocol", "lmtp"),)
SERVICE_LMTP: Chain = (BlockRef("service", "lmtp"),)
LDA_ONLY_SETTINGS = {
    "auth_socket_path": "the LDA needed it to reach auth-userdb as the pipe user; LMTP is a "
    "Dovecot service and uses its own userdb connection",
    "log_path": "the LDA wrote its own log as the pipe user; LMTP logs through Dovecot's log",
    "info_log_path": "the LDA wrote its own log as the pipe user; LMTP logs through Dovecot's log",
    "debug_log_path": "the LDA wrote its own log as the pipe user; LMTP logs through Dovecot's log",
}


@dataclass(frozen=True, slots=True)
class Options:
    """What the user asked for: the LMTP endpoint and the recipient used to test delivery."""

    lmtp: str = "unix"
    allow_remote_lmtp: bool = False
    test_recipient: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where Postfix reaches Dovecot's LMTP: its Postfix name and Dovecot's listener."""

    postfix: str
    socket_path: str | None = None
    address: str | None = None
    port: str | None = None


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The edits to make, what apply must run for maps, and what the user must know."""

    edits: tuple[Edit, ...]
    postmaps: tuple[str, ...]
    endpoint: Endpoint
    lda_services: tuple[str, ...]
    warnings: tuple[str, ...]


def endpoint_for(option: str, queue_directory: str, *, allow_remote: bool) -> Endpoint:
    """Parse ``--lmtp unix|inet:HOST:PORT``; refuse a non-loopback address unless allowed.

    Raises UsageError for anything else.
    """
    if option == "unix":
        path = f"{queue_directory.rstrip('/')}/private/dovecot-lmtp"
        return Endpoint("lmtp:unix:private/dovecot-lmtp", socket_path=path)
    kind, _, rest = option.partition(":")
    host, _, port = rest.rpartition(":")
    if kind != "inet" or not host or not port.isdigit():
        raise UsageError(f"--lmtp must be unix or inet:ADDRESS:PORT, not {option!r}")
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError as exc:
        raise UsageError(f"--lmtp address must be an IP address, not {host!r}") from exc
    if not loopback and not allow_remote:
        raise UsageError(f"--lmtp {option}: not a loopback address (use --allow-remote-lmtp)")
    return Endpoint(f"lmtp:inet:{host}:{port}", address=host.strip("[]"), port=port)


def plan_edits(facts: Facts, config: HostConfig, options: Options) -> RuleResult:
    """Every edit that switches this host from LDA to LMTP; none for a switched host.

    Raises RefusedError for hosts migrator will not migrate, UsageError for bad options.
    """
    host = facts.host
    _check_version(facts, config.dovecot)
    endpoint = endpoint_for(
        options.lmtp, facts.queue_directory, allow_remote=options.allow_remote_lmtp
    )
    services = {s.name: s for s in lda_services(config.master)}
    wrapped = {w.name: w for w in wrapped_ldas(config.master)}
    hooks = param_hooks(config.main_file, config.main)
    for tmap in config.maps:
        hooks.extend(map_hooks(tmap.path, tmap.entries))
    lda_hooks: list[Hook] = []
    lmtp_hooks: list[Hook] = []
    for hook in hooks:
        if hook.transport in wrapped:
            w = wrapped[hook.transport]
            raise RefusedError(
                f"{hook.name} uses service {w.name}, which runs {w.wrapper} wrapping {w.lda}: "
                "switching it to LMTP would silently drop the filter",
                host=host,
                path=config.master_file,
            )
        if hook.kind is HookKind.MAILBOX_COMMAND:
            if _mailbox_command_lda(host, config, hook):
                lda_hooks.append(hook)
        elif hook.transport in services:
            lda_hooks.append(hook)
        elif hook.transport == "lmtp":
            lmtp_hooks.append(hook)
    if not lda_hooks and not lmtp_hooks:
        raise RefusedError(
            "no Dovecot LDA delivery found and no LMTP either: nothing to migrate",
            host=host,
            path=config.main_file,
        )
    used = _used_services(host, config, lda_hooks, services)
    if facts.lmtp_binary_known and facts.lmtp_binary is None:
        raise RefusedError(
            "Dovecot's LMTP binary is missing (/usr/lib/dovecot/lmtp or /usr/libexec/dovecot/"
            "lmtp): install the dovecot-lmtpd package (Debian) first",
            host=host,
        )
    edits: list[Edit] = []
    postmaps: list[str] = []
    edits.extend(_postfix_edits(config, lda_hooks, endpoint, postmaps))
    dovecot = _DovecotRules(facts, config, endpoint, used, lda_hooks)
    edits.extend(dovecot.edits())
    warnings = [*facts_warnings(facts), *dovecot.warnings]
    for service in used:
        warnings.append(
            f"the pipe service {service.name} stays in master.cf: mail already queued for it "
            "must still be delivered, and rollback needs it; remove it later, once "
            "`postqueue -j` shows nothing for it"
        )
    return RuleResult(
        tuple(edits),
        tuple(dict.fromkeys(postmaps)),
        endpoint,
        tuple(s.name for s in used),
        tuple(warnings),
    )


def facts_warnings(facts: Facts) -> list[str]:
    return [f"not checked: {item}" for item in facts.unknown]


def _check_version(facts: Facts, dovecot: DovecotConfig) -> None:
    version = facts.dovecot_version
    if version:
        parts = version.split()[0].split(".")
        major_minor = tuple(int(p) for p in parts[:2] if p.isdigit())
        if major_minor >= (2, 4):
            raise RefusedError(
                f"Dovecot {version.split()[0]} is not supported yet (its config syntax "
                "changed in 2.4); only 2.3 hosts can be planned",
                host=facts.host,
            )
    elif dovecot.value("dovecot_config_version") is not None:
        files = dovecot.files_setting("dovecot_config_version")
        raise RefusedError(
            "dovecot_config_version is set: Dovecot 2.4 syntax is not supported yet",
            host=facts.host,
            path=files[0] if files else None,
        )


def _mailbox_command_lda(host: str, config: HostConfig, hook: Hook) -> bool:
    argv = mailbox_command_argv(hook.value)
    if argv and is_lda(argv[0]):
        if parse_lda_argv(argv).config:
            raise RefusedError(
                "mailbox_command runs the LDA with -c: it reads another config than the "
                "Dovecot server, so LMTP cannot be assumed equivalent",
                host=host,
                path=config.main_file,
            )
        return True
    inner = [word for word in argv[1:] if is_lda(word)]
    if inner:
        raise RefusedError(
            f"mailbox_command runs {argv[0]} wrapping {inner[0]}: switching it to LMTP "
            "would silently drop the filter",
            host=host,
            path=config.main_file,
        )
    return False


def _used_services(
    host: str, config: HostConfig, hooks: list[Hook], services: dict[str, LdaService]
) -> list[LdaService]:
    used = list(
        {h.transport: services[h.transport] for h in hooks if h.transport in services}.values()
    )
    for service in used:
        if service.lda.config:
            raise RefusedError(
                f"service {service.name} runs the LDA with -c {service.lda.config}: it reads "
                "another config than the Dovecot server, so LMTP cannot be assumed equivalent",
                host=host,
                path=config.master_file,
            )
    for first, other in itertools.pairwise(used):
        if (first.lda.destination_kind, first.lda.detail_mailbox) != (
            other.lda.destination_kind,
            other.lda.detail_mailbox,
        ):
            raise RefusedError(
                f"LDA services {first.name} and {other.name} disagree "
                f"({_semantics(first)} vs {_semantics(other)}): one LMTP setup cannot serve both",
                host=host,
                path=config.master_file,
            )
    return used


def _semantics(service: LdaService) -> str:
    lda = service.lda
    detail = f" -m {lda.mailbox}" if lda.mailbox else ""
    return f"-d {lda.destination or '(none)'}{detail}: {lda.destination_kind.value}"


def _postfix_edits(
    config: HostConfig, hooks: list[Hook], endpoint: Endpoint, postmaps: list[str]
) -> list[Edit]:
    edits: list[Edit] = []
    for hook in hooks:
        if hook.kind is HookKind.MAILBOX_COMMAND:
            edits.append(
                RemoveMainParam(
                    hook.file,
                    "mailbox_command",
                    "local(8) ran the LDA as a command; with LMTP it hands mail to "
                    "mailbox_transport instead (aliases and .forward still come first)",
                )
            )
            if config.main.get("mailbox_transport") != endpoint.postfix:
                edits.append(
                    SetMainParam(
                        hook.file,
                        "mailbox_transport",
                        endpoint.postfix,
                        "local(8) delivers mailboxes over LMTP instead of running the LDA",
                    )
                )
        elif hook.kind is HookKind.PARAM:
            edits.append(
                SetMainParam(
                    hook.file,
                    hook.name,
                    endpoint.postfix,
                    f"{hook.name} named the LDA pipe service {hook.transport}",
                )
            )
        else:
            edits.append(
                SetTransportEntry(
                    hook.file,
                    hook.name,
                    endpoint.postfix,
                    f"the map sent {hook.name} to the LDA pipe service {hook.transport}",
                )
            )
            spec = next(m.spec for m in config.maps if m.path == hook.file)
            postmaps.append(spec)
    return edits


class _DovecotRules:
    """The Dovecot half of the switch; each method appends edits and warnings."""

    def __init__(
        self,
        facts: Facts,
        config: HostConfig,
        endpoint: Endpoint,
        services: list[LdaService],
        hooks: list[Hook],
    ) -> None:
        self.facts = facts
        self.config = config
        self.dovecot = config.dovecot
        self.endpoint = endpoint
        self.services = services
        self.hooks = hooks
        self.warnings: list[str] = []
        self._edits: list[Edit] = []

    def edits(self) -> list[Edit]:
        self._protocols()
        self._listener()
        self._protocol_lmtp()
        self._username()
        self._detail_mailbox()
        self._delimiter()
        self._uid()
        self._headers()
        return self._edits

    def _set(self, file: str, chain: Chain, key: str, value: str, reason: str) -> None:
        self._edits.append(SetDovecotSetting(file, chain, key, value, reason))

    def _root(self) -> str:
        return self.dovecot.root

    def _last_file(self, *chains: Chain) -> str:
        for chain in chains:
            files = self.dovecot.files_with(chain)
            if files:
                return files[-1]
        return self._root()

    def _protocols(self) -> None:
        current = ""
        for setting in self.dovecot.settings:
            if setting.key == "protocols" and setting.chain == ():
                current = setting.value.replace("$protocols", current)
        if "lmtp" in current.split():
            return
        explicit = [
            s
            for s in self.dovecot.settings
            if s.key == "protocols" and s.chain == () and s.file.startswith("/etc/")
        ]
        if explicit:
            last = explicit[-1]
            value = f"{last.value} lmtp".strip()
            file = last.file
        else:
            value, file = "$protocols lmtp", self._root()
        self._set(
            file,
            (),
            "protocols",
            value,
            "Dovecot ignores LMTP listeners unless lmtp is in protocols",
        )

    def _listener(self) -> None:
        owner = self.facts.mail_owner
        group = self.facts.mail_owner_group or owner
        if self.endpoint.socket_path is not None:
            chain = (*SERVICE_LMTP, BlockRef("unix_listener", self.endpoint.socket_path))
            self._refuse_socket_taken(self.endpoint.socket_path)
            wanted = {"mode": "0600", "user": owner, "group": group}
            reason = (
                f"Postfix ({owner}) reaches LMTP through this socket inside its queue directory; "
                "only Postfix may use it"
            )
        else:
            chain = (*SERVICE_LMTP, BlockRef("inet_listener", "lmtp"))
            wanted = {"address": self.endpoint.address or "", "port": self.endpoint.port or ""}
            reason = "Postfix reaches LMTP over TCP on loopback only"
        have = self.dovecot.block_settings(chain)
        file = self._last_file(chain, SERVICE_LMTP)
        if file == self._root() and not self.dovecot.files_with(SERVICE_LMTP):
            services = [b.file for b in self.dovecot.blocks if b.chain[0].name == "service"]
            file = services[-1] if services else self._root()
        for key, value in wanted.items():
            if have.get(key) != value:
                self._set(file, chain, key, value, reason)

    def _refuse_socket_taken(self, path: str) -> None:
        base = self.dovecot.value("base_dir") or "/var/run/dovecot"
        for block in self.dovecot.blocks:
            ref = block.chain[-1]
            if ref.name not in ("unix_listener", "fifo_listener") or not ref.arg:
                continue
            full = ref.arg if ref.arg.startswith("/") else f"{base.rstrip('/')}/{ref.arg}"
            if full == path and block.chain[0] != SERVICE_LMTP[0]:
                raise RefusedError(
                    f"socket {path} is already used by {block.chain[0]}",
                    host=self.facts.host,
                    path=block.file,
                )
        name = path.rsplit("/", 1)[1]
        if path.endswith(f"/private/{name}") and any(
            e.name == name and e.type == "unix" for e in self.config.master
        ):
            raise RefusedError(
                f"socket {path} is already Postfix's own service {name}",
                host=self.facts.host,
                path=self.config.master_file,
            )

    def _protocol_lmtp(self) -> None:
        lda = self.dovecot.block_settings(PROTOCOL_LDA)
        lmtp = self.dovecot.block_settings(PROTOCOL_LMTP)
        file = self._last_file(PROTOCOL_LMTP, PROTOCOL_LDA)
        for key, value in lda.items():
            if key in LDA_ONLY_SETTINGS:
                self.warnings.append(
                    f"protocol lda's {key} is not carried to protocol lmtp: "
                    f"{LDA_ONLY_SETTINGS[key]}"
                )
                continue
            if lmtp.get(key) != value:
                self._set(
                    file,
                    PROTOCOL_LMTP,
                    key,
                    value,
                    f"protocol lda set {key} = {value}; what the LDA applied (Sieve, quota...) "
                    "must apply to LMTP too",
                )

    def _effective_lmtp(self, key: str) -> str | None:
        inside = self.dovecot.value(key, PROTOCOL_LMTP)
        planned = [
            e.value
            for e in self._edits
            if isinstance(e, SetDovecotSetting) and e.key == key and e.chain == PROTOCOL_LMTP
        ]
        if planned:
            return planned[-1]
        return inside if inside is not None else self.dovecot.value(key)

    def _username(self) -> None:
        local = any(s.lda.destination_kind is Destination.LOCAL_PART for s in self.services)
        command = any(h.kind is HookKind.MAILBOX_COMMAND for h in self.hooks)
        if not (local or command):
            return
        if self._effective_lmtp("auth_username_format") != "%Ln":
            why = (
                "the LDA looked users up by local part (-d ${user})"
                if local
                else "mailbox_command users are system users known by bare name"
            )
            self._set(
                self._last_file(PROTOCOL_LMTP, PROTOCOL_LDA),
                PROTOCOL_LMTP,
                "auth_username_format",
                "%Ln",
                f"{why}; LMTP looks up the full RCPT TO address, so strip the domain",
            )

    def _detail_mailbox(self) -> None:
        if not any(s.lda.detail_mailbox for s in self.services):
            return
        if self._effective_lmtp("lmtp_save_to_detail_mailbox") != "yes":
            self._set(
                self._last_file(PROTOCOL_LMTP, PROTOCOL_LDA),
                PROTOCOL_LMTP,
                "lmtp_save_to_detail_mailbox",
                "yes",
                "the LDA saved to the folder named by the address extension (-m ${extension})",
            )

    def _delimiter(self) -> None:
        postfix = self.config.main.get("recipient_delimiter", "")
        dovecot = self.dovecot.value("recipient_delimiter")
        if not postfix:
            if any(s.lda.detail_mailbox for s in self.services):
                self.warnings.append(
                    "-m ${extension} is used but Postfix sets no recipient_delimiter"
                )
            return
        if (dovecot if dovecot is not None else "+") != postfix:
            files = self.dovecot.files_setting("recipient_delimiter")
            file = files[-1] if files else self._last_file(PROTOCOL_LDA)
            self._set(
                file,
                (),
                "recipient_delimiter",
                postfix,
                "LMTP strips the address extension with Dovecot's delimiter; it must equal "
                "Postfix's recipient_delimiter",
            )

    def _uid(self) -> None:
        userdb = self.facts.userdb
        pipe_users = [s for s in self.services if s.user]
        if userdb is None:
            if pipe_users:
                self.warnings.append(
                    "userdb answer unknown: if `doveadm user <recipient>` returns no uid, "
                    f"mail_uid/mail_gid must be set to {pipe_users[0].user} (the pipe's user)"
                )
            return
        if not userdb.exists:
            self.warnings.append(f"the userdb does not know the test recipient {userdb.recipient}")
            return
        if userdb.uid or self.dovecot.value("mail_uid") or not pipe_users:
            return
        service = pipe_users[0]
        files = self.dovecot.files_setting("mail_location")
        file = files[-1] if files else self._root()
        reason = (
            f"the userdb returns no uid/gid; LDA ran as {service.user} (pipe user=), LMTP runs "
            "as root and needs a uid to switch to"
        )
        self._set(file, (), "mail_uid", service.user or "", reason)
        if not userdb.gid and not self.dovecot.value("mail_gid"):
            self._set(file, (), "mail_gid", service.group or service.user or "", reason)

    def _headers(self) -> None:
        for service in self.services:
            if "O" in service.flags:
                self.warnings.append(
                    f"pipe service {service.name} added X-Original-To (flags={service.flags}); "
                    "Postfix's LMTP client does not; Dovecot's lmtp_hdr_delivery_address "
                    "(default final) decides the Delivered-To header instead"
                )
