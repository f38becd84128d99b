"""The `SearchAgent` seam: problems + a policy -> one search tree per problem.

A search agent is a class with a frozen `Config` dataclass (its own settings, shown by
`--help`, saved in `run_config.json` and printed in the report) and a `search` method. It is
chosen by name (entry-point group `astro.search_agents`, where MCTS, best-of-N and beam are
declared too) or by a `package.module:Class` import path; `build_search_agent(name, config)`
builds it. See
`examples/greedy_restarts.py` for a complete outside agent, built with the public tree-building
API of `search.builder`. A run's equal-compute budget (`search.builder.SearchBudget`) reaches an
agent only through its Config's optional `for_budget(budget)` classmethod (`default_agent_config`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol, Sequence, runtime_checkable

from agents.base import PolicyAgent
from astro_env.errors import UserError
from astro_env.problem import Problem
from astro_env.registry import SEARCH_AGENTS
from search.baselines import BeamConfig, BestOfNConfig, beam_trees, best_of_n_trees
from search.builder import SearchBudget, TaskResolver
from search.mcts import MCTSConfig, mcts_trees
from search.tree import SearchTree


@runtime_checkable
class SearchAgent(Protocol):
    """Builds search trees whose terminals the task has labelled correct or wrong.

    `Config` is a frozen dataclass class attribute; the constructor takes one instance of it.
    `search` returns one `SearchTree` per problem, aligned with `problems`; it must be a
    function of (problems, policy, seed): per-problem randomness derives from `seed` and the
    problem (see `search.builder.problem_seed`), so a resumed or sharded run gives the same trees.
    Terminal nodes carry the task's verdict (`Node.correct`); linearisation relies on it.
    """

    Config: ClassVar[type]
    config: Any

    def search(
        self,
        problems: Sequence[Problem],
        policy: PolicyAgent,
        seed: int,
        delimiter: str,
        task_for: TaskResolver,
    ) -> list[SearchTree]:
        ...


class MCTSAgent:
    """PUCT Monte Carlo tree search as in ASTRO (`search.mcts`)."""

    Config = MCTSConfig

    def __init__(self, config: MCTSConfig = MCTSConfig()) -> None:
        self.config = config

    def search(self, problems, policy, seed, delimiter, task_for) -> list[SearchTree]:
        return mcts_trees(problems, policy, self.config, seed, delimiter, task_for)


class BestOfNAgent:
    """N independent whole solutions per problem, kept as a tree of shared prefixes (`search.baselines`)."""

    Config = BestOfNConfig

    def __init__(self, config: BestOfNConfig = BestOfNConfig()) -> None:
        self.config = config

    def search(self, problems, policy, seed, delimiter, task_for) -> list[SearchTree]:
        return best_of_n_trees(problems, policy, self.config, seed, delimiter, task_for)


class BeamAgent:
    """Step-level beam search (`search.baselines`)."""

    Config = BeamConfig

    def __init__(self, config: BeamConfig = BeamConfig()) -> None:
        self.config = config

    def search(self, problems, policy, seed, delimiter, task_for) -> list[SearchTree]:
        return beam_trees(problems, policy, self.config, seed, delimiter, task_for)


def search_agent_class(name: str) -> type:
    """The agent class `name` stands for (registered name or import path); UserError otherwise."""
    cls, _ = SEARCH_AGENTS.load(name)
    config_cls = getattr(cls, "Config", None)
    if not (isinstance(cls, type) and config_cls is not None and dataclasses.is_dataclass(config_cls)):
        raise UserError(f"search agent {name!r} must be a class with a dataclass `Config` attribute (see search.agent.SearchAgent).")
    if not callable(getattr(cls, "search", None)):
        raise UserError(f"search agent {name!r} ({cls.__name__}) has no search() method (see search.agent.SearchAgent).")
    return cls


def default_agent_config(name: str, budget: SearchBudget | None = None) -> Any:
    """The config agent `name` runs with when none is given: `Config.for_budget(budget)` when its
    Config declares that classmethod (and a budget is given), else `Config()`.

    This is the only way a run's budget reaches an agent: a field of the agent's Config is never
    set because its name matches a budget field.
    """
    config_cls = search_agent_class(name).Config
    for_budget = getattr(config_cls, "for_budget", None)
    if budget is None or not callable(for_budget):
        return config_cls()
    config = for_budget(budget)
    if not isinstance(config, config_cls):
        raise UserError(f"search agent {name!r}: {config_cls.__name__}.for_budget returned a {type(config).__name__}, not a {config_cls.__name__}.")
    return config


def build_search_agent(name: str, config: Any = None) -> SearchAgent:
    """The search agent `name` built with `config` (an instance of its `Config`; None: `Config()`)."""
    cls = search_agent_class(name)
    if config is None:
        config = cls.Config()
    elif not isinstance(config, cls.Config):
        raise UserError(f"search agent {name!r} takes a {cls.Config.__name__}, not a {type(config).__name__}.")
    return cls(config)
