"""Seeded random config files for the lens tests: main.cf, master.cf and dovecot.conf texts
with the forms that trip parsers (empty values, comment and blank lines inside continued
values, quoting, "#" inside values, nesting, CRLF), and, where asked, one syntax mistake or
one form the lens does not support, named in the ``Drawn`` record. The same seed draws the
same file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Drawn:
    """A generated file and what the generator put in it that is not plain valid syntax."""

    text: bytes
    mistake: str = ""
    """A syntax error the daemon must refuse (and the lens too), or ""."""
    unsupported: str = ""
    """A form the daemon accepts and the lens's "Not supported" names, or ""."""
    no_final_newline: bool = False


# -- main.cf ----------------------------------------------------------------------------

MAIN_NAMES = [
    "myhostname",
    "mydestination",
    "relayhost",
    "smtpd_banner",
    "alias_maps",
    "virtual_transport",
    "mailbox_command",
    "smtpd_recipient_restrictions",
    "mynetworks",
    "syslog_name",
    "local_custom",
    "a.b:c",
    "x#y",
    "a[1]",
]
"""Known and unknown names; no value refers to one of them ("$myhostname" in myhostname is a
loop postconf refuses: a fact about the values, not the syntax)."""
MAIN_WORDS = [
    "$mail_name",
    "localhost",
    "hash:/etc/aliases",
    "#not-a-comment",
    "${multi_instance_name?{$multi_instance_name}:{postfix}}",
    '"quoted value"',
    "'single'",
    "back\\slash",
    "{ a, b }",
    "permit_mynetworks,",
    "[smtp.example.net]:587",
    "lmtp:unix:private/dovecot-lmtp",
    '/usr/lib/dovecot/dovecot-lda -f "$SENDER" -a "$RECIPIENT"',
]
SKIPPED = ["", "\n", "   \n", "# a comment\n", "  # indented\n", "#\n", "\t#  \n", "# x = y\n"]


def _main_value(rnd: random.Random) -> str:
    """The text after "=": words on one line or over continuation lines, with the blank and
    comment lines Postfix skips between them; sometimes starting on the next line."""
    words = rnd.sample(MAIN_WORDS, rnd.choice([0, 1, 1, 2, 3, 4]))
    text = ""
    for index, word in enumerate(words):
        if rnd.random() < (0.15 if index == 0 else 0.4):
            skipped = "".join(rnd.choice(SKIPPED) for _ in range(rnd.randint(0, 2)))
            text += rnd.choice(["", " ", "\t"]) + "\n" + skipped + rnd.choice(["  ", "\t", " "])
        elif index:
            text += rnd.choice([" ", "  ", "\t"])
        text += word
    return text


def draw_main_cf(seed: int) -> Drawn:
    rnd = random.Random(seed)
    lines = [f"# generated main.cf, seed {seed}\n"]
    for _ in range(rnd.randint(2, 7)):
        eq = rnd.choice([" = ", "=", " =", "= ", "\t=\t", "  =  "])
        value = _main_value(rnd)
        lines.append(f"{rnd.choice(MAIN_NAMES)}{eq}{value}{rnd.choice(['', ' ', chr(9)])}\n")
        lines.append(rnd.choice(["", "", "\n", "# between\n", "#\n", "  \n", "\t# indented\n"]))
    drawn = _main_mistake(rnd, lines)
    if rnd.random() < 0.2:
        drawn = Drawn(drawn.text.replace(b"\n", b"\r\n"), drawn.mistake, drawn.unsupported)
    if rnd.random() < 0.1:
        return Drawn(drawn.text.rstrip(b"\n"), drawn.mistake, drawn.unsupported, True)
    return drawn


def _main_mistake(rnd: random.Random, lines: list[str]) -> Drawn:
    """The lines as they are, or with one mistake or one unsupported form added."""
    choice = rnd.choice(["", "", "", "no equals", "no name", "indented first", "slash"])
    at = rnd.randint(1, len(lines))
    extra = {
        "no equals": "192.0.2.0/24 no equals sign\n",
        "no name": "= value\n",
        "indented first": "  stray = x\n",
        "slash": "local/custom = x\n",
    }.get(choice, "")
    if choice == "indented first":
        at = 1  # after the header comment: the first logical line starts with a blank
    text = "".join([*lines[:at], extra, *lines[at:]]).encode()
    if choice in ("no equals", "no name"):
        return Drawn(text, mistake=choice)
    return Drawn(text, unsupported=choice)


# -- master.cf --------------------------------------------------------------------------

MASTER_ARGS = [
    "-o smtpd_tls_security_level=may",
    "-o { smtpd_client_restrictions = permit_mynetworks, reject }",
    "-o syslog_name=${multi_instance_name?{$multi_instance_name}:{postfix}}/$service_name",
    "flags=DRhu user=vmail argv=/usr/lib/dovecot/dovecot-lda -f ${sender} -d ${recipient}",
    "-o content_filter=",
    "argv=/usr/bin/spamc -e /usr/lib/dovecot/deliver -f {sender}",
    "-o milter_macro_daemon_name=ORIGINATING#not-a-comment",
    "-o {smtpd_recipient_restrictions =\n  # inside braces\n\n   permit_mynetworks, reject}",
]
MASTER_NAMES = ["smtp", "submission", "[::1]:10025", "127.0.0.1:2525", "relay-2", "dovecot"]


