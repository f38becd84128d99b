"""No module outside a task's own files imports that task or branches on a task's name.

A task supplies what the pipeline needs through the hooks of `astro_env.task` (its config, the
default search policy, its comparison sentences, its pre-training corpus, its competence probes,
its record check), so a new task gets a pipeline shaped by its own hooks. Checked by AST over the
project's packages, imports inside functions included (only `if TYPE_CHECKING:` blocks are exempt):

- no import of a task's own modules (`astro_env.countdown*`, `agents.countdown_policy`) outside them;
- no comparison of a value with a string literal that names a registered task
  (`config.task == "countdown"`, `kind in ("countdown", "synthetic")`, `match` cases too).

Allowed: the task's own files, and text that only mentions a name (docstrings, messages, presets'
`task="math"` values, registrations such as the `astro/Countdown-v0` id).
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["astro_env", "agents", "search", "training", "benchmarks", "astro"]
"""Packages held to the rule: every one outside a task's own modules, the app layer included."""
TASK_MODULES = {"countdown": ("astro_env.countdown", "agents.countdown_policy")}
"""A task's own modules: these, and modules whose dotted name starts with one of them plus "_" (countdown_env)."""


def _task_names() -> set[str]:
    """The task names registered in setup.cfg (`astro.tasks`)."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    entries = parser["options.entry_points"]["astro.tasks"]
    return {line.split("=")[0].strip() for line in entries.splitlines() if "=" in line}


def _owner(module: str) -> str | None:
    """The task whose own module `module` is, None for shared modules."""
    for task, prefixes in TASK_MODULES.items():
        if any(module == p or module.startswith(p + "_") or module.startswith(p + ".") for p in prefixes):
            return task
    return None


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def violations(module: str, source: str, task_names: set[str]) -> list[str]:
    """Where `source` (module `module`) imports another task's modules or compares with a task-name literal."""
    tree = ast.parse(source)
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    own = _owner(module)
    package = module.split(".")[:-1]
    found = []

    def literal_names(node: ast.AST) -> list[str]:
        values = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
        return [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str) and v.value in task_names]

    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for target in targets:
            owner = _owner(target)
            if owner is not None and owner != own:
                found.append(f"{module}:{node.lineno} imports {target}")
                break
        if isinstance(node, ast.Compare):
            names = [n for operand in [node.left, *node.comparators] for n in literal_names(operand)]
            if names and own is None:
                found.append(f"{module}:{node.lineno} compares with task name(s) {', '.join(names)}: {ast.unparse(node)}")
        if isinstance(node, ast.match_case) and own is None:
            names = [n for sub in ast.walk(node.pattern) if isinstance(sub, ast.MatchValue) for n in literal_names(sub.value)]
            if names:
                found.append(f"{module}:{node.pattern.lineno} matches task name(s) {', '.join(names)}")
    return found


def _package_violations(package: str) -> list[str]:
    names = _task_names()
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        out += violations(_module_name(path), path.read_text(encoding="utf-8"), names)
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_imports_a_task_or_branches_on_its_name(package):
    assert _package_violations(package) == []


def test_the_checker_finds_what_it_forbids():
    names = {"countdown", "math"}
    bad = '''
import astro_env.countdown
from agents import countdown_policy
def f(config, kind):
    from astro_env.countdown_env import CountdownEnv
    if config.task == "countdown" or kind in ("math", "synthetic"):
        return 1
    match kind:
        case "math":
            return 2
'''
    found = violations("search.example", bad, names)
    assert sorted(v.split(" ")[0] for v in found) == ["search.example:2", "search.example:3", "search.example:5", "search.example:6",
                                                      "search.example:6", "search.example:9"], found
    # a task's own files may import each other and name themselves; mentions are fine anywhere
    assert violations("astro_env.countdown_env", "from astro_env.countdown import CountdownTask\nx = name == 'countdown'", names) == []
    ok = 'import typing\nif typing.TYPE_CHECKING:\n    from astro_env.countdown import CountdownTask\nTASK = "countdown"\nprint(f"task {TASK!r}")\n'
    assert violations("training.example", ok, names) == []
