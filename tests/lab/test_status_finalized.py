"""status on a real finalized lab host: `finalized` (not `migrated`), the migration it followed
and what the next rollback undoes, as a line, as JSON, and in a fleet's lines, JSON and table;
a file edited since the finalize makes it drifted and its rollback needs --force (refused
without, nothing changed); rolled back, it is migrated again, then rolled back for good."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from migrator.cli import main

from .faults import sh
from .hostfiles import file_states
from .migrated_pair import RECIPIENT, Pair, migrated_pair

pytestmark = pytest.mark.lab

MASTER = "/etc/postfix/master.cf"
POSTFIX = ["/etc/postfix/main.cf", MASTER]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with migrated_pair("sf", tmp_path_factory.mktemp("plans")) as made:
        yield made


def undoing_finalize(final: str, migration: str) -> dict[str, Any]:
    """status's `rollback` on a finalized host, its files unchanged since the finalize."""
    return {
        "undoes": "finalize",
        "plan_id": final,
        "leaves": "migrated",
        "leaves_plan_id": migration,
        "needs_force": False,
        "edited": [],
    }


def _json(pair: Pair, *args: str) -> Any:
    ran = pair.cli("status", *args, "--json")
    assert ran.exit_code == 0, ran.output
    return json.loads(ran.output)


def _table(pair: Pair, hosts: str) -> str:
    """`status -i` as a terminal shows it (the table), colors removed."""
    common = ["--ssh-config", str(pair.lab.ssh_config), "--plans-dir", str(pair.cli.plans_dir)]
    env = {"TTY_COMPATIBLE": "1", "COLUMNS": "400"}
    ran = CliRunner().invoke(main, ["status", "-i", hosts, *common], env=env)
    assert ran.exit_code == 0, ran.output
    return ANSI.sub("", ran.output)


def test_a_finalized_host_is_finalized_and_its_rollback_undoes_the_finalize(pair: Pair) -> None:
    cli, host, lda = pair.cli, pair.migrated, pair.lda
    migration = cli.latest_plan(host).stem
    hosts = f"{host.name},{lda.name},"
    migrated = _json(pair, host.name)
    assert (migrated["state"], migrated["plan_id"]) == ("migrated", migration)
    assert migrated["rollback"]["undoes"] == "migration"

    done = cli("finalize", host.name, "--yes", "--test-recipient", RECIPIENT)
    assert done.exit_code == 0, done.output
    final = cli.latest_plan(host).stem
    line = cli("status", host.name)
    assert line.output.strip() == (
        f"{host.name}: finalized (plan {final}): the LDA pipe service is removed (after "
        f"migration {migration}); `migrator rollback {host.name}` would put it back and leave "
        "the host migrated, on LMTP"
    ), line.output
    one = _json(pair, host.name)
    assert (one["state"], one["plan_id"], one["migration_plan_id"]) == (
        "finalized",
        final,
        migration,
    )
    assert one["rollback"] == undoing_finalize(final, migration)

    # A fleet: one line per host, JSON per host, and on a terminal the table with its tally.
    lines = cli("status", "-i", hosts)
    assert [x.split(" (plan")[0] for x in lines.output.splitlines()] == [
        f"{host.name}: finalized",
        f"{lda.name}: clean",
    ], lines.output
    fleet = _json(pair, "-i", hosts)
    assert [(h["state"], h["rollback"] and h["rollback"]["undoes"]) for h in fleet] == [
        ("finalized", "finalize"),
        ("clean", None),
    ]
    table = _table(pair, hosts)
    assert "next rollback undoes" in table
    assert f"the finalize {final}: pipe service back, still migrated ({migration})" in table
    assert "1 finalized, 1 clean" in table

    # Edited since the finalize: drifted; the rollback it names needs --force, and refuses
    # without it, changing nothing.
    sh(pair.lab, host, f"echo '# by hand' >> {MASTER}")
    edited = file_states(pair.lab, host, POSTFIX)
    drifted = _json(pair, host.name)
    assert drifted["state"] == "drifted since apply"
    assert drifted["detail"].startswith(f"changed since finalize: {MASTER}; ")
    assert (drifted["rollback"]["needs_force"], drifted["rollback"]["edited"]) == (True, [MASTER])
    refused = cli("rollback", host.name)
    assert refused.exit_code == 1 and "--force" in refused.output, refused.output
    assert file_states(pair.lab, host, POSTFIX) == edited

    forced = cli("rollback", host.name, "--force")
    assert forced.exit_code == 0, forced.output
    back = _json(pair, host.name)
    assert (back["state"], back["plan_id"], back["migration_plan_id"]) == (
        "migrated",
        migration,
        "",
    )
    assert (back["rollback"]["undoes"], back["rollback"]["leaves"]) == ("migration", "rolled back")
    assert cli("status", host.name).output.strip() == f"{host.name}: migrated (plan {migration})"

    undone = cli("rollback", host.name)
    assert undone.exit_code == 0, undone.output
    last = _json(pair, host.name)
    assert (last["state"], last["rollback"]) == ("rolled back", None)


def test_finalize_on_the_finalized_host_is_accepted_with_nothing_to_do(pair: Pair) -> None:
    """The LDA host migrated then finalized: finalize again plans no changes (finalized
    passes finalize's check, as migrated does)."""
    cli, host = pair.cli, pair.lda
    cli.migrate(host, RECIPIENT)
    assert cli("finalize", host.name, "--yes", "--test-recipient", RECIPIENT).exit_code == 0
    assert _json(pair, host.name)["state"] == "finalized"
    again = cli("finalize", host.name, "--yes", "--test-recipient", RECIPIENT)
    assert again.exit_code == 0 and "no changes" in again.output, again.output
    assert _json(pair, host.name)["state"] == "finalized"
