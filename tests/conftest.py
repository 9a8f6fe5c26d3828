"""Every test runs with its own config and state directories and no MIGRATOR_* defaults:
a developer's ~/.config/migrator/config.toml or $MIGRATOR_FORKS never changes a test, and
run logs never land in the developer's ~/.local/state."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.cli.defaults import ENV_PREFIX, SETTINGS

# a helper's asserts explain a failure as a test's own do
pytest.register_assert_rewrite("tests.unit.lens_files")


@pytest.fixture(autouse=True)
def own_config_and_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    for name in SETTINGS:
        monkeypatch.delenv(ENV_PREFIX + name.upper(), raising=False)
    assert not Path("migrator.toml").exists(), "a migrator.toml in the test's directory"
