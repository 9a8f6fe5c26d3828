"""Property test of the project's lenses against the daemons' own parsers (issue 14).

Seeded generators draw main.cf, master.cf and dovecot.conf texts: empty values, comment and
blank lines inside continued values, quoting, "#" inside values, nesting, CRLF, and, in about
a third of the files, one syntax mistake or one form the lens does not support. Each text is
judged by ``postconf -n``/``postconf -M``/``doveconf -n`` of the lab's release roots (never
this machine's packages), all the files of one release and kind in one chroot. The property:
the lens reads a file exactly when the daemon accepts it, reads the values the daemon reads,
and writes the file back byte-identical. The forms each lens's "Not supported" names are
drawn too, and must stay the one difference: the daemon accepts them, the lens refuses them.

The seeds are fixed, so every run draws the same files; a failure names the file's key, and
the text is in the message.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from augeas import Augeas

from migrator.config import postfix
from migrator.config.tree import ConfigTree
from migrator.lenses import DOVECOT_LENS, POSTFIX_MAIN_LENS, POSTFIX_MASTER_LENS
from tests.unit import lens_files
from tests.unit.hosts import MOUNT, ReleaseTools
from tests.unit.test_lens_postfix_main import postconf_params
from tests.unit.test_lens_postfix_master import _postconf_services

PER_RELEASE = 40
"""Files of each kind per release: 120 main.cf, 120 master.cf, 120 dovecot.conf in all."""


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


CONTINUATION_MISTAKES = ["comment in continuation", "blank in continuation"]
"""Dovecot refuses both ("Expecting '{'"); the lens too."""


def draw_dovecot_conf(seed: int, v24: bool) -> Drawn:
    """A dovecot.conf of settings both 2.3 and 2.4 know (2.4 with its version lines)."""
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
    mistakes = ["no close", "extra close", "bare word", "no key", "garbage"]
    choice = rnd.choice(["", "", "", "", "", "", "", "", "", *mistakes, *CONTINUATION_MISTAKES])
    if choice.endswith("in continuation"):
        mechanisms = "plain \\\n" + ("# c\n" if choice.startswith("comment") else "\n") + " login"
    chunks = [
        f"login_greeting{eq()}{greeting}{note()}\n",
        f"auth_mechanisms{eq()}{mechanisms}{note()}\n",
        f"protocol imap {{{note()}\n{pad()}imap_client_workarounds{eq()}"
        f"{rnd.choice(['', 'delay-newmail'])}\n{pad()}mail_max_userip_connections{eq()}10"
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


# -- judging ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of file: where it goes, its lens, how to draw it and how the daemon reads it."""

    name: str
    fpath: str
    lens: str
    draw: Callable[[int, str], Drawn]
    judge: Callable[[str], list[str]]
    """argv for the daemon, given the directory of the file inside the release root."""


KINDS = {
    "main.cf": Kind(
        "main.cf",
        "/etc/postfix/main.cf",
        POSTFIX_MAIN_LENS,
        lambda seed, release: draw_main_cf(seed),
        lambda conf: ["postconf", "-c", conf, "-n"],
    ),
    "master.cf": Kind(
        "master.cf",
        "/etc/postfix/master.cf",
        POSTFIX_MASTER_LENS,
        lambda seed, release: draw_master_cf(seed),
        lambda conf: ["postconf", "-c", conf, "-M"],
    ),
    "dovecot.conf": Kind(
        "dovecot.conf",
        "/etc/dovecot/dovecot.conf",
        DOVECOT_LENS,
        lambda seed, release: draw_dovecot_conf(seed, release == "trixie"),
        lambda conf: ["doveconf", "-c", f"{conf}/dovecot.conf", "-n"],
    ),
}
RELEASES = ("bullseye", "bookworm", "trixie")


@dataclass(frozen=True)
class Case:
    key: str
    kind: Kind
    drawn: Drawn
    daemon: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Case]]:
    """Every drawn file, judged: one chroot per release for all kinds and files."""
    judged: dict[str, list[Case]] = {kind: [] for kind in KINDS}
    for r, release in enumerate(RELEASES):
        drawn = {
            f"{kind.name}/{release}/seed-{seed}": (kind, kind.draw(seed, release))
            for kind in KINDS.values()
            for seed in range(1000 * r, 1000 * r + PER_RELEASE)
        }
        files = {key: (kind, text.text) for key, (kind, text) in drawn.items()}
        done = _judge(release, tmp_path_factory.mktemp(release), files)
        for key, (kind, text) in drawn.items():
            judged[kind.name].append(Case(key, kind, text, done[key]))
    return judged


