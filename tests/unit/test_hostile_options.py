"""--lmtp values that Postfix or Dovecot would read otherwise than migrator: port 0 (a random
port for Dovecot), past 65535, a leading zero, digits Python's isdigit takes but Postfix does
not ("٢٤"), an IPv6 address without brackets (Postfix splits host and port at its colons).
Each is one line naming the option before any file is planned; a plan file carrying such an
endpoint is refused too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main
from migrator.endpoint import Endpoint, is_port
from migrator.errors import PlanError
from migrator.plan.document import Plan
from tests.unit.test_plan_schema import forge

FIXTURE = Path(__file__).parents[2] / "fixtures" / "hosts" / "virtual-lda"
PORT = "the port must be a number from 1 to 65535"
BAD = [
    ("inet:127.0.0.1:0", PORT),
    ("inet:127.0.0.1:65536", PORT),
    ("inet:127.0.0.1:99999999999999999999", PORT),
    ("inet:127.0.0.1:024", PORT),
    ("inet:127.0.0.1:\u0662\u0664", PORT),
    ("inet:127.0.0.1:\uff12\uff14", PORT),
    ("inet:::1:24", "an IPv6 address goes in brackets: inet:[::1]:PORT"),
    ("inet:[::1:24", "address must be an IP address, not '[::1'"),
]


@pytest.mark.parametrize(("value", "message"), BAD, ids=[v for v, _ in BAD])
def test_a_bad_lmtp_value_is_refused_before_planning(
    tmp_path: Path, value: str, message: str
) -> None:
    plans = tmp_path / "plans"
    argv = ["plan", "--root", str(FIXTURE), "--plans-dir", str(plans), "--lmtp", value]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and message in result.output, result.output
    assert not plans.exists()


@pytest.mark.parametrize("value", ["inet:127.0.0.1:24", "inet:[::1]:2424", "inet:[127.0.0.1]:1"])
def test_good_lmtp_values_still_plan(value: str) -> None:
    endpoint = Endpoint.from_option(value, "/var/spool/postfix", allow_remote=False)
    assert endpoint.postfix == f"lmtp:{value}" and is_port(endpoint.port or "")


@pytest.mark.parametrize("port", ["0", "024", "\u0662\u0664", "65536"])
def test_a_plan_file_with_such_a_port_is_refused(tmp_path: Path, port: str) -> None:
    result = CliRunner().invoke(
        main, ["plan", "--root", str(FIXTURE), "--json", "--lmtp", "inet:127.0.0.1:24"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)

    def retarget(plan: dict[str, object]) -> None:
        text = json.dumps(plan).replace("127.0.0.1:24", f"127.0.0.1:{port}")
        text = text.replace('"port": "24"', f'"port": "{port}"')
        plan.clear()
        plan.update(json.loads(text))

    assert Plan.from_dict(forge(data, lambda plan: None), host="virtual-lda").has_changes
    with pytest.raises(PlanError, match=f"endpoint: .*127.0.0.1:{port}' is not a host and port"):
        Plan.from_dict(forge(data, retarget), host="virtual-lda")


MASKS = ["-A@example.test", "--help@example.test", "*@example.test", "al?ce@example.test", "a*"]


@pytest.mark.parametrize("recipient", MASKS)
def test_a_recipient_doveadm_reads_as_an_option_or_a_user_mask_is_refused(
    tmp_path: Path, recipient: str
) -> None:
    """RFC 5321 allows them; `doveadm user *@example.test` lists every user, and the test
    delivery's cleanup (`doveadm expunge -u RECIPIENT`) would visit each one."""
    address = recipient if "@" in recipient else f"{recipient}@example.test"
    for command in ("plan", "apply"):
        argv = [command, "mx1", "--test-recipient", address, "--plans-dir", str(tmp_path)]
        result = CliRunner().invoke(main, argv)
        assert result.exit_code == 64, result.output
        assert "which doveadm takes for an option or mask" in result.output.splitlines()[-1]
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(f"all:\n  hosts:\n    mx1:\n      migrator_test_recipient: '{address}'\n")
    listed = CliRunner().invoke(main, ["plan", "-i", str(inventory), "--list-hosts"])
    assert f"{inventory}:4: migrator_test_recipient: test recipient" in listed.output
    assert "doveadm takes for an option or mask" in listed.output


@pytest.mark.parametrize("recipient", ["a-b@example.test", "a+tag@example.test", "x-@example.test"])
def test_dashes_and_tags_inside_a_recipient_are_still_fine(recipient: str) -> None:
    result = CliRunner().invoke(main, ["plan", "--root", str(FIXTURE), "--no-save",
                                       "--test-recipient", recipient])  # fmt: skip
    assert result.exit_code == 0, result.output
