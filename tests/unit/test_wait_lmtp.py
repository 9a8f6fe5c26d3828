"""apply waits for LMTP deliveries in flight before it reloads Dovecot exactly when the host
has LMTP deliveries possible before the switch: decided at plan time, shown as a step with
its reason; a plan without the step (an older one) loads and applies as before."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from migrator.errors import PlanError
from migrator.executor.apply import Outcome, apply_plan
from migrator.plan.document import Plan, Step, _checksum
from tests.unit.executor_host import APPLY, host
from tests.unit.hosts import fixture_hosts, variant

HOSTS = {h.name: h for h in fixture_hosts()}
MAIN = "etc/postfix/main.cf"
MASTER = "etc/dovecot/conf.d/10-master.conf"
LISTENER = (
    "service lmtp {\n  unix_listener /var/spool/postfix/private/dovecot-lmtp {\n"
    "    mode = 0600\n    user = postfix\n    group = postfix\n  }\n}\n"
)


def _wait(plan: Plan) -> Step | None:
    return next((s for s in plan.steps if s.action == "wait_lmtp"), None)


def test_no_lmtp_before_the_switch_no_wait() -> None:
    """Debian's own socket in Dovecot's base_dir (protocols has lmtp) is no use of LMTP."""
    for name in ("virtual-lda", "transport-maps", "system-lda", "dovecot24-virtual-lda"):
        plan = HOSTS[name].plan()
        assert "lmtp" in plan.facts["delivery"]["protocols"].split() or name == "system-lda"
        assert _wait(plan) is None, name


def test_a_transport_already_on_lmtp_gets_the_wait(tmp_path: Path) -> None:
    edits = {
        MAIN: ("", "transport_maps = hash:/etc/postfix/transport\n"),
        "etc/postfix/transport": ("", "bob@example.test lmtp:unix:private/dovecot-lmtp\n"),
        MASTER: ("", LISTENER),
    }
    plan = variant(HOSTS["virtual-lda"], tmp_path / "host", edits)
    step = _wait(plan)
    assert step is not None
    assert step.args["seconds"] == "30"
    assert step.args["in_use"] == (
        "Postfix already hands mail to Dovecot over LMTP: bob@example.test = "
        "lmtp:unix:private/dovecot-lmtp (/etc/postfix/transport); Dovecot already serves "
        "LMTP on /var/spool/postfix/private/dovecot-lmtp"
    )
    actions = [s.action for s in plan.steps]
    assert actions.index("validate_dovecot") < actions.index("wait_lmtp")
    assert actions.index("wait_lmtp") + 1 == actions.index("reload_dovecot")
    said = plan.describe(step)
    assert said.startswith("reload Postfix (its files not yet written)")
    assert said.endswith(step.args["in_use"])
    assert Plan.from_dict(json.loads(plan.to_json())) == plan


@pytest.mark.parametrize(
    ("listener", "shown"),
    [
        (LISTENER, "/var/spool/postfix/private/dovecot-lmtp"),
        ("service lmtp {\n  inet_listener lmtp {\n    port = 24\n  }\n}\n", "*:24"),
    ],
)
def test_a_listener_already_configured_gets_the_wait(
    tmp_path: Path, listener: str, shown: str
) -> None:
    plan = variant(HOSTS["virtual-lda"], tmp_path / "host", {MASTER: ("", listener)})
    step = _wait(plan)
    assert step is not None and step.args["in_use"] == f"Dovecot already serves LMTP on {shown}"


def test_a_listener_without_lmtp_in_protocols_is_not_served(tmp_path: Path) -> None:
    edits = {MASTER: ("", f"{LISTENER}protocols = imap\n")}
    plan = variant(HOSTS["virtual-lda"], tmp_path / "host", edits)
    assert _wait(plan) is None


@pytest.mark.parametrize("seconds", ["0", "301", "30s", "-1", ""])
def test_a_forged_wait_is_refused(seconds: str) -> None:
    _, plan = host()
    steps = list(plan.steps)
    steps.insert(2, Step("wait_lmtp", {"seconds": seconds, "in_use": "forged"}))
    data = json.loads(replace(plan, steps=tuple(steps)).to_json())
    data.pop("checksum")
    data["checksum"] = _checksum(data)
    with pytest.raises(PlanError, match=r"steps\[2\]\.args\.seconds"):
        Plan.from_dict(data)


def test_apply_reloads_postfix_and_waits_before_dovecot_reloads() -> None:
    fake, plan = host()
    at = [s.action for s in plan.steps].index("reload_dovecot")
    steps = list(plan.steps)
    steps.insert(at, Step("wait_lmtp", {"seconds": "30", "in_use": "Dovecot already serves"}))
    report = apply_plan(fake, replace(plan, steps=tuple(steps)), APPLY)
    assert report.outcome is Outcome.APPLIED, report
    [drain] = [c for c in fake.state.commands if c.kind == "wait_lmtp"]
    [reload] = [c for c in fake.state.commands if c.kind == "reload_postfix"]
    assert drain.argv[4:] == ("300", *reload.argv)  # Postfix reloaded as the host does it
    events = fake.state.events
    assert events.index(("wait_lmtp", "")) < events.index(("reload_dovecot", ""))
    timed = [t.action for t in report.steps]
    assert timed.index("wait_lmtp") + 1 == timed.index("reload_dovecot")