def _judge(
    release: str, tree: Path, files: dict[str, tuple[Kind, bytes]]
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Each key's file in a directory of its own under tree (Postfix's other file empty
    beside it), read by its kind's daemon: all in one chroot of the release."""
    commands = {}
    for n, (key, (kind, text)) in enumerate(files.items()):
        conf = tree / f"c{n}"
        conf.mkdir()
        (conf / kind.name).write_bytes(text)
        if kind.name != "dovecot.conf":
            (conf / ("master.cf" if kind.name == "main.cf" else "main.cf")).write_text("")
        commands[key] = kind.judge(f"{MOUNT}/{conf.name}")
    # Postfix waits (0.3 s a try) before reading a main.cf modified in the last seconds
    for path in tree.rglob("main.cf"):
        os.utime(path, (0, 0))
    return ReleaseTools(release, tree).attempt_many(commands)


class Lensed:
    """Every case of one kind loaded by its lens in one Augeas (a lens compiles once per
    Augeas, which for the Dovecot lens costs half a second), case N at /cN/<file name>."""

    def __init__(self, kind: Kind, cases: list[Case], root: Path) -> None:
        self.kind, self.root = kind, root
        for index, case in enumerate(cases):
            (root / f"c{index}").mkdir()
            (root / f"c{index}" / kind.name).write_bytes(case.drawn.text)
        self.aug = lens_files.open_lens(root, kind.lens, f"/c*/{kind.name}")

    def path(self, index: int) -> str:
        return f"/c{index}/{self.kind.name}"

    def reads(self, index: int) -> bool:
        return self.aug.match(f"/augeas/files{self.path(index)}/error") == []

    def round_trip(self, indexes: list[int]) -> dict[int, bytes]:
        """The files after Augeas put each whole tree back, with a comment line added at the
        end (so that Augeas writes the file; one save for all: the Dovecot lens's put is
        slow)."""
        for index in indexes:
            self.aug.set(f"/files{self.path(index)}/#comment[last()+1]", "migrator probe")
        self.aug.save()
        return {i: (self.root / self.path(i).lstrip("/")).read_bytes() for i in indexes}


PROBE = b"# migrator probe\n"


def _same_reading(case: Case, lensed: Lensed, index: int) -> str:
    """ "" when the lens's values are the daemon's, else what differs."""
    node = f"/files{lensed.path(index)}"
    ours: dict[str, str] | dict[str, list[str]]
    if case.kind.name == "main.cf":
        ours, theirs = _main_cf_params(case)
    elif case.kind.name == "master.cf":
        ours, theirs = _master_services(lensed.aug, node), _postconf_services(case.daemon.stdout)
    else:
        value = lensed.aug.get(f"{node}/login_greeting")
        ours = {"login_greeting": _dequote(value or "")}
        shown = re.search(r"^login_greeting = ?(.*)$", case.daemon.stdout, re.M)
        theirs = {"login_greeting": _dequote(shown.group(1) if shown else "")}
    return "" if ours == theirs else f"lens {json.dumps(ours)} daemon {json.dumps(theirs)}"


def _main_cf_params(case: Case) -> tuple[dict[str, str], dict[str, str]]:
    """main.cf's parameters through migrator's own reading, and as postconf printed them."""
    fpath = case.kind.fpath
    with ConfigTree("h", {fpath: case.drawn.text}, {fpath: postfix.MAIN_LENS}) as tree:
        ours = postfix.main_params(tree, fpath)
    theirs = postconf_params(case.daemon.stdout, case.daemon.stderr)
    # postconf's warning about an unknown name shows a tab or CR in its value as "?"
    printed = {line.partition(" =")[0] for line in case.daemon.stdout.splitlines()}
    for params in (ours, theirs):
        for name in set(params) - printed:
            params[name] = " ".join(params[name].replace("?", " ").split())
    return ours, theirs


def _master_services(aug: Augeas, node: str) -> dict[str, list[str]]:
    """Each service's fields and its "command" nodes joined, blanks gone (as
    test_lens_postfix_master compares them with ``postconf -M``)."""
    seen = {}
    for service in aug.match(f"{node}/*[type]"):
        fields = [aug.get(f"{service}/{f}") or "" for f in MASTER_FIELDS]
        command = " ".join(aug.get(c) or "" for c in aug.match(f"{service}/command"))
        command = re.sub(r"(?<!\S)\{(\S*)\}(?!\S)", r"\1", command)  # postconf: "{x}" is x
        seen[f"{aug.label(service)}/{fields[0]}"] = [*fields, "".join(command.split())]
    return seen


MASTER_FIELDS = ("type", "private", "unprivileged", "chroot", "wakeup", "limit")


