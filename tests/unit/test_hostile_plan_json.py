"""A plan file whose JSON says one thing to its reviewer and another to migrator: a key given
twice in one object (json takes the last; a person, jq or a diff in the ops repository may
read the first). Refused in one line by `show` and `apply --plan`, checksum or not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from tests.unit.test_plan_schema import forge

FIXTURE = Path(__file__).parents[2] / "fixtures" / "hosts" / "virtual-lda"
# (the key, what the reviewer is shown first): the host, a file's new content, the path a
# step writes, a fact, the checksum itself.
TWICE = [
    ("host", '"mx2"'),
    ("content_after", '"myhostname = mx1\\n"'),
    ("path", '"/etc/postfix/main.cf.reviewed"'),
    ("config_directory", '"/etc/postfix"'),
    ("checksum", '"0000"'),
]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("twice")
    shutil.copytree(FIXTURE, base / "mx1")
    result = CliRunner().invoke(
        main, ["plan", "--root", str(base / "mx1"), "--plans-dir", str(base / "plans")]
    )
    assert result.exit_code == 0, result.output
    return next((base / "plans" / "mx1").glob("*.json"))


@pytest.mark.parametrize(("key", "first"), TWICE, ids=[key for key, _ in TWICE])
def test_a_key_given_twice_is_refused_by_show_and_apply(
    saved: Path, tmp_path: Path, key: str, first: str
) -> None:
    text = json.dumps(forge(json.loads(saved.read_text()), lambda data: None), indent=2)
    assert f'"{key}": ' in text
    forged = tmp_path / "forged.json"
    forged.write_text(text.replace(f'"{key}": ', f'"{key}": {first}, "{key}": ', 1))
    forged.chmod(0o600)
    for argv in (["show", str(forged)], ["apply", "mx1", "--plan", str(forged)]):
        result = CliRunner().invoke(main, argv)
        assert result.exit_code == 1, result.output
        assert result.output == (
            f"migrator: error: {'mx1: ' if argv[0] == 'apply' else ''}{forged}: cannot read "
            f"plan: key {key!r} appears twice in one object\n"
        )


def test_the_plan_as_saved_still_shows(saved: Path) -> None:
    result = CliRunner().invoke(main, ["show", str(saved)])
    assert result.exit_code == 0, result.output
    assert "+virtual_transport = lmtp:unix:private/dovecot-lmtp" in result.output
