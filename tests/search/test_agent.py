"""The SearchAgent seam: agents by name or import path, each with its own config."""

from __future__ import annotations

import json

import pytest

from agents.countdown_policy import CountdownPolicy
from astro_env.countdown import generate_problems
from astro_env.jsonl import read_jsonl
from search.agent import agent_config, build_search_agent, parse_options
from search.mcts import MCTSConfig
from search.run import SearchConfig, search_trees

GREEDY = "examples.greedy_restarts:GreedyRestarts"


def test_options_are_typed_by_the_agents_config():
    config = agent_config("mcts", parse_options(["n_iterations=8", "c_puct=1.5", "unvisited_value=zero"]))
    assert config == MCTSConfig(n_iterations=8, c_puct=1.5, unvisited_value="zero")
    with pytest.raises(ValueError, match="no option n_samples; its options: .*n_iterations"):
        agent_config("mcts", {"n_samples": 3})
    with pytest.raises(ValueError, match="unvisited_value"):
        agent_config("mcts", {"unvisited_value": "maybe"})
    with pytest.raises(ValueError, match="key=value"):
        parse_options(["n_iterations"])


def test_an_outside_agent_by_import_path_builds_trees_and_the_config_saved_is_its_own(tmp_path):
    agent = build_search_agent(GREEDY, {"n_attempts": "3"})
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
    from astro.commands.search import main

    out = tmp_path / "trees.jsonl"
    args = ["--countdown", "4", "--policy", "countdown", "--out", str(out), "--no-progress", "--search-agent", GREEDY]
    assert main(args + ["--search-option", "n_attempts=2", "--max-depth", "6"]) == 0
    assert {r["agent"] for r in read_jsonl(out)} == {"greedy_restarts"}
    assert main(args + ["--c-puct", "2"]) == 2  # an MCTS setting the greedy agent does not have
    assert "no option c_puct" in capsys.readouterr().err
