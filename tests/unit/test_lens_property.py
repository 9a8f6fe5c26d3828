"""Property test of the project's lenses against the daemons' own parsers (issue 14).

Seeded generators (``drawn_configs``) draw main.cf, master.cf and dovecot.conf texts: empty
values, comment and blank lines inside continued values, quoting, "#" inside values, nesting,
CRLF, and, in about a third of the files, one syntax mistake or one form the lens does not
support. Each text is
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
from tests.unit.drawn_configs import (
    MAIN_NAMES,
    Drawn,
    draw_dovecot_conf,
    draw_main_cf,
    draw_master_cf,
)
from tests.unit.hosts import MOUNT, ReleaseTools
from tests.unit.test_lens_postfix_main import postconf_params
from tests.unit.test_lens_postfix_master import _postconf_services

PER_RELEASE = 40
"""Files of each kind per release: 120 main.cf, 120 master.cf, 120 dovecot.conf in all."""


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
