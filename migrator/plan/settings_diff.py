"""The settings diff a plan records: DeepDiff's verbose report of two settings views.

DeepDiff costs ~60 ms of imports at every start and walks every setting of every host;
plain views (all that real hosts give) are compared here, exactly as DeepDiff reports them
(a property test holds the two together), and DeepDiff sees only what is not plain.
"""

from __future__ import annotations

import json
from typing import Any

Views = dict[str, dict[str, str]]

_DEEPER = 0.33
"""DeepDiff's threshold_to_diff_deeper (its default, pinned): a dict whose share of common
keys is below it is reported as one changed value."""


def settings_diff(
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """The deepdiff (verbose) of two settings views, as plain data: what a plan records.

    Plain views (the same sections, one-line values, keys without quotes or backslashes:
    what settings_view makes of real hosts) are compared here, as DeepDiff compares them;
    anything else goes to DeepDiff itself. Never raises on well-formed views.
    """
    if _plain(before, after):
        return _plain_diff(before, after)
    from deepdiff import DeepDiff  # only for views _plain_diff does not know how to report

    found = DeepDiff(*_unequal(before, after), verbose_level=2, threshold_to_diff_deeper=_DEEPER)
    result: dict[str, Any] = json.loads(found.to_json())
    return result


def _plain(before: Views, after: Views) -> bool:
    if list(before) != list(after) or not all(
        isinstance(v, dict) for v in (*before.values(), *after.values())
    ):
        return False
    sections = [*before.values(), *after.values()]
    keys = all(
        isinstance(k, str) and k.isprintable() and not any(c in k for c in "'\\\"")
        for section in sections
        for k in section
    )
    values = all(
        isinstance(v, str) and "\n" not in v and "\r" not in v for s in sections for v in s.values()
    )
    return keys and values and all(isinstance(name, str) and name.isidentifier() for name in before)


def _plain_diff(before: Views, after: Views) -> dict[str, Any]:
    """DeepDiff's verbose report of plain views: sections in order, then in each the keys
    added, removed and changed, in that order; a section whose share of common keys is below
    ``_DEEPER`` is reported whole, as one changed value."""
    added: dict[str, str] = {}
    removed: dict[str, str] = {}
    changed: dict[str, Any] = {}
    for name, new in after.items():
        old = before[name]
        union = len(old.keys() | new.keys())
        common = [key for key in new if key in old]
        if union > 1 and len(common) / union < _DEEPER:
            changed[f"root['{name}']"] = {"new_value": dict(new), "old_value": dict(old)}
            continue
        added.update({f"root['{name}']['{k}']": v for k, v in new.items() if k not in old})
        removed.update({f"root['{name}']['{k}']": v for k, v in old.items() if k not in new})
        changed.update(
            {
                f"root['{name}']['{k}']": {"new_value": new[k], "old_value": old[k]}
                for k in common
                if new[k] != old[k]
            }
        )
    report = {"dictionary_item_added": added, "dictionary_item_removed": removed}
    report["values_changed"] = changed
    return {kind: found for kind, found in report.items() if found}


def _unequal(
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Both settings views without settings equal on both sides, as far as that leaves
    DeepDiff's result as it was: it reports nothing for them, and walking them was most of
    its cost (a main.cf has a hundred parameters, the switch changes a few)."""
    drop = {
        name: _droppable(before.get(name, {}), after.get(name, {}))
        for name in before.keys() | after.keys()
    }
    return (
        {name: _without(section, drop[name]) for name, section in before.items()},
        {name: _without(section, drop[name]) for name, section in after.items()},
    )


def _droppable(before: dict[str, str], after: dict[str, str]) -> frozenset[str]:
    """The keys equal (same type, same value) on both sides whose absence DeepDiff cannot
    tell. It reports a dict whose keys are mostly not common (below ``_DEEPER``) as one
    changed value, whole: such a section stays whole, and from the others no more keys go
    than keep the common share at or above ``_DEEPER``."""
    union = len(before.keys() | after.keys())
    common = len(before.keys() & after.keys())
    if union > 1 and common / union < _DEEPER:
        return frozenset()
    equal = [k for k, v in before.items() if k in after and type(after[k]) is type(v)]
    equal = [k for k in equal if after[k] == before[k]]
    count = 0
    while count < len(equal) and (
        union - count - 1 <= 1 or (common - count - 1) / (union - count - 1) >= _DEEPER
    ):
        count += 1
    return frozenset(equal[:count])


def _without(section: dict[str, str], keys: frozenset[str]) -> dict[str, str]:
    return {key: value for key, value in section.items() if key not in keys}
