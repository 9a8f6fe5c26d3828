"""Whether Dovecot's userdbs return a uid, read off their definitions (issue 14, item 4).

LMTP runs as root and switches to the uid the userdb returns (or ``mail_uid``); the LDA ran
as the pipe's user and needed none. With no live ``doveadm user`` answer (``--root``) the
definitions still say a lot: ``static`` returns exactly its ``args``/fields, ``passwd``
always returns the system user's uid, and ``default_fields``/``override_fields`` (2.4:
``fields { }``) add a uid to any driver. What a table returns (passwd-file columns, SQL,
LDAP) is not read: migrator does not pull user tables off a host. The same definitions say
whether LMTP can find system users that the LDA without ``-d`` never looked up.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrator.config.dovecot import Block, BlockRef, DovecotConfig, Setting
from migrator.errors import RefusedError
from migrator.host.config import HostConfig
from migrator.host.facts import Facts
from migrator.rules.hooks import Hook, HookKind, mailbox_command_argv, parse_lda_argv

_FIELD_SETTINGS = ("args", "default_fields", "override_fields")
_UID_KEYS = ("uid", "userdb_uid")
_HOME_KEYS = ("home", "userdb_home")
_FIELDS = (BlockRef("fields"),)


@dataclass(frozen=True, slots=True)
class UserdbUid:
    """One userdb and whether it returns a uid (and a home): True, False, or None when its
    data decides."""

    driver: str
    returns_uid: bool | None
    file: str
    line: int | None
    returns_home: bool | None = None

    def describe(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"userdb {self.driver} ({where})"


def userdb_uids(config: DovecotConfig) -> list[UserdbUid]:
    """Every top-level userdb, in the order Dovecot tries them, and whether it returns a uid."""
    tops = [b for b in config.blocks if len(b.chain) == 1 and b.chain[0].name == "userdb"]
    return [_one(config, block, tops) for block in tops]


def uid_returned(userdbs: list[UserdbUid]) -> bool | None:
    """True when every userdb returns a uid, False when none does, None when it depends."""
    answers = {u.returns_uid for u in userdbs}
    if not userdbs or None in answers or len(answers) > 1:
        return None
    return answers.pop()


def _one(config: DovecotConfig, block: Block, tops: list[Block]) -> UserdbUid:
    settings = _settings_of(config, block, tops)
    driver = next((s.value for s in settings if s.key == "driver"), block.chain[0].arg or "")
    fields = " ".join(
        s.value for s in settings if s.key in _FIELD_SETTINGS and s.chain == block.chain
    )
    returns = _returns(driver, fields, settings, _UID_KEYS)
    home = _returns(driver, fields, settings, _HOME_KEYS)
    return UserdbUid(driver or "(no driver)", returns, block.file, block.line, home)


def _returns(
    driver: str, fields: str, settings: list[Setting], keys: tuple[str, ...]
) -> bool | None:
    """Whether a userdb returns one of KEYS: True, False (static without it), None (its data)."""
    has = any(word.split("=", 1)[0] in keys for word in fields.split() if "=" in word)
    # 2.4: ``fields { uid = vmail }`` inside the userdb block.
    nested = any(s.key in keys and s.chain[1:2] == _FIELDS for s in settings)
    if has or nested or driver == "passwd":
        return True
    return False if driver == "static" else None


def _settings_of(config: DovecotConfig, block: Block, tops: list[Block]) -> list[Setting]:
    """The settings inside this occurrence of the block (blocks of one name share a chain):
    those of its file below its line and above the next top-level userdb there."""
    later = [
        b.line or 0 for b in tops if b.file == block.file and (b.line or 0) > (block.line or 0)
    ]
    end = min(later) if later else None
    return [
        s
        for s in config.settings
        if s.file == block.file
        and s.chain[:1] == block.chain
        and (s.line or 0) > (block.line or 0)
        and (end is None or (s.line or 0) < end)
    ]


def refuse_unknown_system_users(facts: Facts, config: HostConfig, hooks: list[Hook]) -> None:
    """The LDA without ``-d`` delivered to the system user it ran as, never asking the userdb;
    LMTP asks it for every recipient. Raises RefusedError when no userdb knows system users
    (no ``passwd`` driver) and no live answer says the test recipient is known."""
    if facts.userdb is not None and facts.userdb.exists:
        return
    drivers = [u.driver for u in userdb_uids(config.dovecot)]
    if not drivers or "passwd" in drivers:
        return
    for hook in hooks:
        argv = mailbox_command_argv(hook.value)
        if hook.kind is HookKind.MAILBOX_COMMAND and parse_lda_argv(argv).destination is None:
            raise RefusedError(
                "mailbox_command runs the LDA without -d: it delivered to the system user it "
                "ran as, with no userdb lookup; LMTP looks every recipient up in the userdb, "
                f"and this host's ({', '.join(drivers)}) has no passwd driver for system "
                "users, so local mail would bounce",
                host=facts.host,
                path=config.main_file,
                line=hook.line,
            )
