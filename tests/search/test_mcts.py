"""PUCT MCTS: hand-traced iterations on scripted policies, Countdown search, a tiny model end to end."""


import pytest

from agents.scripted import ScriptedPolicy
from astro_env.problem import Problem
from search.builder import problem_seed
from search.mcts import MCTSConfig, mcts_trees
from search.tree import SearchTree

PROBLEM = Problem(id="toy/1", problem="What is 2+2?", answer="4")


def root_child(tree: SearchTree, step: str):
    return next(c for c in tree.children(0) if c.step == step)


def test_most_visited_root_child_leads_to_the_correct_answer():
    script = {
        (): ["a", "b"],
        ("a",): ["x"],
        ("a", "x"): ["\\boxed{5}"],
        ("b",): ["\\boxed{4}"],
    }
    (tree,) = mcts_trees([PROBLEM], ScriptedPolicy(script), MCTSConfig(n_iterations=32, n_children=2, n_rollouts=4))
    assert tree.root.visits == 32
    best = max(tree.children(0), key=lambda n: n.visits)
    assert best.step == "b"
    assert [n.answer for n in tree.correct_terminals()] == ["4"]
    assert tree.stats["n_iterations"] == 32


def test_three_iterations_by_hand():
    # rollouts from "a" always end in \boxed{5} (R=0), from "b" in \boxed{4} (R=1); priors 0.5 each.
    script = {(): ["a", "b"], ("a",): ["\\boxed{5}"], ("b",): ["\\boxed{4}"]}
    (tree,) = mcts_trees([PROBLEM], ScriptedPolicy(script), MCTSConfig(n_iterations=3, n_children=2, n_rollouts=3))
    a, b = root_child(tree, "a"), root_child(tree, "b")
    assert (a.prior, b.prior) == (0.5, 0.5)
    # it 1 expands the root; it 2 picks b (1 + 0.5*1/1 > 0 + 0.5), expands it into the correct terminal;
    # it 3 picks b again (1 + 0.5*sqrt2/2 > 0.5*sqrt2) and then its terminal child.
    assert (tree.root.visits, a.visits, b.visits) == (3, 0, 2)
    assert (a.value, b.value) == (0.0, 1.0)  # b: (1*1 + R=1) / (1 + 1)
    (terminal,) = tree.children(b.id)
    assert terminal.terminal and terminal.correct and terminal.visits == 1 and terminal.value == 1.0
    assert tree.root.value == 1.0  # visit-weighted mean of children: (0*0 + 1*2) / 2
    assert tree.stats["n_rollouts"] == 2 * 3  # two non-terminal children, 3 rollouts each


def test_zero_unvisited_value_ignores_rollouts_in_selection():
    script = {(): ["a", "b"], ("a",): ["\\boxed{5}"], ("b",): ["\\boxed{4}"]}
    config = MCTSConfig(n_iterations=2, n_children=2, n_rollouts=2, unvisited_value="zero")
    (tree,) = mcts_trees([PROBLEM], ScriptedPolicy(script), config)
    # it 2: both children score 0 + 0.5 -> tie -> the first child, "a"
    assert root_child(tree, "a").visits == 1 and root_child(tree, "b").visits == 0


def test_backup_mixes_child_values_with_rollout_value():
    # b's rollouts: half reach \boxed{4}; then b is expanded into one correct and one wrong terminal.
    script = {(): ["b"], ("b",): ["\\boxed{4}", "\\boxed{3}"]}
    policy = ScriptedPolicy(script)
    config = MCTSConfig(n_iterations=4, n_children=2, n_rollouts=8)
    (tree,) = mcts_trees([PROBLEM], policy, config)
    b = root_child(tree, "b")
    kids = tree.children(b.id)
    r_b = sum(c.text == "\\boxed{4}" for c in policy.complete([tree.prompt + "b\n\n"], 8, _rollout_sampling(tree, config))[0]) / 8
    # Q(b) = (sum_i Q_i N_i + R_b) / (sum_i N_i + 1)
    expected = (sum(k.value * k.visits for k in kids) + r_b) / (sum(k.visits for k in kids) + 1)
    assert 0 < r_b < 1
    assert b.value == pytest.approx(expected)
    assert b.visits == sum(k.visits for k in kids) + 1


def _rollout_sampling(tree, config):
    from agents.base import SamplingConfig
    from search.builder import call_seed

    return SamplingConfig(max_tokens=config.rollout_max_tokens, stop=(), seed=call_seed([tree.seed], 0, "rollout"))


def test_duplicates_merge_and_priors_sum_to_one():
    script = {(): ["a", "b"], ("a",): ["\\boxed{4}"], ("b",): ["\\boxed{4}"]}
    (tree,) = mcts_trees([PROBLEM], ScriptedPolicy(script), MCTSConfig(n_iterations=1, n_children=6, n_rollouts=1))
    kids = tree.children(0)
    assert [k.step for k in kids] == ["a", "b"]
    assert sum(k.prior for k in kids) == pytest.approx(1.0)


