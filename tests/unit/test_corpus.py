"""The corpus of public configurations (fixtures/corpus/), each planned as `migrator plan --root`.

Every case is a host root built from a published configuration (SOURCE.yaml says where from)
and an expected.yaml saying what a mail admin would expect: `changes`, `no changes` or
`refused` (with a fragment of the reason). A planned tree must pass the real `postconf -n`
and `doveconf -n` and plan again to no changes. Cases migrator gets wrong today carry
`known_failure: "class N: ..."` and run as strict xfail, so a fix that makes one pass fails
the suite until its mark is removed. A new case is a new directory; no code.

Planning goes through one entry point, the `migrator` command line (`_plan`), so that moving
modules inside the package does not touch this file.

The daemons that judge are those of the Debian release that reads the case's Dovecot syntax
(`dovecot:`, 2.3 unless said: bookworm; 2.4: trixie), run from the lab's release roots on the
tree, never this machine's own packages; doveconf does not judge cases whose `doveconf_needs`
names something the root lacks (a plugin package, a system user).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from migrator.cli import main
from tests.unit.hosts import MOUNT, ReleaseTools, confine_includes

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
CASE_FILES = {"SOURCE.yaml", "expected.yaml"}
OUTCOMES = {"changes", "no changes", "refused"}


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    source: dict[str, Any]
    expect: dict[str, Any]

    @property
    def dovecot_syntax(self) -> str:
        return str(self.expect.get("dovecot", "2.3"))


@dataclass(frozen=True)
class Outcome:
    kind: str  # changes, no changes, refused, crashed
    message: str
    plan: dict[str, Any] | None


def corpus_cases() -> list[Case]:
    return [
        Case(
            d.name,
            d,
            yaml.safe_load((d / "SOURCE.yaml").read_text()),
            yaml.safe_load((d / "expected.yaml").read_text()),
        )
        for d in sorted(CORPUS.iterdir())
        if (d / "expected.yaml").is_file() and not d.name.startswith("_")
    ]


def _params(cases: list[Case]) -> list[Any]:
    params = []
    for case in cases:
        known = case.expect.get("known_failure")
        marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


CASES = corpus_cases()


def compose(case: Case, target: Path) -> Path:
    """The case's host root in ``target``: its ``base`` (shared stock files) overlaid by its own."""
    base = case.source.get("base")
    if base:
        shutil.copytree(
            CORPUS / base, target, symlinks=True, ignore=shutil.ignore_patterns(*CASE_FILES)
        )
        for relative in case.source.get("remove_from_base", []):
            path = target / relative
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    _overlay(case.path, target)
    _age(target)
    return target


