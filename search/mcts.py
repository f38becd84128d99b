"""PUCT Monte Carlo tree search over policy-proposed reasoning steps (ASTRO section 2).

One iteration, for every tree of a batch of problems at once:

1. **Select**: from the root, follow `argmax Q + c_puct * P * sqrt(N(S)) / (1 + N(S, a))`
   (`search.puct.select_child`) to a leaf. A child never selected (N = 0) scores with its
   rollout value R, which is its Q under the back-up rule below (no visited children);
   `unvisited_value="zero"` scores it with 0 instead (AlphaZero's first-play value), which
   ignores the rollouts just paid for and finds fewer correct leaves on Countdown.
2. **Expand** a non-terminal leaf: `policy.propose_steps` samples `n_children` candidate steps
   (one call for the leaves of all trees); identical texts are merged into one child whose
   prior is the sum of theirs; priors come from `search.puct.sibling_priors`.
   A child is terminal when the task extracts a final answer from its step (verdict:
   `task.is_correct`) or when it reaches `max_depth` (verdict: wrong, answer None).
3. **Evaluate** each new child: a terminal by its verdict (1.0 / 0.0); any other by
   `n_rollouts` completions from its text (one `policy.complete` call for all new children
   of all trees), each scored by `task.reward(problem, solution + delimiter + completion)`;
   the value R is their mean.
4. **Back up**: N += 1 for every node on the selected path, then bottom-up
   `Q = (sum_i Q_i N_i + R) / (sum_i N_i + 1)` (`search.puct.backup_value`).

A leaf whose expansion yields no non-empty step is a dead end: it becomes a wrong terminal
(answer None, value 0). Selecting a terminal leaf only backs up (no policy call).

Determinism: the sampling seed of every policy call is derived from the per-problem seeds
of the batch (`search.builder.problem_seed`) and the iteration, so the same problems in the same batch give
the same tree on a deterministic backend, whatever ran before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from agents.base import PolicyAgent, SamplingConfig, complete_states
from astro_env.errors import UserError
from astro_env.problem import Problem
from astro_env.state import DEFAULT_DELIMITER
from search.builder import SearchBudget, TaskResolver, TreeBuilder, add_candidates, call_seed, default_task_resolver, make_builders
from search.puct import PriorKind, select_child
from search.tree import SearchTree

__all__ = ["MCTSConfig", "mcts_trees", "select_path"]


@dataclass(frozen=True)
class MCTSConfig:
    """PUCT MCTS budget and rules (defaults: the paper's k=8, M=16, 32 iterations, depth 50)."""

    n_iterations: int = 32
    """Select-expand-evaluate-backup cycles per problem (paper: 32)."""
    n_children: int = 8
    """Candidate next steps sampled when a node is expanded (paper: k=8); duplicates merge."""
    n_rollouts: int = 16
    """Rollouts to a terminal state that value each new non-terminal child (paper: M=16)."""
    max_depth: int = 50
    """Steps after which a path is cut and counted as a wrong terminal (paper: 50)."""
    c_puct: float = 1.0
    """Exploration constant of PUCT (ours: 1.0; the paper does not give it)."""
    prior: PriorKind = "logprob_softmax"
    """Sibling prior: softmax of length-normalised log-probs (ours) or uniform."""
    prior_temperature: float = 1.0
    """Temperature of the log-prob softmax prior."""
    unvisited_value: Literal["rollout", "zero"] = "rollout"
    """Q used by PUCT for a child never selected: 0, or its rollout value R."""
    step_max_tokens: int = 256
    """Token budget of one proposed step."""
    rollout_max_tokens: int = 1024
    """Token budget of one rollout (the rest of a solution)."""
    temperature: float = 1.0
    """Sampling temperature for steps and rollouts."""
    top_p: float = 1.0
    """Nucleus mass for steps and rollouts."""

    def __post_init__(self) -> None:
        if self.n_iterations < 1:
            raise UserError(f"n_iterations={self.n_iterations}: use >= 1 (paper: 32).")
        if self.n_children < 1:
            raise UserError(f"n_children={self.n_children} cannot expand a node; use >= 1 (paper: 8).")
        if self.n_rollouts < 1:
            raise UserError(f"n_rollouts={self.n_rollouts} leaves new children unvalued; use >= 1 (paper: 16).")
        if self.max_depth < 1:
            raise UserError(f"max_depth={self.max_depth}: use >= 1 (paper: 50).")
        if self.c_puct < 0:
            raise UserError(f"c_puct={self.c_puct}: use >= 0 (ours: 1.0).")
        if self.prior not in ("logprob_softmax", "uniform"):
            raise UserError(f"prior={self.prior!r}: use 'logprob_softmax' or 'uniform'.")
        if self.prior_temperature <= 0:
            raise UserError(f"prior_temperature={self.prior_temperature}: use > 0.")
        if self.unvisited_value not in ("zero", "rollout"):
            raise UserError(f"unvisited_value={self.unvisited_value!r}: use 'zero' or 'rollout'.")
        if self.step_max_tokens < 1 or self.rollout_max_tokens < 1:
            raise UserError("step_max_tokens and rollout_max_tokens must be >= 1.")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise UserError(f"temperature={self.temperature}, top_p={self.top_p}: use temperature >= 0 and top_p in (0, 1].")

    @classmethod
    def for_budget(cls, budget: SearchBudget) -> "MCTSConfig":
        """The budget's iterations, children, rollouts, depth and token budgets; the other fields at their defaults."""
        return cls(n_iterations=budget.n_iterations, n_children=budget.n_children, n_rollouts=budget.n_rollouts,
                   max_depth=budget.max_depth, step_max_tokens=budget.step_max_tokens, rollout_max_tokens=budget.rollout_max_tokens)


def select_path(builder: TreeBuilder, config: MCTSConfig) -> list[int]:
    """Node ids from the root to the leaf PUCT selects (root first)."""
    path = [0]
    node = builder.root
    while node.children:
        kids = [builder.nodes[c] for c in node.children]
        unvisited = [k.own_value or 0.0 for k in kids] if config.unvisited_value == "rollout" else None
        idx = select_child([k.value for k in kids], [k.prior for k in kids], [k.visits for k in kids], node.visits, config.c_puct, unvisited)
        node = kids[idx]
        path.append(node.id)
    return path


def mcts_trees(
    problems: Sequence[Problem],
    policy: PolicyAgent,
    config: MCTSConfig = MCTSConfig(),
    seed: int = 0,
    delimiter: str = DEFAULT_DELIMITER,
    task_for: TaskResolver = default_task_resolver,
) -> list[SearchTree]:
    """One MCTS tree per problem (aligned with `problems`), all advanced together.

    Each iteration makes at most two policy calls for the whole batch: one `propose_steps`
    for every selected non-terminal leaf and one `complete` for every new child's rollouts.
    """
    builders = make_builders(problems, task_for, delimiter, seed, "mcts")
    seeds = [b.seed for b in builders]
    step_sampling = dict(max_tokens=config.step_max_tokens, temperature=config.temperature, top_p=config.top_p, stop=(delimiter,))
    rollout_sampling = dict(max_tokens=config.rollout_max_tokens, temperature=config.temperature, top_p=config.top_p, stop=())
    for iteration in range(config.n_iterations):
        paths = [select_path(b, config) for b in builders]
        expand = [i for i, path in enumerate(paths) if not builders[i].nodes[path[-1]].terminal]
        to_roll: list[tuple[int, int]] = []
        if expand:
            states = [builders[i].nodes[paths[i][-1]].state for i in expand]
            sampling = SamplingConfig(**step_sampling, seed=call_seed(seeds, iteration, "expand"))
            proposals = policy.propose_steps(states, config.n_children, sampling)
            if len(proposals) != len(states):
                raise ValueError(f"policy.propose_steps returned {len(proposals)} lists for {len(states)} states.")
            for i, samples in zip(expand, proposals):
                builder, leaf = builders[i], paths[i][-1]
                builder.stats["n_generated_tokens"] += sum(s.n_tokens for s in samples)
                builder.stats["n_policy_calls"] += 1
                children = add_candidates(builder, leaf, samples, config.prior, config.prior_temperature, config.max_depth)
                if not children:
                    builder.mark_dead_end(leaf)
                to_roll += [(i, c.id) for c in children if not c.terminal]
        if to_roll:
            roll_states = [builders[i].nodes[c].state for i, c in to_roll]
            sampling = SamplingConfig(**rollout_sampling, seed=call_seed(seeds, iteration, "rollout"))
            groups = complete_states(policy, roll_states, config.n_rollouts, sampling)
            if len(groups) != len(roll_states):
                raise ValueError(f"policy.complete returned {len(groups)} groups for {len(roll_states)} prompts.")
            for (i, c), group in zip(to_roll, groups):
                builder = builders[i]
                node = builder.nodes[c]
                node.own_value = node.value = builder.rollout_value(c, group)
                builder.stats["n_rollouts"] += len(group)
                builder.stats["n_generated_tokens"] += sum(comp.n_tokens for comp in group)
            for i in {i for i, _ in to_roll}:
                builders[i].stats["n_policy_calls"] += 1
        for builder, path in zip(builders, paths):
            builder.backup(path)
            builder.stats["n_iterations"] += 1
    return [b.freeze(batch_size=len(builders)) for b in builders]
