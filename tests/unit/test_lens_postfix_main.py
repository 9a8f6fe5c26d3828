"""The project's main.cf lens, side by side with the stock Postfix_Main and with postconf.

The files read here: Debian 11's, 12's and 13's stock main.cf (each release's installed
/etc/postfix/main.cf, and /usr/share/postfix/main.cf.dist and main.cf.debian from its postfix
package) under lens_samples/stock/, samples of what Postfix accepts and the stock lens refuses
under lens_samples/main/, and every fixture host's and corpus case's main.cf.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from augeas import Augeas

from migrator.config import postfix
from migrator.config.tree import ConfigTree
from migrator.errors import ConfigParseError
from migrator.lenses import POSTFIX_MAIN_LENS
from tests.unit import lens_files
from tests.unit.hosts import MOUNT, ReleaseTools

SAMPLES = Path(__file__).parent / "lens_samples"
STOCK = sorted((SAMPLES / "stock").glob("debian*/main.cf*"))
HOSTILE = sorted((SAMPLES / "main").glob("*.cf"))
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("*/*/**/postfix/main.cf"))
FPATH = "/etc/postfix/main.cf"
RELEASES = {"debian11": "bullseye", "debian12": "bookworm", "debian13": "trixie"}


def _mine(root: Path) -> Augeas:
    return lens_files.open_lens(root, POSTFIX_MAIN_LENS, FPATH)


def _key(src: Path) -> str:
    return str(src.relative_to(SAMPLES if src.is_relative_to(SAMPLES) else FIXTURES))


DEBUGGER = (
    "\n\t PATH=/bin:/usr/bin:/usr/local/bin:/usr/X11R6/bin"
    "\n\t ddd $daemon_directory/$process_name $process_id & sleep 5"
)
"""main.cf.dist's only parameter set (its others are commented out) starts on the next line."""


# -- the stock Debian files ---------------------------------------------------------------


@pytest.mark.parametrize("src", STOCK, ids=_key)
def test_stock_file_same_tree_as_stock_lens_and_same_bytes(src: Path, tmp_path: Path) -> None:
    dest = lens_files.copy_in(src, tmp_path, FPATH)
    stock, mine = lens_files.open_lens(tmp_path, "Postfix_Main", FPATH), _mine(tmp_path)
    assert lens_files.errors(stock) == lens_files.errors(mine) == []
    ours, theirs = lens_files.tree(mine, f"/files{FPATH}"), lens_files.tree(stock, f"/files{FPATH}")
    # one difference by design: a value starting on the next line keeps its line break
    broken = [(label, value) for label, value in ours if (value or "")[:1] == "\n"]
    assert broken == ([("debugger_command", DEBUGGER)] if src.name == "main.cf.dist" else [])
    assert [(label, (value or "").lstrip() or value) for label, value in ours] == theirs
    lens_files.rewrite(mine, FPATH)
    assert dest.read_bytes() == src.read_bytes()


# -- what Postfix accepts and the stock lens refuses, one sample file per class -----------


@pytest.mark.parametrize("src", HOSTILE, ids=lambda p: p.name)
def test_sample_tree_and_round_trip(src: Path, tmp_path: Path) -> None:
    dest = lens_files.copy_in(src, tmp_path, FPATH)
    stock = lens_files.open_lens(tmp_path, "Postfix_Main", FPATH)
    assert lens_files.errors(stock) != [], "the stock lens should refuse it"
    lens_files.assert_reads_as_sampled(_mine(tmp_path), src, dest, FPATH)


# -- side by side with Postfix's own parser ------------------------------------------------


def postconf_params(done_stdout: str, done_stderr: str) -> dict[str, str]:
    """What ``postconf -n`` read: the known parameters it prints and the unknown ones it
    warns about ("unused parameter: name=value"), blanks squeezed; postconf's own
    config_directory (from -c) left out."""
    params = {}
    for line in done_stdout.splitlines():
        name, _, value = line.partition(" =")
        params[name] = value
    for line in done_stderr.splitlines():
        _, found, rest = line.partition(": unused parameter: ")
        if found:
            name, _, value = rest.partition("=")
            params[name] = value
    params.pop("config_directory", None)
    return {name: " ".join(value.split()) for name, value in params.items()}


