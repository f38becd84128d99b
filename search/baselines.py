"""Search baselines with MCTS's inputs and outputs: best-of-N sampling and step-level beam search.

Both take problems, a policy and a config and return one `SearchTree` per problem, so
linearisation and the viewer treat them like MCTS trees (`SearchConfig.agent` switches).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

from agents.base import PolicyAgent, SamplingConfig, complete_states
from astro_env.errors import UserError
from astro_env.problem import Problem
from astro_env.state import DEFAULT_DELIMITER
from search.builder import SearchBudget, TaskResolver, add_candidates, call_seed, default_task_resolver, make_builders
from search.tree import SearchTree


@dataclass(frozen=True)
class BestOfNConfig:
    """Best-of-N: N whole solutions sampled from the root, each a chain of step nodes."""

    n_samples: int = 16
    """Solutions sampled per problem (N)."""
    max_tokens: int = 1024
    """Token budget of one solution."""
    max_depth: int = 50
    """Steps kept per solution; a longer one is cut there (wrong terminal)."""
    temperature: float = 1.0
    """Sampling temperature."""
    top_p: float = 1.0
    """Nucleus mass."""

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise UserError(f"n_samples={self.n_samples}: use >= 1.")
        if self.max_tokens < 1 or self.max_depth < 1:
            raise UserError("max_tokens and max_depth must be >= 1.")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise UserError(f"temperature={self.temperature}, top_p={self.top_p}: use temperature >= 0 and top_p in (0, 1].")

    @classmethod
    def for_budget(cls, budget: SearchBudget) -> "BestOfNConfig":
        """Equal compute: as many whole samples as MCTS spends on rollouts, each with the rollout token budget."""
        return cls(n_samples=budget.n_rollouts_total, max_tokens=budget.rollout_max_tokens, max_depth=budget.max_depth)


@dataclass(frozen=True)
class BeamConfig:
    """Step-level beam search: keep the `beam_width` best partial solutions per depth."""

    beam_width: int = 4
    """Partial solutions kept after each step."""
    n_expansions: int = 4
    """Candidate next steps sampled per beam (duplicates merge)."""
    score: Literal["logprob", "rollout"] = "logprob"
    """Ranking: mean per-token log-prob of the path so far, or the mean reward of rollouts."""
    n_rollouts: int = 4
    """Rollouts per candidate when `score="rollout"`."""
    max_depth: int = 50
    """Steps after which a path is cut (wrong terminal)."""
    step_max_tokens: int = 256
    """Token budget of one proposed step."""
    rollout_max_tokens: int = 1024
    """Token budget of one rollout."""
    temperature: float = 1.0
    """Sampling temperature."""
    top_p: float = 1.0
    """Nucleus mass."""

    def __post_init__(self) -> None:
        if self.beam_width < 1 or self.n_expansions < 1:
            raise UserError(f"beam_width={self.beam_width}, n_expansions={self.n_expansions}: use >= 1 each.")
        if self.score not in ("logprob", "rollout"):
            raise UserError(f"score={self.score!r}: use 'logprob' or 'rollout'.")
        if self.n_rollouts < 1 or self.max_depth < 1:
            raise UserError("n_rollouts and max_depth must be >= 1.")
        if self.step_max_tokens < 1 or self.rollout_max_tokens < 1:
            raise UserError("step_max_tokens and rollout_max_tokens must be >= 1.")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise UserError(f"temperature={self.temperature}, top_p={self.top_p}: use temperature >= 0 and top_p in (0, 1].")

    @classmethod
    def for_budget(cls, budget: SearchBudget) -> "BeamConfig":
        """A beam as wide as MCTS's expansion, expanding as many candidates, with its rollouts, depth and token budgets."""
        return cls(beam_width=budget.n_children, n_expansions=budget.n_children, n_rollouts=budget.n_rollouts,
                   max_depth=budget.max_depth, step_max_tokens=budget.step_max_tokens, rollout_max_tokens=budget.rollout_max_tokens)


def split_steps(text: str, delimiter: str) -> list[str]:
    """The non-empty steps of a completion, split at `delimiter`.

    >>> split_steps("a\\n\\nb\\n\\n", "\\n\\n")
    ['a', 'b']
    """
    return [s for s in text.split(delimiter) if s.strip()]


