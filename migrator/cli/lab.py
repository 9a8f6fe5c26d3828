"""`migrator lab ...`: sandbox mail hosts on this machine, to rehearse a migration."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from migrator.lab import lifecycle, mail, roots
from migrator.lab.profile import load_profile
from migrator.lab.state import Lab, LabHost, find_host, list_labs, load_lab

_NAME = click.option("--name", "lab_name", default="lab", show_default=True, help="Lab name.")


@click.group()
def lab() -> None:
    """Sandbox mail hosts on this machine, to rehearse a migration."""


@lab.command()
@click.argument("profile")
@click.option(
    "--hosts",
    "count",
    type=click.IntRange(1, 200),
    default=1,
    show_default=True,
    help="How many hosts to bring up.",
)
@click.option(
    "--release",
    default=roots.DEFAULT_RELEASE,
    show_default=True,
    help="Debian release the hosts run (its root is built once, from apt's mirror).",
)
@_NAME
def up(profile: str, count: int, release: str, lab_name: str) -> None:
    """Bring up COUNT hosts configured from PROFILE (fixtures/profiles/PROFILE)."""
    built = lifecycle.bring_up(
        profile, count, lab_name, release=release, progress=lambda line: click.echo(line, err=True)
    )
    console = Console()
    console.print(_hosts_table(built))
    console.print(f"Reach them with: ssh -F {built.ssh_config} {built.hosts[0].name}")


@lab.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="One JSON list of hosts, for scripts.")
def ls(as_json: bool) -> None:
    """List lab hosts: name, address, profile, lab, release and daemon versions."""
    labs = list_labs()
    if as_json:
        rows = [_host_row(lb, h) for lb in labs for h in lb.hosts]
        click.echo(json.dumps(rows, indent=2))
        return
    console = Console()
    for built in labs:
        console.print(_hosts_table(built))


@lab.command(name="roots")
@click.option("--remove", "release", default=None, help="Remove the cached root of RELEASE.")
@click.option(
    "--build", "builds", multiple=True, help="Build RELEASE's root now unless cached (repeatable)."
)
def roots_(release: str | None, builds: tuple[str, ...]) -> None:
    """List the cached release roots (or build or remove some): Dovecot, Postfix, OpenSSH."""
    if release is not None:
        removed = roots.remove_root(release)
        click.echo(f"root {release}: {'removed' if removed else 'not cached'}")
        return
    if builds:
        roots.ensure_roots(builds, lambda line: click.echo(line, err=True))
    table = Table(title=f"release roots ({roots.roots_dir()})")
    for column in ("release", "dovecot", "postfix", "openssh", "built", "build s", "current"):
        table.add_column(column)
    cached = roots.list_roots()
    for root in cached:
        v = root.versions
        built = (root.built, f"{root.build_seconds:.0f}", "yes" if root.current else "no")
        table.add_row(root.release, v.dovecot, v.postfix, v.openssh, *built)
    Console().print(table)
    if not all(root.current for root in cached):
        click.echo("current no: rebuilt at the next lab up of it")


@lab.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--name", "lab_name", default=None, help="Lab name (default: any lab).")
def exec_(host: str, command: tuple[str, ...], lab_name: str | None) -> None:
    """Run COMMAND inside lab HOST as root: migrator lab exec HOST -- CMD ARGS..."""
    found_lab, found_host = find_host(host, lab_name)
    done = lifecycle.run_in_host(found_host, found_lab, command)
    raise SystemExit(done.returncode)


@lab.command()
@_NAME
def down(lab_name: str) -> None:
    """Stop every process of the lab and remove its namespaces, mounts and links."""
    existed = lifecycle.tear_down(lab_name)
    click.echo(f"lab {lab_name}: {'removed' if existed else 'nothing to remove'}")


@lab.command(name="ssh-config")
@_NAME
def ssh_config(lab_name: str) -> None:
    """Print the path of the lab's OpenSSH client config (ssh -F PATH HOST)."""
    built = load_lab(lab_name)
    if built is None:
        raise click.ClickException(f"no lab called {lab_name!r} (see `migrator lab ls`)")
    click.echo(str(built.ssh_config))


@lab.command()
@click.argument("host")
@click.option("--to", "recipients", multiple=True, help="Recipient (repeatable).")
@click.option("--list-id", default=None, help="Add a List-Id header (Sieve files it).")
@click.option("--name", "lab_name", default=None, help="Lab name (default: any lab).")
def send(host: str, recipients: tuple[str, ...], list_id: str | None, lab_name: str | None) -> None:
    """Send a message to HOST over SMTP and show how Postfix delivered it."""
    found_lab, found_host = find_host(host, lab_name)
    to = list(recipients) or [f"alice@{_domain(found_lab)}"]
    sent = mail.send(found_host, to, list_id=list_id)
    for delivery in mail.wait_delivered(found_lab, found_host, sent):
        via = f" (for {delivery.original})" if delivery.original else ""
        click.echo(
            f"{host}: {sent.queue_id} to {delivery.recipient}{via}: "
            f"{delivery.status} via {delivery.relay}"
        )


def _domain(built: Lab) -> str:
    return load_profile(built.hosts[0].profile).domain


def _host_row(built: Lab, host: LabHost) -> dict[str, object]:
    return {
        "name": host.name,
        "address": host.address,
        "profile": host.profile,
        "lab": built.name,
        "release": host.release,
        "versions": {
            "dovecot": host.versions.dovecot,
            "postfix": host.versions.postfix,
            "openssh": host.versions.openssh,
        },
    }


def _hosts_table(built: Lab) -> Table:
    table = Table(title=f"lab {built.name} ({built.subnet}.0/24)")
    for column in ("host", "address", "profile", "release", "dovecot", "postfix", "openssh"):
        table.add_column(column)
    for host in built.hosts:
        v = host.versions
        table.add_row(
            host.name, host.address, host.profile, host.release, v.dovecot, v.postfix, v.openssh
        )
    return table