def draw_master_cf(seed: int) -> Drawn:
    rnd = random.Random(seed)

    def gap() -> str:
        if rnd.random() < 0.7:
            return rnd.choice([" ", "  ", "\t"])
        skipped = "".join(rnd.choice(SKIPPED) for _ in range(rnd.randint(0, 2)))
        return rnd.choice(["", " "]) + "\n" + skipped + rnd.choice(["  ", "\t", "    "])

    choice = rnd.choice(["", "", "", "bad type", "bad flag", "limit?", "no command", "slash"])
    services = rnd.sample(MASTER_NAMES, rnd.randint(1, 4))
    lines = [f"# generated master.cf, seed {seed}\n"]
    for index, name in enumerate(services):
        fields = [
            "sm/tp" if choice == "slash" and index == 0 else name,
            "tcp" if choice == "bad type" and index == 0 else rnd.choice(["inet", "unix", "pass"]),
            "x" if choice == "bad flag" and index == 0 else rnd.choice("yn-"),
            rnd.choice("yn-"),
            rnd.choice("yn-"),
            rnd.choice(["-", "60", "300?"]),
            "5?" if choice == "limit?" and index == 0 else rnd.choice(["-", "0", "10"]),
        ]
        if not (choice == "no command" and index == 0):
            fields += [f"daemon{index}", *rnd.sample(MASTER_ARGS, rnd.randint(0, 3))]
        lines.append(fields[0] + "".join(gap() + word for word in fields[1:]) + "\n")
        lines.append(rnd.choice(["", "\n", "# between services\n", "#\n"]))
    text = "".join(lines)
    if rnd.random() < 0.2:
        text = text.replace("\n", "\r\n")
    if choice == "slash":
        return Drawn(text.encode(), unsupported=choice)
    return Drawn(text.encode(), mistake=choice)


# -- dovecot.conf -----------------------------------------------------------------------


DOVECOT_MISTAKES = ["no close", "extra close", "bare word", "no key", "garbage"]
CONTINUATION_MISTAKES = ["comment in continuation", "blank in continuation"]
"""Dovecot refuses both ("Expecting '{'"); the lens too."""


def draw_dovecot_conf(seed: int, v24: bool, *, mistakes: bool = True) -> Drawn:
    """A dovecot.conf of settings both 2.3 and 2.4 know (2.4 with its version lines), drawn at
    random: empty values, quotes and "#", comments after values and braces, tabs, blank and
    bare "#" lines, "key=value", continued values, nested blocks, CRLF or LF line ends. With
    ``mistakes``, some files have one syntax mistake (named in ``Drawn.mistake``); without,
    Dovecot 2.3 and 2.4 accept every file."""
    rnd = random.Random(seed)

    def pad() -> str:
        return rnd.choice(["", "  ", "\t", "    "])

    def eq() -> str:
        return rnd.choice([" = ", "=", "\t=\t", " =  "])

    def note() -> str:
        return rnd.choice(["", "", "", " # a note", "\t#", "  # x = y {"])

    greeting = rnd.choice(
        [
            "Ready",
            '"Ready # not a note"',
            "'single # quoted'",
            "%{hostname}",
            "",
            "a#b",
            '"a \\" b"',
            "it's # all one value",
            'a"b # c',
        ]
    )
    mechanisms = rnd.choice(["plain", "plain login", "plain \\\n  login", "plain\t\\\n\tlogin"])
    choices = ["", "", "", "", "", "", "", "", "", *DOVECOT_MISTAKES, *CONTINUATION_MISTAKES]
    choice = rnd.choice(choices) if mistakes else ""
    if choice.endswith("in continuation"):
        mechanisms = "plain \\\n" + ("# c\n" if choice.startswith("comment") else "\n") + " login"
    workarounds = rnd.choice(["", "delay-newmail", "tb-extra-mailbox-sep"])
    chunks = [
        f"login_greeting{eq()}{greeting}{note()}\n",
        f"auth_mechanisms{eq()}{mechanisms}{note()}\n",
        f"protocol imap {{{note()}\n{pad()}imap_client_workarounds{eq()}"
        f"{workarounds}\n{pad()}mail_max_userip_connections{eq()}10"
        f"{note()}\n}}{note()}\n",
        f"namespace inbox {{\n{pad()}inbox = yes\n{pad()}separator{eq()}/\n"
        f"{pad()}prefix{eq()}{rnd.choice(['', 'INBOX/'])}{note()}\n"
        f'{pad()}mailbox "Sent Items" {{\n{pad()}special_use{eq()}\\Sent\n'
        f"{pad()}auto{eq()}subscribe\n{pad()}}}\n}}\n",
        f"service imap-login {{\n{pad()}inet_listener imap {{\n{pad()}port{eq()}0{note()}\n"
        f"{pad()}}}\n}}\n",
        "!include_try /nonexistent/*.conf\n",
        {
            "no close": "protocol lmtp {\n  mail_max_userip_connections = 3\n",
            "extra close": "}\n",
            "bare word": "login_greeting\n",
            "no key": "= value\n",
            "garbage": "protocol pop3 { mail_max_userip_connections = 3 }\n",
        }.get(choice, ""),
    ]
    rnd.shuffle(chunks)
    between = ["\n", "# a comment\n", "#\n", "   \n", "\t# indented comment\n", ""]
    text = "".join(chunk + rnd.choice(between) for chunk in chunks)
    if v24:
        text = "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n" + text
    if rnd.random() < 0.2:
        text = text.replace("\n", "\r\n")
    return Drawn(f"# generated, seed {seed}\n{text}".encode(), mistake=choice)