def best_of_n_trees(
    problems: Sequence[Problem],
    policy: PolicyAgent,
    config: BestOfNConfig = BestOfNConfig(),
    seed: int = 0,
    delimiter: str = DEFAULT_DELIMITER,
    task_for: TaskResolver = default_task_resolver,
) -> list[SearchTree]:
    """One tree per problem: N sampled solutions as chains below a shared root (one `complete` call).

    A chain stops at the first step stating a final answer (terminal with the task's
    verdict); a solution without one ends in a wrong terminal (answer None), as does one cut
    at `max_depth`. Every chain node has one visit and the chain's verdict as its value; the
    first nodes have prior 1/N. The root's N is the number of chains, Q their mean verdict.
    """
    builders = make_builders(problems, task_for, delimiter, seed, "best_of_n")
    sampling = SamplingConfig(
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        stop=(),
        seed=call_seed([b.seed for b in builders], "best_of_n"),
    )
    groups = policy.complete([b.root.state.prompt for b in builders], config.n_samples, sampling)
    for builder, group in zip(builders, groups):
        builder.stats["n_policy_calls"] += 1
        for completion in group:
            builder.stats["n_rollouts"] += 1
            builder.stats["n_generated_tokens"] += completion.n_tokens
            chain, parent = [], 0
            steps = split_steps(completion.text, delimiter) or [completion.text]
            for depth, step in enumerate(steps[: config.max_depth], start=1):
                prior = 1.0 / len(group) if depth == 1 else 1.0
                node = builder.add_child(parent, step, prior, config.max_depth)
                chain.append(node)
                parent = node.id
                if node.terminal:
                    break
            last = chain[-1]
            if not last.terminal:
                builder.mark_dead_end(last.id)
            for node in chain:
                node.visits, node.value = 1, last.value
                if node is not last:
                    node.own_value = last.value
            builder.root.visits += 1
        kids = [builder.nodes[c] for c in builder.root.children]
        builder.root.value = sum(k.value for k in kids) / len(kids) if kids else 0.0
        builder.stats["n_iterations"] = 1
    return [b.freeze(batch_size=len(builders)) for b in builders]


def beam_trees(
    problems: Sequence[Problem],
    policy: PolicyAgent,
    config: BeamConfig = BeamConfig(),
    seed: int = 0,
    delimiter: str = DEFAULT_DELIMITER,
    task_for: TaskResolver = default_task_resolver,
) -> list[SearchTree]:
    """One tree per problem from step-level beam search, all problems advanced together.

    Per depth: one `propose_steps` call (`n_expansions` candidates for every beam of every
    tree), optionally one `complete` call for the rollouts of the new non-terminal
    candidates; then each tree keeps its `beam_width` best non-terminal candidates (ties:
    creation order). Terminal candidates stay in the tree and are not expanded. Node values:
    a terminal's verdict; otherwise the rollout mean (`score="rollout"`) or
    exp(mean per-token log-prob of the path), in (0, 1]. Every created node has one visit.
    """
    builders = make_builders(problems, task_for, delimiter, seed, "beam")
    seeds = [b.seed for b in builders]
    path_logprob = [{0: (0.0, 0)} for _ in builders]  # node id -> (summed logprob, n_tokens)
    beams: list[list[int]] = [[0] for _ in builders]
    for b in builders:
        b.root.visits = 1
    for depth in range(config.max_depth):
        jobs = [(i, node_id) for i, beam in enumerate(beams) for node_id in beam]
        if not jobs:
            break
        sampling = SamplingConfig(
            max_tokens=config.step_max_tokens, temperature=config.temperature, top_p=config.top_p, stop=(delimiter,), seed=call_seed(seeds, depth, "expand")
        )
        proposals = policy.propose_steps([builders[i].nodes[n].state for i, n in jobs], config.n_expansions, sampling)
        candidates: list[list[int]] = [[] for _ in builders]
        for (i, parent_id), samples in zip(jobs, proposals):
            builder = builders[i]
            builder.stats["n_generated_tokens"] += sum(s.n_tokens for s in samples)
            children = add_candidates(builder, parent_id, samples, "logprob_softmax", 1.0, config.max_depth)
            if not children:
                builder.mark_dead_end(parent_id)
            parent_lp, parent_tokens = path_logprob[i][parent_id]
            for child in children:
                child.visits = 1
                path_logprob[i][child.id] = (parent_lp + child.logprob, parent_tokens + child.n_tokens)
                if not child.terminal:
                    lp, n_tok = path_logprob[i][child.id]
                    child.own_value = child.value = math.exp(min(0.0, lp / max(n_tok, 1)))
                    candidates[i].append(child.id)
        for i in {i for i, _ in jobs}:
            builders[i].stats["n_policy_calls"] += 1
            builders[i].stats["n_iterations"] += 1
        if config.score == "rollout":
            to_roll = [(i, c) for i, cands in enumerate(candidates) for c in cands]
            if to_roll:
                sampling = SamplingConfig(
                    max_tokens=config.rollout_max_tokens, temperature=config.temperature, top_p=config.top_p, stop=(), seed=call_seed(seeds, depth, "rollout")
                )
                groups = complete_states(policy, [builders[i].nodes[c].state for i, c in to_roll], config.n_rollouts, sampling)
                for (i, c), group in zip(to_roll, groups):
                    node = builders[i].nodes[c]
                    node.own_value = node.value = builders[i].rollout_value(c, group)
                    builders[i].stats["n_rollouts"] += len(group)
                    builders[i].stats["n_generated_tokens"] += sum(comp.n_tokens for comp in group)
        for i, cands in enumerate(candidates):
            ranked = sorted(cands, key=lambda c: -builders[i].nodes[c].value)  # stable: ties keep creation order
            beams[i] = ranked[: config.beam_width]
    return [b.freeze(batch_size=len(builders)) for b in builders]