def _dequote(value: str) -> str:
    """A Dovecot value as Dovecot stores it: outer quotes gone, backslash escapes undone."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _verdict(case: Case, lensed: Lensed, index: int) -> str:
    """ "" when the lens and the daemon agree on whether the file is valid (and on its
    values), else the disagreement."""
    accepted, read = case.daemon.returncode == 0, lensed.reads(index)
    if case.drawn.unsupported:
        return "" if accepted and not read else f"unsupported {case.drawn.unsupported!r}"
    if read != accepted:
        return f"lens reads it: {read}, daemon accepts it: {accepted} {case.daemon.stderr}"
    if not read:
        return "" if case.drawn.mistake else "refused by both, with no mistake drawn"
    if case.drawn.mistake:
        return f"both read it, with the mistake {case.drawn.mistake!r}"
    return _same_reading(case, lensed, index)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_lens_reads_exactly_what_the_daemon_accepts(
    kind: str, cases: dict[str, list[Case]], tmp_path: Path
) -> None:
    """For each drawn file: accepted by both, with the same values, and written back
    byte-identical (a file without a final newline gains one), or refused by both; but for
    the lens's unsupported forms, which the daemon accepts and the lens refuses."""
    drawn = cases[kind]
    lensed = Lensed(KINDS[kind], drawn, tmp_path)
    found = {i: _verdict(case, lensed, i) for i, case in enumerate(drawn)}
    readable = [i for i, case in enumerate(drawn) if not found[i] and lensed.reads(i)]
    for index, after in lensed.round_trip(readable).items():
        text = drawn[index].drawn
        if after != text.text + (b"\n" if text.no_final_newline else b"") + PROBE:
            found[index] = f"round trip gave {after!r}"
    failed = [f"{drawn[i].key}: {v}\n{drawn[i].drawn.text.decode()}" for i, v in found.items() if v]
    assert failed == [], f"{len(failed)} of {len(drawn)} disagree:\n" + "\n".join(failed[:5])


def test_the_drawn_files_cover_every_class(cases: dict[str, list[Case]]) -> None:
    """The generators draw each mistake and unsupported form, and many valid files."""
    for kind, drawn in cases.items():
        mistakes = {c.drawn.mistake for c in drawn} | {c.drawn.unsupported for c in drawn}
        valid = [c for c in drawn if c.daemon.returncode == 0 and not c.drawn.unsupported]
        assert len(valid) >= len(drawn) * 2 // 5, kind
        assert len(mistakes) >= {"main.cf": 5, "master.cf": 6, "dovecot.conf": 8}[kind], (
            kind,
            mistakes,
        )


EDITABLE = set(MAIN_NAMES[:10])
"""The known names: the ones migrator's rules set or remove are all of this kind."""


def _edited(case: Case) -> tuple[bytes, dict[str, str]] | None:
    """The main.cf after migrator's own writer set its first known parameter (cut by comment
    lines or not) and virtual_transport, and removed its last known one; and the parameters
    Postfix must then read. None for a file with no known parameter."""
    fpath = case.kind.fpath
    with ConfigTree("h", {fpath: case.drawn.text}, {fpath: postfix.MAIN_LENS}) as tree:
        params = postfix.main_params(tree, fpath)
        known = [name for name in params if name in EDITABLE]
        if not known:
            return None
        expected = {**params, known[0]: "edited $mail_name"}
        postfix.set_main_param(tree, fpath, known[0], expected[known[0]])
        expected["virtual_transport"] = "lmtp:unix:private/dovecot-lmtp"
        postfix.set_main_param(tree, fpath, "virtual_transport", expected["virtual_transport"])
        gone = known[-1] if known[-1] not in (known[0], "virtual_transport") else None
        if gone:
            postfix.remove_main_param(tree, fpath, gone)
            del expected[gone]
        return tree.save()[fpath], expected


def test_edits_by_migrators_writer_are_what_postfix_reads(
    cases: dict[str, list[Case]], tmp_path: Path
) -> None:
    """set_main_param and remove_main_param on every valid drawn main.cf: postconf -n of the
    same release reads the new values and every other parameter as before."""
    edited: dict[str, dict[str, tuple[Case, bytes, dict[str, str]]]] = {}
    for case in cases["main.cf"]:
        if case.daemon.returncode or case.drawn.unsupported or case.drawn.mistake:
            continue
        done = _edited(case)
        if done is not None:
            edited.setdefault(case.key.split("/")[1], {})[case.key] = (case, *done)
    assert sum(len(by_key) for by_key in edited.values()) >= 40
    found = []
    for release, by_key in edited.items():
        (tmp_path / release).mkdir()
        files = {key: (KINDS["main.cf"], text) for key, (_, text, _) in by_key.items()}
        for key, run in _judge(release, tmp_path / release, files).items():
            case, text, expected = by_key[key]
            ours, theirs = _main_cf_params(Case(key, case.kind, Drawn(text), run))
            known = {k: " ".join(v.split()) for k, v in expected.items() if k in EDITABLE}
            if run.returncode or ours != theirs:
                found.append(f"{key}: migrator reads {ours}, postconf {theirs} {run.stderr}")
            elif {k: v for k, v in theirs.items() if k in EDITABLE} != known:
                found.append(f"{key}: postconf reads {theirs}, expected {known}")
    assert found == [], "\n".join(found[:5])