def test_logprob_prior_prefers_likelier_steps():
    script = {(): ["likely", "unlikely"]}
    policy = ScriptedPolicy(script, logprobs={"likely": -0.1, "unlikely": -2.0})
    (tree,) = mcts_trees([PROBLEM], policy, MCTSConfig(n_iterations=1, n_children=2, n_rollouts=1))
    likely, unlikely = tree.children(0)
    assert likely.prior > unlikely.prior
    (uniform,) = mcts_trees([PROBLEM], policy, MCTSConfig(n_iterations=1, n_children=2, n_rollouts=1, prior="uniform"))
    assert [k.prior for k in uniform.children(0)] == [0.5, 0.5]


def test_depth_limit_and_dead_ends_are_wrong_terminals():
    deep = {(): ["x"], ("x",): ["y"], ("x", "y"): ["\\boxed{4}"]}
    (tree,) = mcts_trees([PROBLEM], ScriptedPolicy(deep), MCTSConfig(n_iterations=5, n_children=1, n_rollouts=1, max_depth=2))
    assert max(n.depth for n in tree.nodes) == 2
    (cut,) = tree.terminals()
    assert cut.step == "y" and cut.answer is None and cut.correct is False
    (dead,) = mcts_trees([PROBLEM], ScriptedPolicy({(): ["a"]}), MCTSConfig(n_iterations=3, n_children=1, n_rollouts=1))
    a = dead.children(0)[0]
    assert a.terminal and a.correct is False and a.value == 0.0 and not dead.children(a.id)


def test_trees_advance_together_and_are_deterministic():
    script = {(): ["a", "b"], ("a",): ["\\boxed{5}"], ("b",): ["\\boxed{4}"]}
    problems = [Problem(id=f"toy/{i}", problem="2+2?", answer="4") for i in range(5)]
    policy = ScriptedPolicy(script)
    config = MCTSConfig(n_iterations=4, n_children=2, n_rollouts=2)
    trees = mcts_trees(problems, policy, config, seed=3)
    # one propose and at most one complete call per iteration for all five trees
    assert policy.n_calls["propose_steps"] <= 4 and policy.n_calls["complete"] <= 4
    assert [t.problem.id for t in trees] == [p.id for p in problems]
    assert trees == mcts_trees(problems, ScriptedPolicy(script), config, seed=3)
    assert [t.seed for t in trees] == [problem_seed(3, p.id) for p in problems]
    assert problem_seed(3, "toy/1") != problem_seed(4, "toy/1")
    for tree in trees:
        assert SearchTree.from_dict(tree.to_dict()) == tree
        assert {"n_iterations", "n_rollouts", "n_generated_tokens"} <= set(tree.stats) and "seconds" not in tree.stats


@pytest.mark.parametrize(
    "kwargs, fix",
    [
        ({"n_rollouts": 0}, "n_rollouts"),
        ({"n_children": 0}, "n_children"),
        ({"n_iterations": 0}, "n_iterations"),
        ({"prior": "softmax"}, "logprob_softmax"),
        ({"c_puct": -1.0}, "c_puct"),
    ],
)
def test_config_validation_names_the_fix(kwargs, fix):
    with pytest.raises(ValueError, match=fix):
        MCTSConfig(**kwargs)


def test_mcts_finds_correct_leaf_on_countdown():
    from agents.countdown_policy import CountdownPolicy
    from astro_env.countdown import CountdownConfig, generate_problems

    problems = generate_problems(40, seed=11, config=CountdownConfig(n_numbers=3))
    config = MCTSConfig(n_iterations=32, n_children=24, n_rollouts=4)  # k large: many legal steps are commutative twins
    trees = mcts_trees(problems, CountdownPolicy(seed=0), config, seed=0)
    solved = sum(1 for t in trees if t.correct_terminals())
    assert solved >= 0.9 * len(problems), f"{solved}/{len(problems)} trees have a correct leaf"
    for tree in trees:
        for node in tree.correct_terminals():
            assert node.value == 1.0 and node.answer


def test_mcts_end_to_end_with_tiny_transformers_model():
    import torch

    from agents import hf
    from agents.base import PolicyConfig
    from astro_env.countdown import generate_problems
    from training.embedded import ModelConfig, build_model, build_tokenizer

    torch.set_num_threads(1)
    tokenizer = build_tokenizer(kind="char")
    model = build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64), seed=0)
    policy = hf.TransformersPolicy(model, tokenizer, PolicyConfig(backend="transformers", device="cpu", step_max_tokens=8))
    problems = generate_problems(2, seed=0)
    config = MCTSConfig(n_iterations=3, n_children=2, n_rollouts=2, step_max_tokens=8, rollout_max_tokens=12)
    trees = mcts_trees(problems, policy, config, seed=0)
    for tree in trees:
        assert tree.root.visits == 3
        assert len(tree) > 1 and tree.stats["n_generated_tokens"] > 0
        assert all(0.0 <= n.value <= 1.0 for n in tree.nodes)
    assert trees == mcts_trees(problems, policy, config, seed=0)  # seeded: same trees again
