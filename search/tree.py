"""The search tree record: nodes of reasoning steps with visits, values and verdicts.

A tree file is JSON Lines, one `SearchTree.to_dict()` per problem. Node 0 is the root
(the problem, empty step); every other node's `parent_id` is smaller than its own id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Iterator, Mapping

from astro_env.problem import Problem


@dataclass(frozen=True)
class Node:
    """One reasoning step in a tree (the root carries the empty step)."""

    id: int
    parent_id: int | None
    step: str
    depth: int
    prior: float = 1.0
    """P(a|S) used by PUCT (softmax over siblings' length-normalised log-probs by default)."""
    visits: int = 0
    """N(S, a)."""
    value: float = 0.0
    """Q(S, a): visit-weighted mean of rollout values in [0, 1]."""
    terminal: bool = False
    """True when the step states a final answer (or the depth limit cut the path)."""
    answer: str | None = None
    """Extracted final answer of a terminal step."""
    correct: bool | None = None
    """Verifier verdict of a terminal step; None for intermediate nodes."""
    n_tokens: int = 0
    logprob: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchTree:
    """A finished search tree for one problem."""

    problem: Problem
    prompt: str
    nodes: tuple[Node, ...]
    delimiter: str = "\n\n"
    agent: str = "mcts"
    seed: int = 0
    stats: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Search statistics (iterations, rollouts, tokens, policy calls, batch size); informational only. No wall-clock
    time: a tree record is a function of its problems, policy and seed (`benchmarks/bench_search.py` measures speed)."""

    def __post_init__(self) -> None:
        if not self.nodes or self.nodes[0].parent_id is not None or self.nodes[0].id != 0:
            raise ValueError("SearchTree.nodes[0] must be the root: id 0, parent_id None.")
        for idx, node in enumerate(self.nodes):
            if node.id != idx:
                raise ValueError(f"SearchTree node ids must equal their index; node at {idx} has id {node.id}.")
            if idx and not (node.parent_id is not None and 0 <= node.parent_id < idx):
                raise ValueError(f"node {idx}: parent_id {node.parent_id} must be an earlier node.")

    @property
    def root(self) -> Node:
        return self.nodes[0]

    @cached_property
    def _children(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {n.id: [] for n in self.nodes}
        for n in self.nodes[1:]:
            out[n.parent_id].append(n.id)  # type: ignore[index]
        return out

    def children(self, node_id: int) -> list[Node]:
        """Children of `node_id` in creation order."""
        return [self.nodes[i] for i in self._children[node_id]]

    def path(self, node_id: int) -> list[Node]:
        """Nodes from the root to `node_id`, both included."""
        out = []
        node: Node | None = self.nodes[node_id]
        while node is not None:
            out.append(node)
            node = self.nodes[node.parent_id] if node.parent_id is not None else None
        return out[::-1]

    def steps(self, node_id: int) -> list[str]:
        """The step texts from the root's first child to `node_id`."""
        return [n.step for n in self.path(node_id)[1:]]

    def terminals(self) -> list[Node]:
        return [n for n in self.nodes if n.terminal]

    def correct_terminals(self) -> list[Node]:
        return [n for n in self.nodes if n.terminal and n.correct]

    def wrong_terminals(self) -> list[Node]:
        return [n for n in self.nodes if n.terminal and not n.correct]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def problem_hash(self) -> str:
        """`problem.content_hash`: which version of the problem this tree was searched for."""
        return self.problem.content_hash

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (with `problem_hash` for readers); `from_dict` inverts it."""
        return {
            "problem": self.problem.to_dict(),
            "problem_hash": self.problem_hash,
            "prompt": self.prompt,
            "delimiter": self.delimiter,
            "agent": self.agent,
            "seed": self.seed,
            "stats": dict(self.stats),
            "nodes": [n.to_dict() for n in self.nodes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SearchTree":
        return cls(
            problem=Problem.from_dict(data["problem"]),
            prompt=data["prompt"],
            delimiter=data.get("delimiter", "\n\n"),
            agent=data.get("agent", "mcts"),
            seed=int(data.get("seed", 0)),
            stats=dict(data.get("stats", {})),
            nodes=tuple(Node(**n) for n in data["nodes"]),
        )
