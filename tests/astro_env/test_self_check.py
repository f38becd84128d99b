"""The optional `self_check` task hook: Countdown and the math task's equations check an answer against the prompt alone."""

from __future__ import annotations

import astro_env
from astro_env.countdown import CountdownTask
from astro_env.problem import Problem
from astro_env.task import SelfCheckingTask

# the prompt states 3 5 7 and target 26; the gold fields say something else and must not matter
PROBLEM = Problem(id="cd", problem="Numbers: 3 5 7\nTarget: 26", answer="(2*1)+1", task="countdown",
                  metadata={"numbers": [1, 1, 2], "target": 3})


def test_countdown_self_check_reads_only_the_prompt():
    task = CountdownTask()
    assert isinstance(task, SelfCheckingTask)
    assert task.self_check(PROBLEM, "3*7=21; left: 5 21\n\n\\boxed{(3*7)+5}")
    assert not task.self_check(PROBLEM, "\\boxed{(2*1)+1}")  # the gold answer fits the metadata, not the prompt
    assert not task.is_correct(PROBLEM, "(3*7)+5")  # ... while the verifier reads the metadata


def test_countdown_self_check_rejects_what_the_prompt_rules_out():
    task = CountdownTask()
    assert not task.self_check(PROBLEM, "\\boxed{(3*5)+7}")  # 22, not the target
    assert not task.self_check(PROBLEM, "\\boxed{26}")  # the target alone uses no numbers
    assert not task.self_check(PROBLEM, "\\boxed{(3*7)+5+5}")  # 5 twice
    assert not task.self_check(PROBLEM, "\\boxed{3*5} then \\boxed{(3*7)+5}")  # hedged boxes that disagree
    assert not task.self_check(PROBLEM, "3*7=21; left: 5 21")  # no answer
    assert not task.self_check(Problem(id="x", problem="no numbers here", answer="1", task="countdown"), "\\boxed{1}")
    assert not task.self_check(PROBLEM, None)  # type: ignore[arg-type]  # never raises


def test_math_checks_its_equations_and_no_other_problem():
    task = astro_env.get_task("math")
    assert isinstance(task, SelfCheckingTask)
    # the gold field says 5; the prompt's equation is solved by 4 only
    linear = Problem(id="l", problem="Solve for $x$: $3x + 5 = 17$.", answer="5", task="math")
    assert task.self_check(linear, "Divide both sides by $3$: $x = 4$.\n\nThe answer is $\\boxed{4}$.")
    assert not task.self_check(linear, "\\boxed{5}") and not task.self_check(linear, "x = 4")
    assert not task.self_check(linear, "\\boxed{3} or \\boxed{4}")  # hedged boxes that disagree
    quadratic = Problem(id="q", problem="Find the positive solution of $x^2 - x = 6$.", answer="3", task="math")
    assert task.self_check(quadratic, "\\boxed{3}") and not task.self_check(quadratic, "\\boxed{-2}")  # -2 solves, is not positive
    # a benchmark problem's prompt allows no check: no verdict at all (the retry baseline is left out)
    assert task.self_check(Problem(id="m", problem="Compute $\\frac{1}{2} + \\frac{1}{3}$.", answer="\\frac{5}{6}"), "\\boxed{1}") is None
