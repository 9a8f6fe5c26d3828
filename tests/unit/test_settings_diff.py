"""The plan's settings diff leaves out equal settings before DeepDiff walks them (most of
its cost); its result must be DeepDiff's on the whole views, whatever the views hold."""

from __future__ import annotations

import json
from typing import Any

from deepdiff import DeepDiff
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.plan.build import settings_diff

# Few keys and values, so that sections share keys and values often, and now and then
# share few keys (DeepDiff then reports the section whole, as one changed value).
KEYS = st.sampled_from([f"k{i}" for i in range(8)])
VALUES = st.sampled_from(["", "a", "b", "lmtp:unix:private/dovecot-lmtp", "x\ny"])
SECTION = st.dictionaries(KEYS, VALUES, max_size=8)
VIEW = st.dictionaries(st.sampled_from(["postfix_main", "dovecot", "maps"]), SECTION, max_size=3)


def _whole(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> Any:
    return json.loads(DeepDiff(before, after, verbose_level=2).to_json())


@settings(max_examples=400, deadline=None)
@given(VIEW, VIEW)
def test_same_as_deepdiff_of_the_whole_views(
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]
) -> None:
    assert json.dumps(settings_diff(before, after)) == json.dumps(_whole(before, after))


def test_a_switch_sized_diff() -> None:
    main = {f"p{i}": str(i) for i in range(120)}
    before = {"postfix_main": main, "dovecot": {"protocols": "imap"}}
    after = {
        "postfix_main": {**main, "p3": "changed", "virtual_transport": "lmtp:unix:x"},
        "dovecot": {"protocols": "imap lmtp", "protocol lmtp / mail_plugins": "sieve"},
    }
    diff = settings_diff(before, after)
    assert diff == _whole(before, after)
    assert "root['postfix_main']['p3']" in diff["values_changed"]
    assert "root['postfix_main']['virtual_transport']" in diff["dictionary_item_added"]
