"""plans/example/virtual-lda.json is exactly what migrator plans for its fixture today.

Regenerate after an intended change: .venv/bin/python -m tests.unit.test_plan_readme
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.hosts import fixture_hosts

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "plans" / "example" / "virtual-lda.json"
README = REPO / "plans" / "README.md"


def _current() -> str:
    host = next(h for h in fixture_hosts() if h.name == "virtual-lda")
    return host.plan().to_json()


def _comparable(text: str) -> dict[str, Any]:
    """The plan without what depends on the checkout (file owner and mode) or follows it."""
    data: dict[str, Any] = json.loads(text)
    data.pop("checksum")
    for change in data["files"]:
        for key in ("owner", "group", "mode"):
            change.pop(key)
    for step in data["steps"]:
        if step["action"] == "write_file":
            step.pop("description")  # names the checkout's owner and mode
    return data


def test_example_plan_is_current() -> None:
    assert _comparable(EXAMPLE.read_text()) == _comparable(_current()), (
        "plans/example/virtual-lda.json is stale: "
        "run .venv/bin/python -m tests.unit.test_plan_readme"
    )


def test_readme_names_every_field() -> None:
    text = README.read_text()
    for key in json.loads(EXAMPLE.read_text()):
        assert f"`{key}`" in text, key


if __name__ == "__main__":
    EXAMPLE.parent.mkdir(parents=True, exist_ok=True)
    EXAMPLE.write_text(_current())
    print(f"wrote {EXAMPLE}")
