"""The examples use only documented public names of the project's packages (what an outside package may rely on)."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"astro", "astro_env", "agents", "search", "training", "benchmarks"}
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def project_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every `from <project module> import name` in `path`, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            out += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(alias.name, "") for alias in node.names if alias.name.split(".")[0] in PACKAGES]
    return out


def why_not_public(module_name: str, name: str) -> str | None:
    """None when `module_name.name` is a documented public name, else the reason it is not.

    Public: listed in the module's `__all__` when it has one; otherwise a class or function
    defined in that module itself (not imported into it), not underscored, with its own docstring.
    """
    module = importlib.import_module(module_name)
    if not name:
        return None
    if name.startswith("_"):
        return "a private name"
    if hasattr(module, "__all__"):
        return None if name in module.__all__ else f"not in {module_name}.__all__"
    obj = getattr(module, name, None)
    if obj is None:
        return "not defined there"
    if not (inspect.isclass(obj) or inspect.isfunction(obj)) or obj.__module__ != module_name:
        return f"not defined in {module_name} (it has no __all__ to list it)"
    return None if inspect.getdoc(obj) else "undocumented"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_import_only_documented_public_names(path):
    bad = [(m, n, why) for m, n in project_imports(path) if (why := why_not_public(m, n))]
    assert bad == []


def test_the_rule_rejects_the_search_internals_an_example_once_needed():
    assert why_not_public("search.mcts", "add_candidates") is not None
    assert why_not_public("search.mcts", "TaskResolver") is not None
    assert why_not_public("search.builder", "add_candidates") is None
