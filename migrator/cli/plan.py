"""`migrator plan [HOST]`: read a host, plan its LDA -> LMTP switch, show and save the plan."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml
from rich.console import Console

from migrator.cli.fleet import fleet_options
from migrator.cli.host_options import reach, recipient_option, ssh_options
from migrator.cli.list_hosts import list_hosts_option
from migrator.cli.run_log import RunLog, run_log_option
from migrator.cli.trust_options import plan_key_option, signing_key
from migrator.errors import UsageError
from migrator.exit_status import ExitStatus
from migrator.host.fact_overrides import overrides_from_mapping
from migrator.host.facts import FactOverrides
from migrator.plan.build import build_plan
from migrator.plan.document import Plan
from migrator.plan.store import save_plan
from migrator.rules.switch import Options
from migrator.transport.base import Transport
from migrator.transport.local import LocalTransport


@click.command()
@click.argument("host", required=False)
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Plan a directory laid out like the host's root instead of reaching HOST.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the plan document as JSON (secret values masked; apply takes the saved file).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 for no changes, 2 for changes, 1 for an error.",
)
@click.option("--no-save", is_flag=True, help="Do not save the plan.")
@click.option(
    "--lmtp",
    default="unix",
    show_default=True,
    help="unix (socket in Postfix's queue directory) or inet:127.0.0.1:24.",
)
@click.option(
    "--allow-remote-lmtp", is_flag=True, help="Allow an --lmtp inet address that is not loopback."
)
@click.option(
    "--test-recipient",
    metavar="ADDR",
    callback=recipient_option,
    help="Recipient to ask the userdb about (and to probe at apply).",
)
@click.option(
    "--facts",
    "facts_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --root: a YAML file of live facts a directory cannot give (dovecot_version, "
    "lmtp_binary, userdb: {recipient, uid, gid}); see fixtures/hosts/README.md.",
)
@plan_key_option
@ssh_options
@list_hosts_option
@run_log_option("plan")
@fleet_options("plan")
def plan(
    host: str | None,
    root: Path | None,
    as_json: bool,
    detailed_exitcode: bool,
    no_save: bool,
    lmtp: str,
    allow_remote_lmtp: bool,
    test_recipient: str | None,
    facts_file: Path | None,
    ssh_config: Path | None,
    accept_new_host_key: bool,
    plans_dir: Path,
    plan_key: Path | None,
    run_log: RunLog,
) -> None:
    """Plan the switch of HOST (or --root DIR) from Dovecot LDA to LMTP; change nothing.

    Prints what changes and why, then the diffs, and saves the plan for `migrator apply`.
    """
    # MigratorError propagates to the group (cli/__init__.py): one line, exit 1.
    options = Options(lmtp=lmtp, allow_remote_lmtp=allow_remote_lmtp, test_recipient=test_recipient)
    overrides = _overrides(facts_file, root)
    key = signing_key(plan_key)
    with _transport(host, root, ssh_config, accept_new_host_key) as transport:
        result = build_plan(transport, options, overrides=overrides)
    saved = None if no_save else save_plan(result, plans_dir, key)
    outcome = "changes" if result.has_changes else "no changes"
    code = ExitStatus.CHANGES if detailed_exitcode and result.has_changes else ExitStatus.SUCCESS
    run_log.host(result.host, outcome, code, plan_id=result.plan_id, plan_path=str(saved or ""))
    if as_json:
        click.echo(result.to_masked_json(), nl=False)
    else:
        _render(result, str(saved) if saved else None)
    sys.exit(code)


def _overrides(path: Path | None, root: Path | None) -> FactOverrides | None:
    if path is None:
        return None
    if root is None:
        raise UsageError("--facts supplies what a --root directory cannot; a live host answers")
    from migrator.inventory.variables import read_text  # never blocks on a FIFO or /dev/zero

    try:
        data = yaml.safe_load(read_text(path, "facts file"))
    except yaml.YAMLError as exc:
        raise UsageError(f"cannot read facts: {exc}", path=str(path)) from exc
    if not isinstance(data, dict):
        raise UsageError("facts file must be a mapping", path=str(path))
    facts = data.get("facts", data)
    if not isinstance(facts, dict):
        raise UsageError("facts: must be a mapping", path=str(path))
    return overrides_from_mapping(facts)


def _render(result: Plan, saved: str | None) -> None:
    from migrator.cli.plan_view import render_plan

    render_plan(result, Console(highlight=False), saved_to=saved)


def _transport(
    host: str | None, root: Path | None, ssh_config: Path | None, accept_new: bool
) -> Transport:
    if root is not None:
        return LocalTransport(root, host or root.resolve().name)
    if not host:
        raise UsageError("give a HOST to reach over SSH, or --root DIR")
    return reach(host, ssh_config, accept_new)
