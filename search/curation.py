"""Self-evaluation filter: keep the correct solutions whose reasoning a judge approves unanimously.

ASTRO section 5: the policy judges each correct candidate solution N = 8 times ("does the
reasoning hold, or does it guess, skip hard steps, miss cases?") and only unanimous approvals
are kept. The judge is any `PolicyAgent` (its `complete`), the prompt the template file
search/prompts/self_eval.txt. The result feeds `build_traces(..., good=...)`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from search.executor import ExecutorConfig, Shard, make_shards, map_shards
from search.tree import SearchTree
from search.verbalize import PROMPTS_DIR

if TYPE_CHECKING:  # pragma: no cover
    from agents.base import PolicyAgent


@dataclass(frozen=True)
class SelfEvalConfig:
    """How the judge votes on a correct solution."""

    n_votes: int = 8
    """Judge samples per solution (paper: 8)."""
    min_yes: int | None = None
    """Approvals needed to keep a solution; None means all `n_votes` (unanimous, paper)."""
    template_path: str | None = None
    """Prompt template with {problem} and {solution} (default: search/prompts/self_eval.txt)."""
    temperature: float = 1.0
    """Judge sampling temperature (votes must be able to differ)."""
    max_tokens: int = 8
    """Tokens per vote: the verdict is the first word."""
    seed: int = 0
    """Sampling seed of the judge calls."""
    executor: ExecutorConfig = field(default_factory=ExecutorConfig, compare=False)
    """Where the judge calls run (local, or shards of `shard_trees` trees on a Ray cluster); votes do not depend on it."""
    shard_trees: int = 8
    """Trees per executor shard (each tree is still one judge call)."""

    def __post_init__(self) -> None:
        if self.n_votes < 1:
            raise ValueError(f"n_votes={self.n_votes}: use >= 1 (paper: 8).")
        if self.min_yes is not None and not 1 <= self.min_yes <= self.n_votes:
            raise ValueError(f"min_yes={self.min_yes}: use a value in 1..n_votes={self.n_votes}, or None for unanimity.")
        if self.shard_trees < 1:
            raise ValueError(f"shard_trees={self.shard_trees}: use >= 1.")

    @property
    def required_yes(self) -> int:
        return self.n_votes if self.min_yes is None else self.min_yes

    def template(self) -> str:
        return Path(self.template_path or PROMPTS_DIR / "self_eval.txt").read_text(encoding="utf-8")


_VOTE = re.compile(r"[A-Za-z]+")


def parse_vote(text: str) -> bool | None:
    """True for a reply whose first word is yes, False for no, None otherwise."""
    m = _VOTE.search(text or "")
    if not m:
        return None
    word = m.group(0).lower()
    return True if word == "yes" else False if word == "no" else None


def judge_prompt(tree: SearchTree, node_id: int, template: str) -> str:
    """The judge's prompt for the solution ending at `node_id` ({problem}, {solution} filled literally)."""
    solution = tree.delimiter.join(tree.steps(node_id))
    return template.replace("{problem}", tree.problem.problem).replace("{solution}", solution)


def self_evaluate(
    trees: Iterable[SearchTree],
    judge: "PolicyAgent",
    config: SelfEvalConfig = SelfEvalConfig(),
) -> dict[str, frozenset[int]]:
    """Problem id -> ids of the correct terminals the judge approved at least `required_yes`
    times out of `n_votes` (a vote that is not yes counts against). One batched `complete`
    call per tree, run where `config.executor` says (shards of `shard_trees` trees); trees
    without correct terminals map to an empty set."""
    out: dict[str, frozenset[int]] = {}

    def merge(shard: Shard[SearchTree], verdicts: list[frozenset[int]]) -> None:
        for tree, approved in zip(shard.items, verdicts):
            out[tree.problem.id] = out.get(tree.problem.id, frozenset()) | approved

    shards = make_shards(list(trees), config.shard_trees, lambda t: t.problem.id)
    map_shards(shards, functools.partial(judge_shard, config=config, template=config.template()), judge, config.executor, merge)
    return out


def judge_shard(judge: "PolicyAgent", shard: Shard[SearchTree], config: SelfEvalConfig, template: str) -> list[frozenset[int]]:
    """Approved correct-terminal ids of each tree of `shard` (an executor's `work`; one `complete` call per tree).

    Every call uses `config.seed`, so a tree's votes do not depend on which shard holds it."""
    from agents.base import SamplingConfig

    sampling = SamplingConfig(max_tokens=config.max_tokens, temperature=config.temperature, seed=config.seed)
    verdicts = []
    for tree in shard.items:
        ids = [n.id for n in tree.correct_terminals()]
        approved: set[int] = set()
        if ids:
            prompts = [judge_prompt(tree, i, template) for i in ids]
            votes = judge.complete(prompts, config.n_votes, sampling)
            for node_id, samples in zip(ids, votes):
                n_yes = sum(1 for s in samples if parse_vote(s.text) is True)
                if n_yes >= config.required_yes:
                    approved.add(node_id)
        verdicts.append(frozenset(approved))
    return verdicts


def approval_rate(good: dict[str, frozenset[int]], trees: Sequence[SearchTree]) -> float:
    """Fraction of correct terminals that passed (0.0 when there are none)."""
    total = sum(len(t.correct_terminals()) for t in trees)
    return sum(len(v) for v in good.values()) / total if total else 0.0
