"""An outside search agent: greedy descent with restarts.

From the root it takes the policy's most likely candidate step until a terminal; a wrong
terminal starts the next attempt from the root with fresh samples, up to `n_attempts`.
The attempts share a tree (identical steps merge), so ASTRO's linearisation sees wrong
branches and restarts. Use it without installing anything:

    astro run --preset smoke --search-agent examples.greedy_restarts:GreedyRestarts
    astro search --problems countdown:8 --policy.backend countdown --search.agent examples.greedy_restarts:GreedyRestarts \
        --search.agent-config.n-attempts 3 --out trees.jsonl

or install this folder (`pip install -e examples/`) and call it `greedy`: its pyproject.toml
declares the entry point `greedy = "greedy_restarts:GreedyRestarts"` in `astro.search_agents`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from agents.base import PolicyAgent, SamplingConfig
from astro_env.problem import Problem
from search.builder import TaskResolver, add_candidates, call_seed, make_builders
from search.tree import SearchTree


@dataclass(frozen=True)
class GreedyRestartsConfig:
    """The agent's own settings: flags `--search.agent-config.*` (with these docstrings as help) once
    `--search.agent` names the agent; saved with the trees and printed in the report. No `for_budget`:
    the run's search budget leaves these defaults alone."""

    n_attempts: int = 4
    """Descents from the root per problem; the search stops early at a correct terminal."""
    n_candidates: int = 4
    """Candidate steps sampled at each node; the most likely one (length-normalised) is taken."""
    max_depth: int = 12
    """Steps after which a descent is cut (a wrong terminal)."""
    step_max_tokens: int = 64
    """Token budget of one step."""
    temperature: float = 1.0
    """Sampling temperature of the candidates."""

    def __post_init__(self) -> None:
        if self.n_attempts < 1 or self.n_candidates < 1 or self.max_depth < 1:
            raise ValueError("n_attempts, n_candidates and max_depth must be >= 1.")


class GreedyRestarts:
    """The `search.agent.SearchAgent` contract: a `Config` dataclass and `search(...)`."""

    Config = GreedyRestartsConfig

    def __init__(self, config: GreedyRestartsConfig = GreedyRestartsConfig()) -> None:
        self.config = config

    def search(self, problems: Sequence[Problem], policy: PolicyAgent, seed: int, delimiter: str,
               task_for: TaskResolver) -> list[SearchTree]:
        cfg = self.config
        builders = make_builders(problems, task_for, delimiter, seed, "greedy_restarts")
        seeds = [b.seed for b in builders]
        solved = [False] * len(builders)
        for attempt in range(cfg.n_attempts):
            frontier = {i: 0 for i in range(len(builders)) if not solved[i]}  # problem index -> current node id
            for depth in range(cfg.max_depth):
                if not frontier:
                    break
                order = sorted(frontier)
                states = [builders[i].nodes[frontier[i]].state for i in order]
                sampling = SamplingConfig(max_tokens=cfg.step_max_tokens, temperature=cfg.temperature, stop=(delimiter,),
                                          seed=call_seed(seeds, attempt, depth, "greedy"))
                proposals = policy.propose_steps(states, cfg.n_candidates, sampling)
                for i, samples in zip(order, proposals):
                    builder = builders[i]
                    children = add_candidates(builder, frontier[i], samples, "uniform", 1.0, cfg.max_depth)
                    best = max(children, key=lambda c: c.logprob / max(c.n_tokens, 1), default=None)
                    if best is None:
                        builder.mark_dead_end(frontier[i])
                        del frontier[i]
                    elif best.terminal:
                        solved[i] = solved[i] or bool(best.correct)
                        del frontier[i]
                    else:
                        frontier[i] = best.id
            for builder in builders:
                builder.stats["n_iterations"] += 1
        for builder in builders:  # values for the tree viewer and linearisation's high-Q reflections
            for node in reversed(builder.nodes):
                if node.terminal:
                    node.visits = max(node.visits, 1)
                kids = [builder.nodes[c] for c in node.children]
                if kids:
                    node.visits = max(node.visits, sum(k.visits for k in kids))
                    node.value = max(k.value for k in kids)
        return [b.freeze(attempts=cfg.n_attempts) for b in builders]
