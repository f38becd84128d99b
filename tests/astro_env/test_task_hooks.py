"""The optional task hooks of `astro_env.task`: configs through get_task, defaults, prompt keys, comparisons."""

from __future__ import annotations

import pytest

import astro_env
from astro_env.countdown import CountdownConfig, CountdownTask, generate_problems
from astro_env.errors import UserError
from astro_env.math_task import MathConfig
from astro_env.loaders import load_problems
from astro_env.problem import Problem, count_overlap, prompt_key
from astro_env.task import competence_probes, default_search_policy, outcome_phrases, task_config_class


def test_get_task_builds_a_task_from_its_config():
    assert task_config_class("countdown") is CountdownConfig and task_config_class("math") is MathConfig
    four = astro_env.get_task("countdown", {"n_numbers": 4, "max_target": 200})
    assert isinstance(four, CountdownTask) and four.config == CountdownConfig(n_numbers=4, max_target=200)
    # one instance per name and config; the same config as an instance, a mapping or command-line text
    assert astro_env.get_task("countdown", CountdownConfig(n_numbers=4, max_target=200)) is four
    assert astro_env.get_task("countdown", {"n_numbers": "4", "max_target": "200"}) is four
    assert astro_env.get_task("countdown") is astro_env.get_task("countdown", {}) is not four
    assert four.name == "countdown"  # problems it makes are scored by get_task(problem.task)
    assert astro_env.get_task("math", {}) is astro_env.get_task("math")
    equations = astro_env.get_task("math:boxed", {"kinds": "linear_equation,quadratic_root"})  # text as a command line gives it
    assert equations.config == MathConfig(kinds=("linear_equation", "quadratic_root")) and equations.extraction == "boxed"
    assert {p.task for p in equations.generate(4, 0)} == {"math:boxed"}  # scored by the task that made them


def test_a_task_generates_from_its_own_config():
    problems = astro_env.get_task("countdown", {"n_numbers": 4}).generate(5, 3)
    assert problems == generate_problems(5, 3, CountdownConfig(n_numbers=4))
    assert all(len(p.metadata["numbers"]) == 4 for p in problems)
    assert CountdownTask().generate(5, 3) == generate_problems(5, 3)


@pytest.mark.parametrize("name,config,match", [
    ("countdown", {"n_digits": 3}, "unknown config field.*n_digits.*n_numbers"),
    ("countdown", {"n_numbers": "four"}, "n_numbers='four' is not a int"),
    ("math", {"extraction": "lenient"}, "unknown config field.*extraction.*kinds"),
    ("reasoning_gym:chain_sum", {"size": 3}, "takes no config"),
    ("countdown", object(), "takes a CountdownConfig"),
])
def test_bad_task_configs_are_user_errors(name, config, match):
    with pytest.raises(UserError, match=match):
        astro_env.get_task(name, config)


def test_default_search_policy_comes_from_the_task():
    assert default_search_policy(astro_env.get_task("countdown")) == "countdown"
    assert default_search_policy(astro_env.get_task("math")) == "base"
    assert default_search_policy(astro_env.get_task("math", {"kinds": "linear_equation,quadratic_root"})) == "math"


def test_prompt_key_normalises_the_statement_only():
    a = Problem(id="a", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown")
    b = Problem(id="b", problem="  Numbers: 3 5 7 \r\n Target:\t26\n", answer="x")  # other id, answer, task
    c = Problem(id="c", problem="Numbers: 3 5 7\nTarget: 27", answer="27")
    assert prompt_key(a) == prompt_key(b) == "Numbers: 3 5 7 Target: 26" != prompt_key(c)
    assert prompt_key(Problem(id="d", problem="ｘ＋１", answer="1")) == "x+1"  # NFKC
    assert count_overlap([a, b, c, a], {prompt_key(a)}) == 3 and count_overlap([c], set()) == 0


def test_countdown_states_its_comparison_and_math_none():
    task = astro_env.get_task("countdown")
    phrases = outcome_phrases(task)
    problem = generate_problems(1, 0)[0]
    goal = task.outcome_goal(problem)
    assert goal == str(problem.metadata["target"]) and task.outcome_value(problem, "(7*3)+5") == "26"
    assert task.outcome_value(problem, "7/2") == "7/2" and task.outcome_value(problem, "nonsense") is None
    assert phrases.sentence("8", "6") == "That gives 8; the target is 6, so this is not it."
    assert phrases.sentence("6", "6") == "That gives 6; the target is 6, so we have it."
    assert phrases.parse("That gives 8; the target is 6, so this is not it.") == ("8", "6", False)
    assert phrases.parse("That gives 8.") is None
    assert task.outcome_goal(Problem(id="x", problem="no numbers", answer="1", task="countdown")) is None
    math = astro_env.get_task("math")  # fraction sums and roots have no check; its equations do
    assert competence_probes(math) is None and math.outcome_goal(Problem(id="r", problem="Simplify $\\sqrt{8}$.", answer="1")) is None
    assert math.outcome_goal(Problem(id="l", problem="Solve for $x$: $3x + 5 = 17$.", answer="4")) == "17"
    assert math.outcome_value(Problem(id="l", problem="Solve for $x$: $3x + 5 = 17$.", answer="4"), "\\frac{22}{3}") == "27"
    assert outcome_phrases(math).sentence("27", "17") == "The left side is 27 and the right side is 17, so this is not it."
    assert competence_probes(task).columns == ("legal_step_rate", "arithmetic_accuracy", "target_copy_rate")


def test_generated_problem_specs_come_from_the_registered_task():
    assert load_problems("countdown:4:2") == generate_problems(4, 2)
    assert [p.task for p in load_problems("math:3:1")] == ["math"] * 3 == [p.task for p in load_problems("synthetic:3:1")]
    assert load_problems("math:3:1") == load_problems("synthetic:3:1")
    with pytest.raises(UserError, match=r"countdown\[:n\[:seed\]\]"):
        load_problems("countdown:x")


def test_problem_records_are_checked_by_their_task(tmp_path):
    import json

    from astro_env.loaders import read_problems

    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "1", "problem": "Numbers: 1 2\nTarget: 3", "answer": "3", "task": "countdown",
                                "numbers": [1, "2"], "target": 3}) + "\n")
    with pytest.raises(UserError, match=r"p.jsonl:1: .*numbers"):
        read_problems(path)
    # a task that is not registered (or an import path in a data file) is not loaded to check its records
    path.write_text(json.dumps({"id": "1", "problem": "x", "answer": "3", "task": "os:system", "numbers": "?"}) + "\n")
    assert read_problems(path)[0].task == "os:system"