def judge_main_cf(release: str, texts: dict[str, bytes], tree: Path) -> dict[str, tuple[int, str]]:
    """``postconf -n`` on each main.cf text by one release's Postfix (its lab root, never this
    machine's), all in one chroot: key -> (exit status, params as printed, or the error)."""
    commands = {}
    for index, (key, text) in enumerate(texts.items()):
        conf = tree / f"c{index}"
        conf.mkdir()
        (conf / "main.cf").write_bytes(text)
        (conf / "master.cf").write_text("")
        # Postfix waits (0.3 s a try) before reading a main.cf modified in the last seconds
        os.utime(conf / "main.cf", (0, 0))
        commands[key] = ["postconf", "-c", f"{MOUNT}/c{index}", "-n"]
    done = ReleaseTools(release, tree).attempt_many(commands)
    return {
        key: (run.returncode, json.dumps(postconf_params(run.stdout, run.stderr), sort_keys=True))
        if run.returncode == 0
        else (run.returncode, run.stderr)
        for key, run in done.items()
    }


@pytest.fixture(scope="module")
def postconf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    """Every stock file by its own release's Postfix, the samples by each of the three, the
    fixtures' by Debian 12's."""
    judged: dict[str, tuple[int, str]] = {}
    for label, release in RELEASES.items():
        texts = {_key(s): s.read_bytes() for s in STOCK if s.parent.name == label}
        texts |= {f"{release}:{_key(s)}": s.read_bytes() for s in HOSTILE}
        if release == "bookworm":
            texts |= {_key(s): s.read_bytes() for s in FIXTURE_FILES}
        judged |= judge_main_cf(release, texts, tmp_path_factory.mktemp(release))
    return judged


def _lens_params(root: Path) -> dict[str, str]:
    content = (root / FPATH.lstrip("/")).read_bytes()
    with ConfigTree("h", {FPATH: content}, {FPATH: postfix.MAIN_LENS}) as tree:
        return postfix.main_params(tree, FPATH)


