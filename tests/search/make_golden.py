"""Regenerate tests/search/golden/*.txt: the verbalised traces of a few hand-built trees.

    python -m tests.search.make_golden

This is the only thing that writes the golden files; review the diff before committing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from astro_env.problem import Problem
from search.linearize import merge_paths
from search.tree import Node, SearchTree
from search.verbalize import PhraseBank, verbalize

GOLDEN_DIR = Path(__file__).with_name("golden")


def _node(i: int, parent: int | None, step: str, depth: int, **kw) -> Node:
    return Node(id=i, parent_id=parent, step=step, depth=depth, **kw)


def countdown_tree() -> SearchTree:
    """Numbers 3 5 7, target 26: two wrong answers below 7*5=35, the right one below 7*3=21."""
    problem = Problem(
        id="countdown/0/0",
        problem="Numbers: 3 5 7\nTarget: 26",
        answer="26",
        task="countdown",
        metadata={"numbers": [3, 5, 7], "target": 26},
    )
    nodes = (
        _node(0, None, "", 0),
        _node(1, 0, "7*5=35; left: 3 35", 1, value=0.5),
        _node(2, 1, "35-3=32; left: 32", 2, value=0.0),
        _node(3, 2, "\\boxed{(7*5)-3}", 3, terminal=True, answer="(7*5)-3", correct=False),
        _node(4, 0, "7*3=21; left: 5 21", 1, value=0.8),
        _node(5, 4, "21+5=26; left: 26", 2, value=1.0),
        _node(6, 5, "\\boxed{(7*3)+5}", 3, terminal=True, answer="(7*3)+5", correct=True, value=1.0),
        _node(7, 1, "35+3=38; left: 38", 2, value=0.0),
        _node(8, 7, "\\boxed{(7*5)+3}", 3, terminal=True, answer="(7*5)+3", correct=False),
    )
    return SearchTree(problem=problem, prompt=problem.problem + "\n\n", nodes=nodes)


def math_tree() -> SearchTree:
    """A small algebra problem in prose (not an equation of the math task's step grammar, so no comparison
    with the right side is written): a wrong answer after a long shared step, then the right one."""
    problem = Problem(id="golden/math/1", problem="If $2x + 3 = 11$, what is $x$?", answer="4", task="math")
    long_step = (
        "We want to isolate $x$, so we first move the constant term to the right-hand side of the equation.\n"
        "Subtracting 3 from both sides of $2x + 3 = 11$ gives $2x = 11 - 3 = 8$."
    )
    nodes = (
        _node(0, None, "", 0),
        _node(1, 0, long_step, 1, value=0.9),
        _node(2, 1, "Dividing both sides by 4 gives $x = 2$.", 2, value=0.0),
        _node(3, 2, "So the answer is $\\boxed{2}$.", 3, terminal=True, answer="2", correct=False),
        _node(4, 1, "Dividing both sides by 2 gives $x = 4$.", 2, value=1.0),
        _node(5, 4, "Therefore $x = \\boxed{4}$.", 3, terminal=True, answer="4", correct=True, value=1.0),
        _node(6, 0, "Guess $x = 5$: $2 \\cdot 5 + 3 = 13$.", 1, value=0.2),
    )
    return SearchTree(problem=problem, prompt=f"Problem: {problem.problem}\n\nSolution:\n", nodes=nodes)


CASES: dict[str, Callable[[], str]] = {
    "countdown_phrases": lambda: verbalize(countdown_tree(), merge_paths(countdown_tree(), [3, 8, 6]), PhraseBank.load())[0],
    "countdown_markers": lambda: verbalize(
        countdown_tree(), merge_paths(countdown_tree(), [3, 8, 6]), PhraseBank.load(style="markers")
    )[0],
    "countdown_direct": lambda: verbalize(countdown_tree(), merge_paths(countdown_tree(), [6]), None)[0],
    "math_backtrack": lambda: verbalize(math_tree(), merge_paths(math_tree(), [3, 5]), PhraseBank.load())[0],
    "math_root_point": lambda: verbalize(math_tree(), merge_paths(math_tree(), [3, 5], "root"), PhraseBank.load())[0],
}


def main() -> int:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, make in CASES.items():
        (GOLDEN_DIR / f"{name}.txt").write_text(make(), encoding="utf-8")
        print(f"wrote {GOLDEN_DIR / (name + '.txt')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
