"""The Dovecot half of the LDA -> LMTP switch: listener, protocols, protocol lmtp, users.

Pure: reads parsed config and facts, returns edits and warnings (used by ``rules.py``).
"""

from __future__ import annotations

from migrator.config.dovecot import BlockRef, Chain
from migrator.config.edits import Edit, SetDovecotSetting
from migrator.endpoint import Endpoint
from migrator.errors import RefusedError
from migrator.host.config import HostConfig
from migrator.host.facts import Facts
from migrator.rules.hooks import (
    Destination,
    Hook,
    HookKind,
    LdaArgs,
    LdaService,
    mailbox_command_argv,
    parse_lda_argv,
)
from migrator.rules.syntax import PROTOCOLS_BLOCK, DovecotSyntax, effective_protocols
from migrator.rules.userdb import uid_returned, userdb_uids

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


class DovecotRules:
    """The Dovecot half of the switch; each method appends edits and warnings."""

    def __init__(
        self,
        facts: Facts,
        config: HostConfig,
        endpoint: Endpoint,
        services: list[LdaService],
        hooks: list[Hook],
        syntax: DovecotSyntax,
    ) -> None:
        self.facts = facts
        self.syntax = syntax
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
        self._quota_offer()
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
        default = self.facts.protocols_default
        if default is None and not any(
            s.key == "protocols" or s.chain == PROTOCOLS_BLOCK for s in self.dovecot.settings
        ):
            self.warnings.append(
                "no protocols setting in the files, and Dovecot's built-in default is not "
                "known (from a directory, or doveconf -d failed): assumed empty, as Debian "
                "builds it"
            )
        if "lmtp" in effective_protocols(self.dovecot, self.syntax, default or "").split():
            return
        # Package-owned files (Debian's protocols.d) are not the admin's to edit.
        explicit = [
            s
            for s in self.dovecot.settings
            if s.key == "protocols" and s.chain == () and not s.file.startswith("/usr/share/")
        ]
        reason = "Dovecot ignores LMTP listeners unless lmtp is in protocols"
        if explicit:
            last = explicit[-1]
            value = "lmtp" if last.value in ("", "none") else f"{last.value} lmtp"
            self._set(last.file, (), "protocols", value, reason)
        elif self.syntax.boolean_lists:
            # 2.4 has no $protocols: a block adds one name to the list read so far.
            self._set(self._root(), PROTOCOLS_BLOCK, "lmtp", "yes", reason)
        else:
            self._set(self._root(), (), "protocols", "$protocols lmtp", reason)

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
            self._refuse_port_taken(self.endpoint.port or "")
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
                    line=block.line,
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

    def _refuse_port_taken(self, port: str) -> None:
        for block in self.dovecot.blocks:
            if block.chain[-1].name != "inet_listener" or block.chain[0] == SERVICE_LMTP[0]:
                continue
            if self.dovecot.block_settings(block.chain).get("port") == port:
                raise RefusedError(
                    f"port {port} is already used by {block.chain[0]}",
                    host=self.facts.host,
                    path=block.file,
                    line=block.line,
                )

    def _protocol_lmtp(self) -> None:
        """Carry protocol lda's settings, and the blocks inside it (2.4's ``mail_plugins { }``),
        to protocol lmtp in the same form: a replacing list stays replacing, an adding block
        stays adding, so LMTP loads exactly the plugins the LDA loaded."""
        file = self._last_file(PROTOCOL_LMTP, PROTOCOL_LDA)
        inner = {b.chain[len(PROTOCOL_LDA) :] for b in self.dovecot.blocks if _under_lda(b.chain)}
        for rest in sorted([(), *inner], key=len):
            lda = self.dovecot.block_settings((*PROTOCOL_LDA, *rest))
            lmtp = self.dovecot.block_settings((*PROTOCOL_LMTP, *rest))
            where = " ".join(str(ref) for ref in rest)
            for key, value in lda.items():
                name = f"{where} {key}".strip()
                if not rest and key in LDA_ONLY_SETTINGS:
                    self.warnings.append(
                        f"protocol lda's {key} is not carried to protocol lmtp: "
                        f"{LDA_ONLY_SETTINGS[key]}"
                    )
                    continue
                if lmtp.get(key) != value:
                    had = f" (protocol lmtp had {lmtp[key]})" if key in lmtp else ""
                    self._set(
                        file,
                        (*PROTOCOL_LMTP, *rest),
                        key,
                        value,
                        f"protocol lda set {name} = {value}{had}; what the LDA applied (Sieve, "
                        "quota...) must apply to LMTP too",
                    )

    def _quota_offer(self) -> None:
        plugins = self._effective_lmtp("mail_plugins") or ""
        if "quota" in plugins.split() and self._effective_lmtp("lmtp_rcpt_check_quota") != "yes":
            self.warnings.append(
                "offer (not planned): lmtp_rcpt_check_quota = yes in protocol lmtp would let "
                "LMTP refuse over-quota mail at RCPT time, before Postfix accepts it"
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
        """LMTP must look users up by the name the LDA used: the local part (``-d ${user}``,
        system users) or the full address (Debian 13 ships a local-part format in 20-lmtp.conf,
        which bounces full-address virtual users)."""
        local = any(s.lda.destination_kind is Destination.LOCAL_PART for s in self.services)
        command = any(h.kind is HookKind.MAILBOX_COMMAND for h in self.hooks)
        bare = self.facts.userdb is not None and self.facts.userdb.by_local_part
        current = self._effective_lmtp("auth_username_format")
        file = self._last_file(PROTOCOL_LMTP, PROTOCOL_LDA)
        if local or command or bare:
            if self.syntax.strips_domain(current):
                return
            if local:
                why = "the LDA looked users up by local part (-d ${user})"
            elif command:
                why = "mailbox_command users are system users known by bare name"
            else:
                why = "the userdb knows the test recipient only by its local part"
            wanted = self.syntax.username_local_part
            reason = f"{why}; LMTP looks up the full RCPT TO address, so strip the domain"
        elif self.services and self.syntax.strips_domain(current):
            wanted = self.syntax.username_full
            reason = (
                f"the LDA looked users up by full address; auth_username_format = {current} "
                "would strip the domain and LMTP would bounce every virtual recipient"
            )
        else:
            return
        self._set(file, PROTOCOL_LMTP, "auth_username_format", wanted, reason)

    def _ldas(self) -> list[LdaArgs]:
        """The LDA command lines: the pipe services' and mailbox_command's."""
        commands = [h for h in self.hooks if h.kind is HookKind.MAILBOX_COMMAND]
        return [
            *(s.lda for s in self.services),
            *(parse_lda_argv(mailbox_command_argv(h.value)) for h in commands),
        ]

    def _detail_mailbox(self) -> None:
        if not any(lda.detail_mailbox for lda in self._ldas()):
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
            if any(lda.detail_mailbox for lda in self._ldas()):
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
            if not pipe_users or self.dovecot.value("mail_uid") or not self._defined_no_uid():
                return
        elif not userdb.exists:
            self.warnings.append(f"the userdb does not know the test recipient {userdb.recipient}")
            return
        elif userdb.uid or self.dovecot.value("mail_uid") or not pipe_users:
            if userdb.uid and pipe_users and not self.dovecot.value("mail_uid"):
                self._cross_check(userdb.recipient)
            return
        service = pipe_users[0]
        files = self.dovecot.files_setting("mail_location")
        file = files[-1] if files else self._root()
        said = "the userdb returns" if userdb else "the userdb definitions (static) return"
        reason = (
            f"{said} no uid/gid; LDA ran as {service.user} (pipe user=), LMTP runs "
            "as root and needs a uid to switch to"
        )
        self._set(file, (), "mail_uid", service.user or "", reason)
        if not (userdb and userdb.gid) and not self.dovecot.value("mail_gid"):
            self._set(file, (), "mail_gid", service.group or service.user or "", reason)

    def _cross_check(self, recipient: str) -> None:
        """The live answer covers the test recipient; a userdb whose definition may return
        no uid can still leave other users without one (LMTP then fails for them)."""
        unsure = [u.describe() for u in userdb_uids(self.dovecot) if u.returns_uid is not True]
        if unsure:
            self.warnings.append(
                f"the userdb returned a uid for {recipient}, but {', '.join(unsure)} may return "
                f"none for other users: LMTP would fail for them unless mail_uid is set "
                f"(the pipe ran as {self.services[0].user})"
            )

    def _defined_no_uid(self) -> bool:
        """With no live answer: whether the userdb definitions say no uid comes back (then
        mail_uid is planned); a warning when they cannot say."""
        userdbs = userdb_uids(self.dovecot)
        returned = uid_returned(userdbs)
        if returned is None:
            unsure = [u.describe() for u in userdbs if u.returns_uid is not True]
            which = ", ".join(unsure) or "no userdb found in the config"
            self.warnings.append(
                f"userdb answer unknown ({which} may return no uid): if `doveadm user "
                f"<recipient>` returns no uid, mail_uid/mail_gid must be set to "
                f"{self.services[0].user} (the pipe's user)"
            )
        return returned is False

    def _headers(self) -> None:
        delivered_to = self._effective_lmtp("lmtp_hdr_delivery_address") or "final"
        for service in self.services:
            if "D" not in service.flags and delivered_to != "none":
                self.warnings.append(
                    f"pipe service {service.name} added no Delivered-To (no D in flags="
                    f"{service.flags}); LMTP adds one (lmtp_hdr_delivery_address = "
                    f"{delivered_to}); set it to none in protocol lmtp to keep headers as they were"
                )
            if "O" in service.flags:
                self.warnings.append(
                    f"pipe service {service.name} added X-Original-To (flags={service.flags}); "
                    "Postfix's LMTP client does not; Dovecot's lmtp_hdr_delivery_address "
                    "(default final) decides the Delivered-To header instead"
                )


def _under_lda(chain: Chain) -> bool:
    return len(chain) > len(PROTOCOL_LDA) and chain[: len(PROTOCOL_LDA)] == PROTOCOL_LDA
