"""The project's master.cf lens, side by side with the stock Postfix_Master, on copied files.

Every file read here is a fixture under lens_samples/: Debian 11, 12 and 13's stock master.cf
(from each release's postfix package, /usr/share/postfix/master.cf.dist) and samples of what
Postfix accepts and the stock lens refuses.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from augeas import Augeas

from migrator.config import postfix
from migrator.config.tree import ConfigTree
from migrator.lenses import POSTFIX_MASTER_LENS
from tests.unit import lens_files
from tests.unit.hosts import MOUNT, ReleaseTools

SAMPLES = Path(__file__).parent / "lens_samples"
STOCK = sorted((SAMPLES / "stock").glob("debian*/master.cf"))
HOSTILE = sorted((SAMPLES / "master").glob("*.cf"))
FPATH = "/etc/postfix/master.cf"
FIELDS = ("type", "private", "unprivileged", "chroot", "wakeup", "limit")


def _mine(root: Path) -> Augeas:
    return lens_files.open_lens(root, POSTFIX_MASTER_LENS, FPATH)


def _release(src: Path) -> str:
    return src.parent.name


# -- the stock Debian files ---------------------------------------------------------------


@pytest.mark.parametrize("src", STOCK, ids=_release)
def test_stock_file_same_tree_as_stock_lens_and_same_bytes(src: Path, tmp_path: Path) -> None:
    dest = lens_files.copy_in(src, tmp_path, FPATH)
    stock = lens_files.open_lens(tmp_path, "Postfix_Master", FPATH)
    mine = _mine(tmp_path)
    assert lens_files.errors(mine) == []
    if _release(src) == "debian13":
        # line 74: -o syslog_name=${multi_instance_name?{$multi_instance_name}:{postfix}}/...
        assert [line for _, _, line in lens_files.errors(stock)] == ["74"]
        relay = mine.get(f"/files{FPATH}/relay/command") or ""
        option = "syslog_name=${multi_instance_name?{$multi_instance_name}:{postfix}}/$service_name"
        assert relay == f"smtp\n        -o {option}"
    else:
        assert lens_files.errors(stock) == []
        assert lens_files.tree(mine, f"/files{FPATH}") == lens_files.tree(stock, f"/files{FPATH}")
    lens_files.rewrite(mine, FPATH)
    assert dest.read_bytes() == src.read_bytes()


def test_debian13_without_line_74_reads_the_same_through_both_lenses(tmp_path: Path) -> None:
    src = SAMPLES / "stock/debian13/master.cf"
    lines = src.read_text().splitlines(keepends=True)
    assert "multi_instance_name" in lines[73]
    trimmed = "".join(lines[:73] + lines[74:])
    lens_files.write_in(tmp_path, FPATH, trimmed)
    stock, mine = lens_files.open_lens(tmp_path, "Postfix_Master", FPATH), _mine(tmp_path)
    assert lens_files.errors(stock) == lens_files.errors(mine) == []
    assert lens_files.tree(mine, f"/files{FPATH}") == lens_files.tree(stock, f"/files{FPATH}")


# -- what Postfix accepts and the stock lens refuses, one sample file per class -----------


@pytest.mark.parametrize("src", HOSTILE, ids=lambda p: p.name)
def test_sample_tree_and_round_trip(src: Path, tmp_path: Path) -> None:
    dest = lens_files.copy_in(src, tmp_path, FPATH)
    stock = lens_files.open_lens(tmp_path, "Postfix_Master", FPATH)
    assert lens_files.errors(stock) != [], "the stock lens should refuse it"
    lens_files.assert_reads_as_sampled(_mine(tmp_path), src, dest, FPATH)


# -- side by side with Postfix's own parser ------------------------------------------------


def _generated(seed: int) -> str:
    """A master.cf Postfix accepts, drawn at random: odd names, blanks and tabs, fields and
    commands split over continuation lines, comment, bare "#" and blank lines inside services,
    brace groups and characters the stock lens refuses."""
    rnd = random.Random(seed)
    args = [
        "-o smtpd_tls_security_level=may",
        "-o { smtpd_client_restrictions = permit_mynetworks, reject }",
        "-o syslog_name=${multi_instance_name?{$multi_instance_name}:{postfix}}/$service_name",
        "flags=DRhu user=vmail argv=/usr/bin/x -f ${sender} -- ${recipient}",
        "> % | ' * + ~ $nexthop!rmail ($recipient)",
        "-o content_filter=",
        "-o milter_macro_daemon_name=ORIGINATING#not-a-comment",
        "-o {smtpd_recipient_restrictions =\n  # inside braces\n\n   permit_mynetworks, reject}",
    ]
    names = ["smtp", "[::1]:10025", "127.0.0.1:2525", "[192.0.2.7]:smtp", "relay-2", "x"]

    def gap() -> str:
        """Blanks between two words: on the line, or a line break with what Postfix skips."""
        if rnd.random() < 0.7:
            return rnd.choice([" ", "  ", "\t", " \t "])
        skipped = rnd.choice(["", "# a comment\n", "#\n", "\n", "  # indented\n\n"])
        return rnd.choice(["", " "]) + "\n" + skipped + rnd.choice(["  ", "\t", "    "])

    lines = [f"# generated, seed {seed}\n"]
    for index, name in enumerate(rnd.sample(names, 4)):
        kind = rnd.choice(["inet", "unix", "unix-dgram", "fifo", "pass"])
        fields = [
            name,
            kind,
            *(rnd.choice("yn-") for _ in range(3)),
            rnd.choice(["-", "60", "300?"]),
            rnd.choice(["-", "0", "10"]),
            f"daemon{index}",
            *rnd.sample(args, rnd.randint(0, 3)),
        ]
        entry = fields[0]
        for word in fields[1:]:
            entry += gap() + word
        lines.append(entry + rnd.choice(["", " ", "\t"]) + "\n")
        lines.append(rnd.choice(["", "\n", "# between services\n", "#\n"]))
    return "".join(lines)


GENERATED = {f"generated-{seed}": _generated(seed) for seed in range(12)}

REFUSED = {
    "no command": "smtp inet n - y - -\n",
    "bad private field": "smtp inet x - y - - smtpd\n",
    "bad type": "smtp tcp n - y - - smtpd\n",
    "limit with ?": "smtp inet n - y - 5? smtpd\n",
    "bad wakeup": "smtp inet n - y -5 - smtpd\n",
}
"""master.cf texts Postfix refuses, and the lens too."""

POSTFIX_ONLY = {
    "slash in name": "sm/tp unix n - y - - smtpd\n",
    "command starting with #": "smtp inet n - y - - #smtpd\n",
    "first line indented": "  -o a=b\nsmtp inet n - y - - smtpd\n",
}
"""master.cf texts Postfix reads (the last one with a warning: it skips the line) and the
lens refuses; see the lens's "Not supported"."""