@pytest.mark.parametrize(
    "src, key",
    [
        *((s, _key(s)) for s in STOCK),
        *((s, f"{r}:{_key(s)}") for s in HOSTILE for r in RELEASES.values()),
        *((s, _key(s)) for s in FIXTURE_FILES),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_params_as_postfix_reads_them(
    src: Path, key: str, tmp_path: Path, postconf: dict[str, tuple[int, str]]
) -> None:
    """Each parameter, through migrator's own reading (parse_main), is what ``postconf -n``
    prints (blanks squeezed: a continuation's indent is a blank to Postfix); a file Postfix
    refuses (one fixture host's), migrator refuses too."""
    status, out = postconf[key]
    lens_files.copy_in(src, tmp_path, FPATH)
    if status != 0:
        assert "broken-input" in key, out
        with pytest.raises(ConfigParseError):
            _lens_params(tmp_path)
        return
    assert _lens_params(tmp_path) == json.loads(out)


# -- edits through migrator's own tree ----------------------------------------------------


def _edit(name: str, value: str | None) -> tuple[str, str]:
    """comments-inside.cf before and after setting (or, with None, removing) ``name``."""
    content = (SAMPLES / "main/comments-inside.cf").read_bytes()
    with ConfigTree("h", {FPATH: content}, {FPATH: postfix.MAIN_LENS}) as tree:
        if value is None:
            postfix.remove_main_param(tree, FPATH, name)
        else:
            postfix.set_main_param(tree, FPATH, name, value)
        after = tree.save()[FPATH]
    return content.decode(), after.decode()


RESTRICTIONS = """\
smtpd_recipient_restrictions =
    permit_mynetworks,
# the SASL users may relay
    permit_sasl_authenticated,

    reject_unauth_destination,
  # indented comment line
#
    check_policy_service unix:private/policyd-spf
"""


def test_edit_of_another_parameter_keeps_comments_inside_values() -> None:
    before, after = _edit("virtual_transport", "lmtp:unix:private/dovecot-lmtp")
    assert after == before + "virtual_transport = lmtp:unix:private/dovecot-lmtp\n"
    before, after = _edit("relayhost", "[relay.example.net]:25")
    assert after == before.replace(
        "relayhost =\n    [smtp.example.net]:587\n", "relayhost =\n    [relay.example.net]:25\n"
    )


def test_edit_of_a_value_with_comments_keeps_them_after_it() -> None:
    """The new value is written whole where the old one started (here, the next line); each
    comment line that was inside the old value follows it, in order (a bare "#" goes with
    the old value)."""
    before, after = _edit("smtpd_recipient_restrictions", "permit_mynetworks, reject")
    assert RESTRICTIONS in before
    assert after == before.replace(
        RESTRICTIONS,
        "smtpd_recipient_restrictions =\n    permit_mynetworks, reject\n"
        "# the SASL users may relay\n"
        "# indented comment line\n",
    )


def test_removed_parameter_goes_with_the_comment_lines_inside_its_value() -> None:
    before, after = _edit("mydestination", None)
    assert after == before.replace(
        "mydestination =\n# the value starts after this comment\n  $myhostname, localhost\n", ""
    )


def test_edit_of_a_value_starting_after_a_comment_line() -> None:
    before, after = _edit("mydestination", "$myhostname")
    assert after == before.replace(
        "mydestination =\n# the value starts after this comment\n  $myhostname, localhost\n",
        "mydestination = $myhostname\n# the value starts after this comment\n",
    )


def test_value_postfix_would_read_otherwise_fails_the_save() -> None:
    """A new line not indented would be a parameter to Postfix, an indented "#" a comment."""
    content = (SAMPLES / "main/comments-inside.cf").read_bytes()
    for value in ("a,\nb = c", "a,\n  # b"):
        with ConfigTree("h", {FPATH: content}, {FPATH: postfix.MAIN_LENS}) as tree:
            postfix.set_main_param(tree, FPATH, "relayhost", value)
            with pytest.raises(ConfigParseError):
                tree.save()
    with ConfigTree("h", {FPATH: content}, {FPATH: postfix.MAIN_LENS}) as tree:
        postfix.set_main_param(tree, FPATH, "myhostname", "a,\n  b")
        assert b"myhostname = a,\n  b\n" in tree.save()[FPATH]


def test_config_tree_reads_values_cut_by_comments_whole() -> None:
    content = (SAMPLES / "main/comments-inside.cf").read_bytes()
    with ConfigTree("h", {FPATH: content}, {FPATH: postfix.MAIN_LENS}) as tree:
        main = postfix.parse_main(tree, FPATH)
    assert main.params["smtpd_recipient_restrictions"] == (
        "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, "
        "check_policy_service unix:private/policyd-spf"
    )
    assert main.params["mydestination"] == "$myhostname, localhost"
    assert main.lines["mydestination"] == 14


def test_parameter_set_twice_reads_as_its_last_setting() -> None:
    """Postfix takes the last one ("overriding earlier entry"); match names the nodes
    "name[1]", "name[2]", which migrator read as two other parameters."""
    content = b"myorigin = /etc/mailname\nmyhostname = x\nmyorigin =\n  $mydomain\n"
    with ConfigTree("h", {FPATH: content}, {FPATH: postfix.MAIN_LENS}) as tree:
        main = postfix.parse_main(tree, FPATH)
        postfix.set_main_param(tree, FPATH, "myorigin", "$myhostname")
        after = tree.save()[FPATH]
    assert dict(main.params) == {"myorigin": "$mydomain", "myhostname": "x"}
    assert main.lines["myorigin"] == 3
    assert after == content.replace(b"  $mydomain", b"  $myhostname")
