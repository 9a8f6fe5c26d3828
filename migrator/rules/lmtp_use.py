"""Whether LMTP deliveries to Dovecot are possible before the switch, and why: apply then
waits for those in flight before it reloads Dovecot (the plan's ``wait_lmtp`` step).

A Dovecot reload answers an LMTP transaction in flight "421 4.3.2 Shutting down", in reply
to end of DATA after storing the message too, and Postfix delivers it again (measured under
load: the rollback's load test, Dovecot 2.3.19; a stream over LMTP with five reloads, 2.4.1:
23 to 28 such answers, 1 to 9 messages stored twice). Possible means: Postfix already hands
mail to a Dovecot LMTP listener (or to an lmtp service whose next hop migrator cannot see),
or Dovecot serves LMTP on a listener someone set up besides its own default socket in its
base_dir (Postfix's socket in the queue directory, a TCP port). Pure.
"""

from __future__ import annotations

from migrator.endpoint import Endpoint
from migrator.errors import UsageError
from migrator.host.config import HostConfig
from migrator.rules.delivery import Delivery, is_dovecot_endpoint
from migrator.rules.dovecot import SERVICE_LMTP
from migrator.rules.hooks import Hook
from migrator.rules.syntax import DovecotSyntax, effective_protocols


def lmtp_in_use(
    config: HostConfig,
    delivery: Delivery,
    syntax: DovecotSyntax,
    protocols_default: str | None,
    queue_directory: str,
) -> str:
    """Why LMTP deliveries to Dovecot may be in flight before the switch ("" when none can
    be). Never raises."""
    reasons = []
    hooks = [h for h in delivery.lmtp if _may_reach_dovecot(h, config, queue_directory)]
    if hooks:
        said = ", ".join(f"{h.name} = {h.value} ({h.file})" for h in hooks)
        reasons.append(f"Postfix already hands mail to Dovecot over LMTP: {said}")
    serving = "lmtp" in effective_protocols(config.dovecot, syntax, protocols_default or "").split()
    listeners = _listeners(config) if serving else []
    if listeners:
        reasons.append(f"Dovecot already serves LMTP on {', '.join(listeners)}")
    return "; ".join(reasons)


def _may_reach_dovecot(hook: Hook, config: HostConfig, queue_directory: str) -> bool:
    """A hook whose next hop is a Dovecot listener, or is not in its value (a service with
    its own next hop): it may be delivering to this Dovecot."""
    _, _, nexthop = hook.value.partition(":")
    if not nexthop:
        return True
    try:
        endpoint = Endpoint.from_postfix(f"lmtp:{nexthop}", queue_directory)
    except UsageError:
        return True
    return is_dovecot_endpoint(endpoint, config)


def _listeners(config: HostConfig) -> list[str]:
    """service lmtp's listeners besides the socket in Dovecot's own base_dir: a socket by
    absolute path elsewhere, a TCP port."""
    dovecot = config.dovecot
    base = (dovecot.value("base_dir") or "/var/run/dovecot").rstrip("/")
    found = []
    for block in dovecot.blocks:
        if block.chain[:1] != SERVICE_LMTP or len(block.chain) != 2:
            continue
        ref, settings = block.chain[1], dovecot.block_settings(block.chain)
        path = settings.get("path") or ref.arg or ""
        if ref.name == "unix_listener" and path.startswith("/") and not _in_base(path, base):
            found.append(path)
        elif ref.name == "inet_listener" and settings.get("port", "").strip() not in ("", "0"):
            found.append(f"{settings.get('address') or '*'}:{settings['port'].strip()}")
    return list(dict.fromkeys(found))


def _in_base(path: str, base: str) -> bool:
    """Whether PATH is in BASE, /var/run and /run being one directory (a symlink)."""
    twins = {base, base.removeprefix("/var"), f"/var{base}" if base.startswith("/run") else base}
    return any(path.startswith(f"{b}/") for b in twins)
