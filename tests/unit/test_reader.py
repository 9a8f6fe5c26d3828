"""The parse cache: each distinct content is parsed and edited once per run, for any host."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest

from migrator.config import postfix
from migrator.config.dovecot import LENS, BlockRef
from migrator.config.edits import SetDovecotSetting, SetMainParam, SetTransportEntry
from migrator.config.reader import Key, ParseCache, Reader
from migrator.config.tree import ConfigTree
from migrator.errors import ConfigParseError

MAIN = "/etc/postfix/main.cf"
CONF = "/etc/dovecot/conf.d/10-master.conf"
MAIN_TEXT = b"# mail\nmyhostname = a.example\nvirtual_transport = dovecot\n"
CONF_TEXT = b"service lmtp {\n  # socket\n}\n"
LENSES = {MAIN: postfix.MAIN_LENS, CONF: LENS}


def _plan_one(
    host: str, cache: ParseCache, reason: str, unused: bytes | None = None
) -> dict[str, bytes]:
    """What planning does with a reader: parse both files, edit both, parse the results.

    ``unused``: a Dovecot file parsed first (and allowed to fail), as one nothing includes.
    """
    edits = [
        SetMainParam(MAIN, "virtual_transport", "lmtp:unix:private/dovecot-lmtp", reason),
        SetDovecotSetting(CONF, (BlockRef("service", "lmtp"),), "user", "postfix", reason),
    ]
    with ConfigTree(host, {}, {}) as tree:
        reader = Reader(tree, cache)
        if unused is not None:
            reader.parse_all([("/etc/dovecot/unused.conf", unused, LENS)])
        contents = {MAIN: MAIN_TEXT, CONF: CONF_TEXT}
        reader.parse_all([(p, contents[p], LENSES[p]) for p in contents])
        after = reader.edit_files(contents, LENSES, edits)
        assert reader.main(MAIN, after[MAIN]).params["virtual_transport"].startswith("lmtp:")
        assert [e.key for e in reader.dovecot(CONF, after[CONF]) if e.kind == "setting"] == ["user"]
        return after


def test_second_host_with_the_same_files_parses_and_edits_nothing() -> None:
    cache = ParseCache()
    first = _plan_one("a", cache, "why")
    computed = cache.computed
    assert computed == 2 + 2 + 2  # two parses before, two edits, two parses after
    second = _plan_one("b", cache, "another reason, same change")
    assert cache.computed == computed
    assert first == second
    assert first[CONF] == b"service lmtp {\n  # socket\n  user = postfix\n}\n"


def test_a_content_its_lens_cannot_read_fails_for_every_host_with_its_name() -> None:
    cache = ParseCache()
    broken = b"ok = 1\nservice x { k = v }\n"
    for host, path in (("a", "/etc/dovecot/a.conf"), ("b", "/etc/dovecot/b.conf")):
        with ConfigTree(host, {}, {}) as tree, pytest.raises(ConfigParseError) as caught:
            Reader(tree, cache).dovecot(path, broken)
        assert (caught.value.host, caught.value.path, caught.value.line) == (host, path, 2)
    assert cache.computed == 1


def test_an_unreadable_file_nothing_needs_never_fails_an_edit() -> None:
    cache = ParseCache()
    with ConfigTree("a", {}, {}) as tree:  # host a only reads: the parses are cached
        Reader(tree, cache).parse_all([(MAIN, MAIN_TEXT, LENSES[MAIN]), (CONF, CONF_TEXT, LENS)])
    # Host b parses a broken file of its own, then edits the files the cache knows: the
    # copies it loads for the edit must not be blamed for that file's error.
    after = _plan_one("b", cache, "why", unused=b"service x { k = v }\n")
    assert after == _plan_one("c", ParseCache(), "why")


def test_an_edit_that_cannot_be_made_names_the_host_file_not_its_copy() -> None:
    path = "/etc/postfix/transport"
    text = b"example.test dovecot:\nexample.test dovecot:\n"
    edit = SetTransportEntry(path, "example.test", "lmtp:unix:private/dovecot-lmtp", "why")
    with ConfigTree("h", {}, {}) as tree, pytest.raises(ConfigParseError) as caught:
        Reader(tree).edit_files({path: text}, {path: postfix.TRANSPORT_LENS}, [edit])
    assert (caught.value.host, caught.value.path) == ("h", path)
    assert "/files/f/" not in str(caught.value) and f"/files{path}/" in str(caught.value)


def test_threads_asking_at_once_compute_each_key_once() -> None:
    cache = ParseCache()
    calls: list[list[Key]] = []
    barrier = threading.Barrier(8)

    def compute(todo: list[Key]) -> Mapping[Key, object]:
        calls.append(todo)
        return {key: "-".join(key) for key in todo}

    def ask(offset: int) -> None:
        barrier.wait()
        keys = [(f"k{(offset + n) % 5}",) for n in range(3)]
        assert cache.get_many(keys, compute) == {key: key[0] for key in keys}

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    computed = sorted(key for batch in calls for key in batch)
    assert computed == [(f"k{n}",) for n in range(5)]
    assert cache.computed == 5


def test_hosts_sharing_dovecot_files_flatten_their_include_graph_once() -> None:
    cache = ParseCache()
    root = "/etc/dovecot/dovecot.conf"
    files = {root: b"!include conf.d/*.conf\n", CONF: CONF_TEXT}
    listing = [root, CONF]
    configs = []
    for host in ("a", "b"):
        with ConfigTree(host, {}, {}) as tree:
            reader = Reader(tree, cache)
            parsed = {path: reader.dovecot(path, content) for path, content in files.items()}
            configs.append(reader.dovecot_config(parsed, root, listing))
    assert configs[0] is configs[1]
    assert configs[0].files == (root, CONF)
    assert [str(b.chain[-1]) for b in configs[0].blocks] == ["service lmtp"]
    assert cache.computed == 2 + 1  # two parses, one flattening


def test_an_include_graph_that_fails_fails_for_every_host_with_its_name() -> None:
    cache = ParseCache()
    root = "/etc/dovecot/dovecot.conf"
    for host in ("a", "b"):
        with ConfigTree(host, {}, {}) as tree, pytest.raises(ConfigParseError) as caught:
            reader = Reader(tree, cache)
            parsed = {root: reader.dovecot(root, b"!include missing.conf\n")}
            reader.dovecot_config(parsed, root, [root])
        assert (caught.value.host, caught.value.path) == (host, root)
        assert "!include /etc/dovecot/missing.conf: file not found" in caught.value.message
    assert cache.computed == 2
