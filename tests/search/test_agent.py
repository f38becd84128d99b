"""The SearchAgent seam: agents by name or import path, each with its own config."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from agents.countdown_policy import CountdownPolicy
from astro_env.countdown import generate_problems
from astro_env.jsonl import read_jsonl
from astro_env.errors import UserError
from search.agent import build_search_agent, default_agent_config
from search.builder import SearchBudget
from search.mcts import MCTSConfig
from search.run import SearchConfig, search_trees

GREEDY = "examples.greedy_restarts:GreedyRestarts"


def test_an_agents_own_config_gets_typed_flags_with_its_docstrings_as_help(capsys):
    from astro.args import parse_config
    from astro.commands.search import SearchJob

    def parse(*argv):
        return parse_config(SearchJob, list(argv), SearchJob(), prog="astro search", description="")

    job = parse("--search.agent-config.n-iterations", "8", "--search.agent-config.c-puct", "1.5",
                "--search.agent-config.unvisited-value", "zero")
    assert job.search.agent_config == MCTSConfig(n_iterations=8, c_puct=1.5, unvisited_value="zero")
    greedy = parse("--search.agent", GREEDY, "--search.agent-config.n-attempts", "3").search
    assert type(greedy.agent_config).__name__ == "GreedyRestartsConfig" and greedy.agent_config.n_attempts == 3
    with pytest.raises(UserError, match="did you mean --search.agent-config.n-samples"):
        parse("--search.agent", "best_of_n", "--search.agent-config.n-sample", "3")
    with pytest.raises(UserError, match="unvisited-value"):
        parse("--search.agent-config.unvisited-value", "maybe")
    with pytest.raises(SystemExit):
        parse("--search.agent", GREEDY, "--help")
    helptext = capsys.readouterr().out
    assert "--search.agent-config.n-attempts" in helptext and "Descents from the root per problem" in helptext


class FourSamples:
    """An outside agent whose config has a field named like a budget field, and no `for_budget`."""

    @dataclass(frozen=True)
    class Config:
        n_samples: int = 4
        """Samples per problem."""
        max_depth: int = 5
        """Deepest step."""

    def __init__(self, config=None):
        self.config = config

    def search(self, problems, policy, seed, delimiter, task_for):
        raise AssertionError("not searched here")


def test_the_budget_reaches_an_agent_only_through_its_for_budget():
    budget = SearchBudget(n_iterations=16, n_children=4, n_rollouts=4, max_depth=8, step_max_tokens=64, rollout_max_tokens=96)
    assert default_agent_config("mcts", budget) == MCTSConfig(n_iterations=16, n_children=4, n_rollouts=4, max_depth=8,
                                                              step_max_tokens=64, rollout_max_tokens=96)
    assert default_agent_config("best_of_n", budget).n_samples == 16 * 4 * 4  # equal compute, as the agent declares
    outside = f"{__name__}:FourSamples"
    assert default_agent_config(outside, budget) == FourSamples.Config()  # its own defaults survive: 4 stays 4
    assert SearchConfig(agent=outside, budget=budget).agent_config.n_samples == 4


def test_the_run_budget_leaves_an_outside_agents_defaults_alone():
    from astro.run import parse_args

    config, _ = parse_args(["--preset", "smoke", "--search.agent", f"{__name__}:FourSamples"])
    assert config.search.agent_config == FourSamples.Config(n_samples=4, max_depth=5)
    config, _ = parse_args(["--preset", "smoke", "--search.agent", f"{__name__}:FourSamples", "--search.agent-config.n-samples", "7"])
    assert config.search.agent_config.n_samples == 7
    config, _ = parse_args(["--preset", "smoke", "--search.agent", "best_of_n", "--search.budget.n-iterations", "2"])
    assert config.search.agent_config.n_samples == 2 * 4 * 4  # the budget as changed on the command line


def test_an_outside_agent_by_import_path_builds_trees_and_the_config_saved_is_its_own(tmp_path):
    from examples.greedy_restarts import GreedyRestartsConfig

    agent = build_search_agent(GREEDY, GreedyRestartsConfig(n_attempts=3))
    assert agent.config.n_attempts == 3
    problems = generate_problems(6, seed=3)
    config = SearchConfig(agent=GREEDY, agent_config=agent.config, seed=1)
    out = tmp_path / "trees.jsonl"
    trees = search_trees(problems, CountdownPolicy(seed=0), config, out_path=out, progress=False)
    assert [t.problem.id for t in trees] == [p.id for p in problems]
    assert all(t.agent == "greedy_restarts" for t in trees)
    assert any(t.correct_terminals() for t in trees) and any(t.wrong_terminals() for t in trees)
    saved = json.loads(out.with_name("trees.config.json").read_text())["search"]
    assert saved["agent"] == GREEDY and saved["agent_config"]["n_attempts"] == 3 and "c_puct" not in saved["agent_config"]
    again = search_trees(problems, CountdownPolicy(seed=0), config, progress=False)
    assert [t.to_dict() for t in again] == [t.to_dict() for t in trees]  # a function of (problems, policy, seed)


def test_search_cli_runs_an_outside_agent_with_its_options(tmp_path, capsys):
    from astro.cli import main

    out = tmp_path / "trees.jsonl"
    args = ["search", "--problems", "countdown:4", "--policy.backend", "countdown", "--out", str(out), "--no-progress", "--search-agent", GREEDY]
    assert main(args + ["--search.agent-config.n-attempts", "2", "--search.agent-config.max-depth", "6"]) == 0
    assert {r["agent"] for r in read_jsonl(out)} == {"greedy_restarts"}
    assert json.loads(out.with_name("trees.config.json").read_text())["search"]["agent_config"]["n_attempts"] == 2
    assert main(args + ["--search.agent-config.c-puct", "2"]) == 2  # an MCTS setting the greedy agent does not have
    assert "--search.agent-config.c-puct" in capsys.readouterr().err
