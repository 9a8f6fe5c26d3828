"""The collection's module documentation parses as ansible-doc reads it (YAML), and says
what ansible-doc needs: every module's DOCUMENTATION names it and describes each option."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

MODULES = Path(__file__).resolve().parents[2] / "ansible_collections/migrator/mail/plugins/modules"
BLOCKS = ("DOCUMENTATION", "EXAMPLES", "RETURN")


def _blocks(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in BLOCKS:
                    found[target.id] = str(node.value.value)
    return found


@pytest.mark.parametrize("path", sorted(MODULES.glob("*.py")), ids=lambda p: p.stem)
def test_module_documentation_is_yaml_ansible_doc_can_read(path: Path) -> None:
    blocks = _blocks(path)
    assert set(blocks) == set(BLOCKS), f"{path.name} lacks {set(BLOCKS) - set(blocks)}"
    parsed = {name: yaml.safe_load(text) for name, text in blocks.items()}
    doc = parsed["DOCUMENTATION"]
    assert doc["module"] == path.stem
    assert all(isinstance(line, str) for line in doc["description"])
    for name, option in (doc.get("options") or {}).items():
        assert option.get("description"), f"{path.name}: option {name} has no description"
    assert isinstance(parsed["EXAMPLES"], list)
    assert isinstance(parsed["RETURN"], dict)
