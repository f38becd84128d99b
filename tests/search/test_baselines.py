"""Best-of-N and step-level beam search: same inputs and outputs as MCTS, switched by SearchConfig.agent."""

import pytest

from agents.scripted import ScriptedPolicy
from astro_env.problem import Problem
from search.baselines import BeamConfig, BestOfNConfig, beam_trees, best_of_n_trees, split_steps
from search.mcts import MCTSConfig
from search.run import SearchConfig, search_batch
from search.tree import SearchTree

PROBLEM = Problem(id="toy/1", problem="What is 2+2?", answer="4")
SCRIPT = {
    (): ["a", "b"],
    ("a",): ["x"],
    ("a", "x"): ["\\boxed{5}"],
    ("b",): ["\\boxed{4}"],
}


def test_split_steps():
    assert split_steps("a\n\nb\n\n\n\nc", "\n\n") == ["a", "b", "c"]
    assert split_steps("", "\n\n") == []


def test_best_of_n_builds_one_chain_per_sample():
    (tree,) = best_of_n_trees([PROBLEM], ScriptedPolicy(SCRIPT, seed=1), BestOfNConfig(n_samples=10))
    chains = tree.children(0)
    assert len(chains) == 10 and tree.root.visits == 10
    for first in chains:
        path_end = first
        while tree.children(path_end.id):
            (path_end,) = tree.children(path_end.id)
        assert path_end.terminal
        assert path_end.correct == (tree.steps(path_end.id) == ["b", "\\boxed{4}"])
        assert first.value == (1.0 if path_end.correct else 0.0)
    n_correct = len(tree.correct_terminals())
    assert 0 < n_correct < 10  # the seeded walks take both branches
    assert tree.root.value == pytest.approx(n_correct / 10)
    assert tree.agent == "best_of_n" and tree.stats["n_rollouts"] == 10


def test_best_of_n_stops_at_the_first_answer_and_marks_unanswered_wrong():
    script = {(): ["\\boxed{4}"], ("\\boxed{4}",): ["more"]}
    (tree,) = best_of_n_trees([PROBLEM], ScriptedPolicy(script), BestOfNConfig(n_samples=2))
    assert all(n.depth == 1 and n.correct for n in tree.terminals())
    (tree,) = best_of_n_trees([PROBLEM], ScriptedPolicy({(): ["think"]}), BestOfNConfig(n_samples=1))
    (leaf,) = tree.terminals()
    assert leaf.step == "think" and leaf.correct is False and leaf.answer is None


def test_beam_keeps_the_best_candidates_by_logprob():
    script = {(): ["good", "bad"], ("good",): ["\\boxed{4}"], ("bad",): ["\\boxed{3}"]}
    policy = ScriptedPolicy(script, logprobs={"good": -0.1, "bad": -3.0})
    (tree,) = beam_trees([PROBLEM], policy, BeamConfig(beam_width=1, n_expansions=2))
    good, bad = tree.children(0)
    assert good.value > bad.value
    assert tree.children(bad.id) == []  # pruned: outside the beam
    (answer,) = tree.children(good.id)
    assert answer.correct and tree.agent == "beam"


def test_beam_with_rollout_scores():
    policy = ScriptedPolicy(SCRIPT)
    (tree,) = beam_trees([PROBLEM], policy, BeamConfig(beam_width=1, n_expansions=2, score="rollout", n_rollouts=2))
    a, b = tree.children(0)
    assert (a.value, b.value) == (0.0, 1.0)  # rollouts from a always end in \boxed{5}
    assert tree.children(a.id) == [] and tree.correct_terminals()


def test_agents_swap_by_one_config_value():
    problems = [PROBLEM, Problem(id="toy/2", problem="2+2 again?", answer="4")]
    for agent in ("mcts", "best_of_n", "beam"):
        config = SearchConfig(agent=agent, agent_config={"mcts": MCTSConfig(n_iterations=8, n_children=2, n_rollouts=2), "best_of_n": BestOfNConfig(n_samples=8), "beam": BeamConfig()}[agent])
        trees = search_batch(problems, ScriptedPolicy(SCRIPT), config)
        assert [t.problem.id for t in trees] == ["toy/1", "toy/2"]
        assert all(t.agent == agent and t.correct_terminals() for t in trees)
        assert all(SearchTree.from_dict(t.to_dict()) == t for t in trees)


def test_baseline_config_validation():
    with pytest.raises(ValueError, match="n_samples"):
        BestOfNConfig(n_samples=0)
    with pytest.raises(ValueError, match="score"):
        BeamConfig(score="value")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="agent"):
        SearchConfig(agent="dfs")  # type: ignore[arg-type]