def _overlay(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target``; symlinks stay links (some hosts link their config in)."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if relative.parts[0] in CASE_FILES:
            continue
        dest = target / relative
        if path.is_dir() and not path.is_symlink():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            dest.symlink_to(os.readlink(path))
        else:
            shutil.copy2(path, dest)


def _age(root: Path) -> None:
    # Postfix waits (0.3 s a try) before reading a main.cf modified within the last seconds.
    old = time.time() - 60
    for path in root.rglob("*"):
        os.utime(path, (old, old), follow_symlinks=False)


def _plan(root: Path, case: Case, tmp_path: Path) -> Outcome:
    """Plan ``root`` exactly as `migrator plan --root ROOT --json --no-save` does."""
    argv = ["plan", "--root", str(root), "--json", "--no-save"]
    for name, value in case.expect.get("options", {}).items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    if "facts" in case.expect:
        facts = tmp_path / f"{root.name}-facts.yaml"
        facts.write_text(yaml.safe_dump({"facts": case.expect["facts"]}))
        argv += ["--facts", str(facts)]
    result = CliRunner().invoke(main, argv)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return Outcome("crashed", repr(result.exception), None)
    if result.exit_code != 0:
        return Outcome("refused", result.stderr.strip(), None)
    plan = json.loads(result.stdout)
    summaries = "; ".join(change["summary"] for change in plan["changes"])
    return Outcome("changes" if plan["files"] else "no changes", summaries, plan)


def _write_out(root: Path, plan: dict[str, Any], target: Path) -> Path:
    shutil.copytree(root, target, symlinks=True)
    for change in plan["files"]:
        (target / change["path"].lstrip("/")).write_text(change["content_after"])
    _age(target)
    return target


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


RELEASE_OF_SYNTAX = {"2.3": "bookworm", "2.4": "trixie"}


def _tools(root: Path, case: Case) -> ReleaseTools:
    """The postconf/doveconf of the Debian release that reads the case's Dovecot syntax, run
    from the lab's release root on the tree (never this machine's own packages)."""
    conf = str(case.expect.get("dovecot_conf", "etc/dovecot/dovecot.conf"))
    if (root / conf).is_file():
        confine_includes(root, conf, MOUNT)
    return ReleaseTools(RELEASE_OF_SYNTAX[case.dovecot_syntax], root)


def _check_postfix(tools: ReleaseTools, case: Case) -> str:
    """postconf -n and -M on the case's Postfix directory; warnings are fine, errors are not."""
    directory = f"{MOUNT}/" + str(case.expect.get("postfix_dir", "etc/postfix"))
    for argv in (["postconf", "-c", directory, "-n"], ["postconf", "-c", directory, "-M"]):
        tools.run(argv)
    return directory


def _check_dovecot(tools: ReleaseTools, case: Case) -> str | None:
    """doveconf -n on the case's dovecot.conf, unless ``doveconf_needs`` names something the
    release root lacks (a plugin package, a system user): it would reject the original too."""
    conf = str(case.expect.get("dovecot_conf", "etc/dovecot/dovecot.conf"))
    if not (tools.tree / conf).is_file() or case.expect.get("doveconf_needs"):
        return None
    tools.run(["doveconf", "-c", f"{MOUNT}/{conf}", "-n"])
    return f"{MOUNT}/{conf}"


def test_corpus_has_cases() -> None:
    """At least 50 cases, each with a known outcome, a source, and a base that exists."""
    assert len(CASES) >= 50
    for case in CASES:
        assert case.expect["outcome"] in OUTCOMES, case.name
        assert case.expect["outcome"] != "refused" or case.expect.get("reason"), case.name
        assert {"source", "represents"} <= set(case.source), case.name
        base = case.source.get("base")
        assert base is None or (CORPUS / base).is_dir(), case.name


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_input_is_valid(case: Case, tmp_path: Path) -> None:
    """The collected configuration itself is accepted by the daemons (where they can judge it)."""
    tools = _tools(compose(case, tmp_path / "host"), case)
    _check_postfix(tools, case)
    _check_dovecot(tools, case)


@pytest.mark.parametrize("case", _params(CASES))
def test_corpus_case(case: Case, tmp_path: Path) -> None:
    """Plan the case; check the outcome, the planned tree with the daemons, and idempotence."""
    root = compose(case, tmp_path / "host")
    outcome = _plan(root, case, tmp_path)
    expected = case.expect["outcome"]
    assert outcome.kind == expected, f"{outcome.kind}: {outcome.message}"
    if expected == "refused":
        assert case.expect["reason"] in outcome.message
        return
    if expected == "no changes" or outcome.plan is None:
        return
    for fragment in case.expect.get("warnings", []):
        assert any(fragment in w for w in outcome.plan["warnings"]), fragment
    if "postmaps" in case.expect:
        maps = [s["args"]["map"] for s in outcome.plan["steps"] if s["action"] == "postmap"]
        assert maps == case.expect["postmaps"]
    after = _write_out(root, outcome.plan, tmp_path / "after")
    again = _plan(after, case, tmp_path)
    tools = _tools(after, case)
    directory = _check_postfix(tools, case)
    for name, value in case.expect.get("postfix", {}).items():
        assert tools.run(["postconf", "-c", directory, "-h", name]).strip() == value, name
    for service, line in case.expect.get("services", {}).items():
        found = tools.run(["postconf", "-c", directory, "-M", service]).split()
        assert found == line.split(), service
    conf = _check_dovecot(tools, case)
    for filter_, settings in case.expect.get("doveconf", {}).items() if conf else ():
        argv = ["doveconf", "-c", conf] + (["-f", filter_] if filter_ else [])
        for key, value in settings.items():
            assert tools.run([*argv, "-h", key]).strip() == value, f"{filter_} {key}"
    assert again.kind == "no changes", f"replanned: {again.kind}: {again.message}"
