"""`migrator plan` over real SSH on lab hosts: same plan as --root, host untouched, keys checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.errors import HostKeyError
from migrator.facts import FactOverrides, UserdbAnswer
from migrator.plan import Plan, build_plan
from migrator.rules import Options
from migrator.snapshot import read_host
from migrator.transport import connect
from migrator.transport.local import LocalTransport
from tests.lab.conftest import LabFactory, ssh_client, ssh_run

pytestmark = pytest.mark.lab
HASH_FILES = "find /etc/postfix /etc/dovecot -type f -print0 | sort -z | xargs -0 sha256sum"


def _comparable(plan: Plan) -> tuple[object, ...]:
    files = tuple((f.path, f.sha256_before, f.sha256_after, f.diff) for f in plan.files)
    return files, plan.changes, plan.settings_diff, plan.endpoint


@pytest.mark.parametrize("profile", ["virtual-lda", "system-lda"])
def test_plan_over_ssh_matches_root_and_changes_nothing(
    profile: str, make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab(profile, prefix="p")
    host = lab.hosts[0]
    client = ssh_client(lab, host)
    _, before = ssh_run(client, HASH_FILES)
    options = Options(test_recipient="alice@example.test")
    transport = connect(host.name, ssh_config=lab.ssh_config)
    try:
        live = build_plan(transport, options)
        files = transport.read_files([f.path for f in live.files])
    finally:
        transport.close()
    _, after = ssh_run(client, HASH_FILES)
    client.close()
    assert before == after, "planning changed files on the host"
    assert live.has_changes and live.facts["live"]

    # The same files as a directory root, with the live facts a directory cannot give.
    tree = tmp_path / "root"
    copy = connect(host.name, ssh_config=lab.ssh_config)
    try:
        _, snapshot = read_host(copy, "alice@example.test")
    finally:
        copy.close()
    for path, data in snapshot.files.items():
        if data.content is not None:
            target = tree / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.content)
    userdb = live.facts["userdb"]
    overrides = FactOverrides(
        dovecot_version=live.facts["dovecot_version"],
        lmtp_binary=live.facts["lmtp_binary"],
        lmtp_binary_known=True,
        protocols_default=live.facts["protocols_default"],
        userdb=None if userdb is None else _answer(userdb),
    )
    offline = build_plan(LocalTransport(tree, host.name), options, overrides=overrides)
    assert _comparable(offline) == _comparable(live)
    assert all(files[f.path].content is not None for f in live.files)


def _answer(userdb: dict[str, object]) -> UserdbAnswer:
    return UserdbAnswer(
        str(userdb["recipient"]),
        bool(userdb["exists"]),
        None if userdb["uid"] is None else str(userdb["uid"]),
        None if userdb["gid"] is None else str(userdb["gid"]),
    )


def test_unknown_host_key_is_refused(make_lab: LabFactory, tmp_path: Path) -> None:
    lab = make_lab("virtual-lda", prefix="k")
    host = lab.hosts[0]
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = tmp_path / "ssh_config"
    config.write_text(lab.ssh_config.read_text().replace(str(lab.known_hosts), str(empty)))
    transport = connect(host.name, ssh_config=config)
    try:
        with pytest.raises(HostKeyError):
            build_plan(transport, Options())
    finally:
        transport.close()
