"""The search tree record: nodes of reasoning steps with visits, values and verdicts.

A tree file is JSON Lines, one `SearchTree.to_dict()` per problem. Node 0 is the root
(the problem, empty step); every other node's `parent_id` is smaller than its own id.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Iterator, Mapping

from astro_env.errors import MissingFileError, UserError
from astro_env.jsonl import iter_jsonl
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


TREE_FIELDS = ("problem", "prompt", "nodes")
"""Fields every line of a tree file has (`SearchTree.to_dict`)."""


def tree_record_error(record: Mapping[str, Any]) -> str | None:
    """Why `record` is not a tree (`SearchTree.to_dict`), None when it is one."""
    missing = [k for k in TREE_FIELDS if k not in record]
    if missing:
        if "problem" in record and "answer" in record and "nodes" not in record:
            return "this is a problems file (id, problem, answer), not trees; make trees from it with `astro search`"
        if "prompt" in record and "completion" in record:
            return "this is a traces file (prompt, completion), not trees; trees come from `astro search`"
        return f"not a search tree (missing field(s) {', '.join(missing)}); tree files are written by `astro search`"
    try:
        SearchTree.from_dict(record)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return f"not a valid search tree ({' '.join(str(exc).split()) or type(exc).__name__}); tree files are written by `astro search`"
    return None


def read_trees(path: str | os.PathLike, flag: str = "tree file", *, allow_empty: bool = False) -> list[SearchTree]:
    """Every tree of a tree file, in file order, read strictly (an input is trusted only whole).

    Raises `MissingFileError` for a missing path and `UserError` naming `flag`, the file and the
    line for a directory, a line that is not UTF-8 JSON (a torn last line included: the search
    that wrote it did not finish), a record that is not a tree (a problems or traces file given
    instead), and, unless `allow_empty`, a file without any tree.
    """
    if not os.path.exists(path):
        raise MissingFileError(f"no such {flag} {path}; make one with `astro search`.")
    if os.path.isdir(path):
        raise UserError(f"{flag} {path} is a directory; pass a trees.jsonl written by `astro search`.")
    trees = []
    try:
        records = list(iter_jsonl(path, drop_torn_tail=False))
    except UserError as exc:
        with open(path, "rb") as fh:
            fh.seek(max(os.path.getsize(path) - 1, 0))
            torn = fh.read(1) != b"\n"
        hint = " Its last line is cut: the search did not finish; run it again with the same --out to complete it." if torn else ""
        raise UserError(f"{flag} {exc}{hint}") from None
    for line_no, record in enumerate(records, start=1):
        why = tree_record_error(record)
        if why is not None:
            raise UserError(f"{flag} {path}: record {line_no}: {why}.")
        trees.append(SearchTree.from_dict(record))
    if not trees and not allow_empty:
        raise UserError(f"{flag} {path} holds no tree; run `astro search` to fill it (or pass --allow-empty).")
    return trees
