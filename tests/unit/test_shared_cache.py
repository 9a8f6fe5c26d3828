"""A run's shared parse cache changes no plan: every fixture host, planned by threads that
share one cache (twice, so the second time everything comes from it), gets the plan, or the
error, it gets alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from migrator.config.reader import ParseCache
from migrator.errors import MigratorError
from tests.unit.hosts import FixtureHost, fixture_hosts


def _outcome(host: FixtureHost, cache: ParseCache | None) -> Any:
    try:
        return asdict(host.plan(cache=cache))
    except MigratorError as exc:
        return f"{type(exc).__name__}: {exc}"


def test_plans_through_one_shared_cache_equal_plans_made_alone() -> None:
    hosts = fixture_hosts()
    alone = [_outcome(host, None) for host in hosts]
    assert any(isinstance(o, str) for o in alone) and any(isinstance(o, dict) for o in alone)
    cache = ParseCache()
    computed = []
    for _ in range(2):
        with ThreadPoolExecutor(max_workers=4) as pool:
            shared = list(pool.map(lambda host: _outcome(host, cache), hosts))
        for host, mine, theirs in zip(hosts, alone, shared, strict=True):
            assert theirs == mine, host.name
        computed.append(cache.computed)
    assert computed[0] > 0 and computed[1] == computed[0]  # the second time: all from cache
