"""Random search trees for property tests (hypothesis strategies) and small helpers."""

from __future__ import annotations

from hypothesis import strategies as st

from astro_env.problem import Problem
from search.tree import Node, SearchTree

GOLD = "0"


def mod4_equivalent(a: str, b: str) -> bool:
    """Test equivalence that is not string equality: integers equal modulo 4."""
    return int(a) % 4 == int(b) % 4


@st.composite
def random_trees(draw, max_nodes: int = 24, task: str = "countdown") -> SearchTree:
    """A tree whose leaves are terminals with answers "0".."8" (correct iff = 0 mod 4) or a
    depth cut (no answer); step texts are unique, some long, some multi-line."""
    n = draw(st.integers(2, max_nodes))
    parents = [None] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    has_child = {p for p in parents if p is not None}
    depth = [0] * n
    for i in range(1, n):
        depth[i] = depth[parents[i]] + 1
    nodes = [Node(id=0, parent_id=None, step="", depth=0)]
    for i in range(1, n):
        value = draw(st.floats(0.0, 1.0, allow_nan=False))
        if i in has_child or not draw(st.booleans() | st.just(True)):
            kind = draw(st.integers(0, 4))
            step = f"step {i}" if kind < 3 else (f"step {i}\nwith a second line" if kind == 3 else f"long step {i} " + "y" * 200)
            nodes.append(Node(id=i, parent_id=parents[i], step=step, depth=depth[i], value=value))
            continue
        answer = draw(st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "7", "8", None]))
        if answer is None:
            nodes.append(Node(id=i, parent_id=parents[i], step=f"cut {i}", depth=depth[i], value=value, terminal=True))
        else:
            correct = mod4_equivalent(answer, GOLD)
            nodes.append(
                Node(
                    id=i,
                    parent_id=parents[i],
                    step=f"leaf {i} gives \\boxed{{{answer}}}",
                    depth=depth[i],
                    value=value,
                    terminal=True,
                    answer=answer,
                    correct=correct,
                )
            )
    problem = Problem(id=f"rand/{draw(st.integers(0, 10**6))}", problem="Find the answer.", answer=GOLD, task=task, source="rand")
    return SearchTree(problem=problem, prompt="Problem: Find the answer.\n\nSolution:\n", nodes=tuple(nodes))
