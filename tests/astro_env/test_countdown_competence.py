"""Countdown's competence probes: the audit by hand, a perfect solver, verification prefixes."""

from __future__ import annotations

import random

import astro_env
from astro_env.countdown import CountdownConfig, competence_rates, generate_problems, pool_from_text, problem_numbers, solve_steps
from astro_env.problem import Problem
from astro_env.task import competence_probes

TASK = astro_env.get_task("countdown")
PHRASES = TASK.outcome_phrases


def test_competence_rates_by_hand():
    problem = Problem(id="p", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown",
                      metadata={"numbers": [3, 5, 7], "target": 26})
    good = "7*3=21; left: 5 21\n\n21+5=26; left: 26\n\nThat gives 26; the target is 26, so we have it.\n\n\\boxed{(7*3)+5}"
    # 7*3=22 is wrong arithmetic (so illegal, and nothing after it is legal); 22+5=27 is right
    # arithmetic; "the target is 25" misstates the target
    bad = "7*3=22; left: 5 22\n\n22+5=27; left: 27\n\nThat gives 27; the target is 25, so this is not it.\n\n\\boxed{(7*3)+5}"
    rates = competence_rates([problem, problem], [good, bad], PHRASES)
    assert rates["legal_step_rate"] == 3 / 6
    assert rates["arithmetic_accuracy"] == 3 / 4
    assert rates["target_copy_rate"] == 1 / 2
    # a verdict that contradicts the two numbers it follows is not true either
    wrong_verdict = good.replace("so we have it", "so this is not it")
    assert competence_rates([problem], [wrong_verdict], PHRASES)["target_copy_rate"] == 0.0
    assert rates["legal_completion_rate"] == 1 / 2


def test_a_perfect_solver_audits_at_one():
    problems = generate_problems(5, seed=0)
    solutions = ["\n\n".join(solve_steps(p.metadata["numbers"], p.metadata["target"])) for p in problems]
    assert competence_probes(TASK).audit(problems, solutions) == {
        "legal_step_rate": 1.0, "legal_completion_rate": 1.0, "arithmetic_accuracy": 1.0,
        "target_copy_rate": 0.0}  # (no comparison written: none true)


def test_verification_pairs_reach_or_miss_the_target_with_legal_steps():
    problems = generate_problems(40, seed=5, config=CountdownConfig(n_numbers=3, max_number=9, max_target=50))
    pairs = competence_probes(TASK).verification_pairs(problems, random.Random(0))
    assert len(pairs) >= 60 and sum(r for _, _, r in pairs) == len(pairs) // 2
    for problem, prefix, reaches in pairs:
        steps = prefix[len(TASK.format_prompt(problem)):].split("\n\n")[:-1]
        pool = pool_from_text(problem, steps)
        assert pool is not None and len(pool) == 1
        assert (pool[0][1] == problem_numbers(problem)[1]) is reaches


def test_the_probe_budget_follows_the_numbers():
    assert competence_probes(astro_env.get_task("countdown", {"n_numbers": 4})).max_new_tokens == 24 * 4 + 24