@pytest.fixture(scope="module")
def postconf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    """``postconf -M`` on each text, by Debian 12's Postfix from the lab's bookworm root (never
    this machine's): its exit status and output. The runs go in parallel: each takes seconds
    of waiting, not of work."""
    texts = {
        **{str(src): src.read_text() for src in [*STOCK, *HOSTILE]},
        **GENERATED,
        **REFUSED,
        **POSTFIX_ONLY,
    }
    tree = tmp_path_factory.mktemp("postconf")
    tools = ReleaseTools("bookworm", tree)
    runs = {}
    for index, (key, text) in enumerate(texts.items()):
        conf = tree / f"c{index}"
        conf.mkdir()
        (conf / "master.cf").write_text(text)
        (conf / "main.cf").write_text("")
        runs[key] = subprocess.Popen(
            tools.command(["postconf", "-c", f"{MOUNT}/c{index}", "-M"]),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    return {key: (run.wait(timeout=60), run.communicate()[0]) for key, run in runs.items()}


def _postconf_services(out: str) -> dict[str, list[str]]:
    """``postconf -M`` output: "name/type" -> its fields and command, blanks gone."""
    services = {}
    # a brace group ("-o { a = b }") is printed as written, continuation lines included
    for line in re.sub(r"\n(?=[ \t])", " ", out).splitlines():
        name, *fields = line.split(maxsplit=7)
        services[f"{name}/{fields[0]}"] = [*fields[:6], "".join(fields[6].split())]
    return services


def _lens_services(aug: Augeas) -> dict[str, list[str]]:
    """The same from the tree: every "command" node of a service joined (one word in braces,
    "{x}" or "{ x }", as postconf prints it: "x")."""
    seen = {}
    for node in aug.match(f"/files{FPATH}/*[type]"):
        fields = [aug.get(f"{node}/{f}") or "" for f in FIELDS]
        command = " ".join(aug.get(c) or "" for c in aug.match(f"{node}/command"))
        command = re.sub(r"(?<!\S)\{\s*([^\s{}]*(?:\{[^\s{}]*\})?)\s*\}(?!\S)", r"\1", command)
        seen[f"{aug.label(node)}/{fields[0]}"] = [*fields, "".join(command.split())]
    return seen


@pytest.mark.parametrize("src", [*STOCK, *HOSTILE], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_services_as_postfix_reads_them(
    src: Path, tmp_path: Path, postconf: dict[str, tuple[int, str]]
) -> None:
    """Each service's fields, and its command nodes joined, are what ``postconf -M`` prints
    (brace groups aside, postconf only drops blanks; so do we, to compare)."""
    status, out = postconf[str(src)]
    assert status == 0
    lens_files.copy_in(src, tmp_path, FPATH)
    assert _lens_services(_mine(tmp_path)) == _postconf_services(out)


RELEASES = {"debian11": "bullseye", "debian12": "bookworm", "debian13": "trixie"}


@pytest.mark.parametrize("src", STOCK, ids=_release)
def test_stock_services_as_their_own_release_reads_them(src: Path, tmp_path: Path) -> None:
    """Each release's stock master.cf by that release's own ``postconf -M`` (Postfix 3.5,
    3.7, 3.10)."""
    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copyfile(src, conf / "master.cf")
    (conf / "main.cf").write_text("")
    tools = ReleaseTools(RELEASES[_release(src)], tmp_path)
    done = tools.attempt_many({"M": ["postconf", "-c", f"{MOUNT}/conf", "-M"]})["M"]
    assert done.returncode == 0, done.stderr
    lens_files.copy_in(src, tmp_path, FPATH)
    assert _lens_services(_mine(tmp_path)) == _postconf_services(done.stdout)


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("*/*/**/postfix/master.cf"))


@pytest.fixture(scope="module")
def fixtures_postconf(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[Path, subprocess.CompletedProcess[str]]:
    """``postconf -M`` on every fixture host's and corpus case's master.cf, by Debian 12's
    Postfix, all in one chroot."""
    tree = tmp_path_factory.mktemp("fixtures")
    commands = {}
    for index, src in enumerate(FIXTURE_FILES):
        (tree / f"c{index}").mkdir()
        shutil.copyfile(src, tree / f"c{index}/master.cf")
        (tree / f"c{index}/main.cf").write_text("")
        commands[str(src)] = ["postconf", "-c", f"{MOUNT}/c{index}", "-M"]
    done = ReleaseTools("bookworm", tree).attempt_many(commands)
    return {Path(key): run for key, run in done.items()}


@pytest.mark.parametrize("src", FIXTURE_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_services_as_postfix_reads_them(
    src: Path, tmp_path: Path, fixtures_postconf: dict[Path, subprocess.CompletedProcess[str]]
) -> None:
    done = fixtures_postconf[src]
    assert done.returncode == 0, done.stderr
    dest = lens_files.copy_in(src, tmp_path, FPATH)
    aug = _mine(tmp_path)
    assert lens_files.errors(aug) == []
    assert _lens_services(aug) == _postconf_services(done.stdout)
    lens_files.rewrite(aug, FPATH)
    assert dest.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("key", sorted(GENERATED))
def test_generated_file_reads_as_postfix_reads_it_and_round_trips(
    key: str, tmp_path: Path, postconf: dict[str, tuple[int, str]]
) -> None:
    status, out = postconf[key]
    assert status == 0
    dest = lens_files.write_in(tmp_path, FPATH, GENERATED[key])
    aug = _mine(tmp_path)
    assert lens_files.errors(aug) == []
    assert _lens_services(aug) == _postconf_services(out)
    lens_files.rewrite(aug, FPATH)
    assert dest.read_text() == GENERATED[key]


@pytest.mark.parametrize("key", [*REFUSED, *POSTFIX_ONLY])
def test_refused_where_postfix_refuses(
    key: str, tmp_path: Path, postconf: dict[str, tuple[int, str]]
) -> None:
    lens_files.write_in(tmp_path, FPATH, {**REFUSED, **POSTFIX_ONLY}[key])
    assert [m for _, m, _ in lens_files.errors(_mine(tmp_path))] != []
    status, out = postconf[key]
    assert (status != 0) == (key in REFUSED)
    assert (out != "") == (key in POSTFIX_ONLY)


# -- new services -------------------------------------------------------------------------


def _add_service(aug: Augeas, label: str, fields: tuple[str, ...], command: str) -> None:
    """A new service; ``label`` is the name as an Augeas path step ("[" and "]" escaped)."""
    base = f"/files{FPATH}/{label}"
    for label, value in zip(FIELDS, fields, strict=True):
        aug.set(f"{base}/{label}", value)
    aug.set(f"{base}/command", command)


def test_new_service_is_written_in_debian_columns(tmp_path: Path) -> None:
    src = SAMPLES / "stock/debian13/master.cf"
    dest = lens_files.copy_in(src, tmp_path, FPATH)
    aug = _mine(tmp_path)
    argv = "argv=/usr/lib/dovecot/dovecot-lda -f ${sender} -d ${recipient}"
    _add_service(
        aug, "dovecot", ("unix", "-", "n", "n", "-", "-"), f"pipe\n  flags=DRhu user=vmail {argv}"
    )
    aug.save()
    assert lens_files.errors(aug) == []
    assert dest.read_text() == src.read_text() + (
        "dovecot   unix  -       n       n       -       -       pipe\n"
        f"  flags=DRhu user=vmail {argv}\n"
    )
    again = _mine(tmp_path)
    assert again.get(f"/files{FPATH}/dovecot/command") == f"pipe\n  flags=DRhu user=vmail {argv}"


def test_new_service_named_with_brackets_and_long_fields(tmp_path: Path) -> None:
    dest = lens_files.copy_in(SAMPLES / "master/names.cf", tmp_path, FPATH)
    before = dest.read_text()
    aug = _mine(tmp_path)
    _add_service(aug, "\\[::1\\]:10026", ("inet", "n", "-", "n", "60?", "10"), "smtpd -o a=b")
    aug.save()
    assert lens_files.errors(aug) == []
    assert dest.read_text() == before + (
        "[::1]:10026   inet  n       -       n       60?       10       smtpd -o a=b\n"
    )
    assert _mine(tmp_path).get(f"/files{FPATH}/\\[::1\\]:10026/limit") == "10"


def test_changed_command_keeps_the_comments_around_it(tmp_path: Path) -> None:
    dest = lens_files.copy_in(SAMPLES / "master/comments-inside.cf", tmp_path, FPATH)
    before = dest.read_text()
    aug = _mine(tmp_path)
    node = f"/files{FPATH}/submission"
    aug.set(f"{node}/command[3]", "-o smtpd_sasl_auth_enable=no")
    aug.save()
    assert lens_files.errors(aug) == []
    assert dest.read_text() == before.replace(
        "  -o smtpd_sasl_auth_enable=yes\n", "  -o smtpd_sasl_auth_enable=no\n"
    )


def test_new_comment_inside_a_service_cuts_nothing_postfix_reads(tmp_path: Path) -> None:
    dest = lens_files.copy_in(SAMPLES / "stock/debian12/master.cf", tmp_path, FPATH)
    aug = _mine(tmp_path)
    node = f"/files{FPATH}/smtp[type = 'inet']"
    aug.insert(f"{node}/command", "#comment", False)
    aug.set(f"{node}/#comment", "managed by migrator")
    aug.insert(f"{node}/#comment", "command", False)
    aug.set(f"{node}/command[2]", "-o smtpd_sasl_auth_enable=no")
    aug.save()
    assert lens_files.errors(aug) == []
    text = dest.read_text()
    assert (
        "smtp      inet  n       -       y       -       -       smtpd\n"
        "# managed by migrator\n"
        "  -o smtpd_sasl_auth_enable=no\n"
    ) in text
    assert [v for _, v in lens_files.tree(_mine(tmp_path), node)][-2:] == [
        "managed by migrator",
        "-o smtpd_sasl_auth_enable=no",
    ]


def test_removed_comment_joins_the_command_around_it(tmp_path: Path) -> None:
    dest = lens_files.copy_in(SAMPLES / "master/comments-inside.cf", tmp_path, FPATH)
    before = dest.read_text()
    aug = _mine(tmp_path)
    node = f"/files{FPATH}/smtp"
    assert [aug.get(c) for c in aug.match(f"{node}/#comment")] == [
        "a comment between the daemon and its options",
        None,
    ]
    aug.remove(f"{node}/#comment[1]")
    aug.save()
    assert lens_files.errors(aug) == []
    assert dest.read_text() == before.replace(
        "  # a comment between the daemon and its options\n", ""
    )
    again = _mine(tmp_path)
    assert [again.get(c) for c in again.match(f"{node}/command")] == [
        "smtpd\n  -o smtpd_tls_security_level=may\n\n  -o smtpd_sasl_auth_enable=no",
        "-o smtpd_client_restrictions=permit_mynetworks,reject",
    ]


def test_value_postfix_would_read_otherwise_fails_the_save(tmp_path: Path) -> None:
    """A command line starting with "#" would be a comment to Postfix: the lens refuses it."""
    dest = lens_files.copy_in(SAMPLES / "master/names.cf", tmp_path, FPATH)
    before = dest.read_bytes()
    aug = _mine(tmp_path)
    aug.set(f"/files{FPATH}/postlog/command", "postlogd\n  # -o not=an-option")
    with pytest.raises(OSError):
        aug.save()
    assert dest.read_bytes() == before


# -- through migrator's own tree ------------------------------------------------------------


def test_config_tree_reads_debian13_master_cf() -> None:
    content = (SAMPLES / "stock/debian13/master.cf").read_bytes()
    with ConfigTree("h", {FPATH: content}, {FPATH: postfix.MASTER_LENS}) as tree:
        entries = {e.name: e for e in postfix.master_entries(tree, FPATH)}
    relay = entries["relay"]
    assert (relay.type, relay.program, relay.line) == ("unix", "smtp", 73)
    assert relay.command.endswith("{postfix}}/$service_name")
    assert entries["pickup"].program == "pickup"
    assert entries["proxywrite"].argv == ()


def test_config_tree_reads_a_command_cut_by_comments_whole() -> None:
    """postfix.master_entries joins the "command" nodes a comment line cuts a service's
    command into: the command is what Postfix runs, never half of it."""
    content = (SAMPLES / "master/comments-inside.cf").read_bytes()
    with ConfigTree("h", {FPATH: content}, {FPATH: postfix.MASTER_LENS}) as tree:
        entries = {e.name: e for e in postfix.master_entries(tree, FPATH)}
    assert entries["smtp"].program == "smtpd"
    assert [key for key, _ in entries["smtp"].attributes if key.startswith("smtpd_")] == [
        "smtpd_tls_security_level",
        "smtpd_sasl_auth_enable",
        "smtpd_client_restrictions",
    ]
    assert entries["dovecot"].program == "pipe"
    assert entries["dovecot"].argv[:1] == ("/usr/lib/dovecot/dovecot-lda",)
    assert entries["dovecot"].attribute("user") == "vmail:vmail"


def test_config_tree_names_services_that_share_a_name() -> None:
    """Debian's "smtp inet" and "smtp unix" are two nodes labelled "smtp": match names them
    "smtp[1]" and "smtp[2]", which master_entries took for the services' names."""
    content = (SAMPLES / "stock/debian12/master.cf").read_bytes()
    with ConfigTree("h", {FPATH: content}, {FPATH: postfix.MASTER_LENS}) as tree:
        entries = postfix.master_entries(tree, FPATH)
    assert [(e.type, e.program) for e in entries if e.name == "smtp"] == [
        ("inet", "smtpd"),
        ("unix", "smtp"),
    ]
    assert not [e.name for e in entries if "[" in e.name]


def test_removing_a_service_whose_name_another_service_shares() -> None:
    """A pipe named like another service ("dovecot unix" beside "dovecot inet"): removal
    finds it by name and type, not by the "[2]" match gives the second node."""
    content = (SAMPLES / "stock/debian12/master.cf").read_bytes() + (
        b"dovecot   inet  n       -       n       -       -       smtpd\n"
        b"dovecot   unix  -       n       n       -       -       pipe\n"
        b"  flags=DRhu user=vmail:vmail argv=/usr/lib/dovecot/deliver -d ${recipient}\n"
    )
    with ConfigTree("h", {FPATH: content}, {FPATH: postfix.MASTER_LENS}) as tree:
        postfix.remove_master_service(tree, FPATH, "dovecot", "unix")
        entries = postfix.master_entries(tree, FPATH)
        postfix.remove_master_service(tree, FPATH, "smtp", "unix")
        after = postfix.master_entries(tree, FPATH)
    assert [(e.name, e.type) for e in entries if e.name == "dovecot"] == [("dovecot", "inet")]
    assert [(e.name, e.type) for e in after if e.name == "smtp"] == [("smtp", "inet")]
