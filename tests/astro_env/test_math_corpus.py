"""The math task's pre-training corpus: attempts of the grammar, slips at the set rate, exclusion by construction."""

from __future__ import annotations

import pytest

import astro_env
from astro_env.errors import UserError
from astro_env.math_steps import parse_equation
from astro_env.problem import prompt_key

EQUATIONS = {"kinds": "linear_equation,quadratic_root"}
TASK = astro_env.get_task("math", EQUATIONS)


def test_corpus_is_seeded_and_grows_by_prefix():
    pairs = TASK.pretrain_corpus(300, seed=5)
    assert pairs == TASK.pretrain_corpus(300, seed=5) and TASK.pretrain_corpus(120, seed=5) == pairs[:120]
    assert TASK.pretrain_corpus(300, seed=6) != pairs
    # its problems come from their own stream, not the run's (seed 5)
    assert not {p.id for p, _ in pairs} & {p.id for p in TASK.generate(300, 5)}
    assert {p.subject for p, _ in pairs} == {"linear_equation", "quadratic_root"} and all(p.task == "math" for p, _ in pairs)


def test_the_corpus_never_holds_an_excluded_prompt():
    # the whole quadratic space of max_root 3 is 9 prompts: exclude 6 of them and every linear prompt drawn
    task = astro_env.get_task("math", dict(EQUATIONS, max_root=3))
    drawn = task.pretrain_corpus(400, seed=1)
    quadratics = sorted({prompt_key(p) for p, _ in drawn if p.subject == "quadratic_root"})
    assert len(quadratics) == 9
    excluded = frozenset(quadratics[:6]) | {prompt_key(p) for p, _ in drawn if p.subject == "linear_equation"}
    pairs = task.pretrain_corpus(400, seed=1, exclude_keys=excluded)
    assert len(pairs) == 400 and not {prompt_key(p) for p, _ in pairs} & excluded
    assert {prompt_key(p) for p, _ in pairs if p.subject == "quadratic_root"} == set(quadratics[6:])
    with pytest.raises(ValueError, match="nearly every prompt is excluded"):
        astro_env.get_task("math", {"kinds": "quadratic_root", "max_root": 1}).pretrain_corpus(
            5, seed=0, exclude_keys={"Find the positive solution of $x^2 = 1$."})


def test_every_attempt_is_well_formed_true_checked_and_boxed():
    pairs = TASK.pretrain_corpus(400, seed=0)
    probes = TASK.competence_probes()
    assert probes.audit([p for p, _ in pairs], [c for _, c in pairs]) == {
        "well_formed_rate": 1.0, "attempt_well_formed_rate": 1.0, "arithmetic_accuracy": 1.0, "check_accuracy": 1.0}
    for problem, completion in pairs:
        chunks = completion.split("\n\n")
        comparison = TASK.outcome_phrases.parse(chunks[-2])
        assert chunks[-1].startswith("The answer is $\\boxed{") and comparison is not None
        # "we have it" exactly when the attempt solves; the stop rule of the retry baseline says the same
        assert comparison.reached is (TASK.reward(problem, completion) == 1.0) is TASK.self_check(problem, completion)
        assert comparison.goal == str(parse_equation(problem.problem).c)


def test_slips_and_tries_come_at_their_rates():
    def solved(config, n=800):
        pairs = astro_env.get_task("math", config).pretrain_corpus(n, seed=3)
        return sum(TASK.self_check(p, c) for p, c in pairs) / n  # = the reward on these attempts (test above)

    # two slips of 0.3 each: (1 - 0.3) ** 2 = 0.49 of linear attempts solve; none slip at 0
    assert abs(solved({"kinds": "linear_equation"}) - 0.49) < 0.05  # ignoring the rate (0.5) would give 0.25
    assert solved({"kinds": "linear_equation", "slip_rate": 0.0}, n=200) == 1.0
    # a uniformly random divisor up to 20: about a quarter of the quadratics of max_root 12
    assert 0.18 < solved({"kinds": "quadratic_root"}) < 0.32


def test_kinds_without_a_grammar_have_no_corpus_and_no_probes():
    task = astro_env.get_task("math")  # fraction sums, roots, linear equations
    with pytest.raises(UserError, match="fraction_sum, simplify_root have no step grammar.*--model"):
        task.pretrain_corpus(10, seed=0)
    assert task.competence_probes() is None and task.default_search_policy == "base"
    assert TASK.default_search_policy == "math"
