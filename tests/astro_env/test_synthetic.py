"""Synthetic MATH-style problems: deterministic, and each answer checked against its problem by hand."""

from __future__ import annotations

import math
import re
from collections import Counter
from fractions import Fraction

import pytest

from astro_env.math_task import MathTask
from astro_env.synthetic import KINDS, generate_problem, generate_problems, latex_fraction


def _latex_value(text: str) -> Fraction:
    """Value of "3", "-2", "\\frac{3}{4}", "-\\frac{3}{4}" (the generator's answer forms)."""
    m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", text)
    if m:
        return Fraction(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) else 1)
    return Fraction(int(text))


@pytest.mark.parametrize("value, text", [(Fraction(3), "3"), (Fraction(-3, 4), "-\\frac{3}{4}"), (Fraction(6, 8), "\\frac{3}{4}"), (Fraction(0), "0")])
def test_latex_fraction(value, text):
    assert latex_fraction(value) == text


def test_deterministic_and_index_independent():
    a = generate_problems(40, seed=5)
    assert [p.to_dict() for p in a] == [p.to_dict() for p in generate_problems(40, seed=5)]
    assert generate_problem(5, 17) == a[17]
    assert [p.problem for p in generate_problems(40, seed=6)] != [p.problem for p in a]
    assert [p.id for p in a[:2]] == ["synthetic/5/0", "synthetic/5/1"]


def test_answers_are_mathematically_right():
    problems = generate_problems(200, seed=0)
    assert Counter(p.subject for p in problems).keys() == set(KINDS)
    for p in problems:
        assert p.task == "math" and p.solution.endswith(f"\\boxed{{{p.answer}}}$.")
        if p.subject == "fraction_sum":
            a, b, c, d = map(int, re.search(r"\\frac\{(\d+)\}\{(\d+)\} \+ \\frac\{(\d+)\}\{(\d+)\}", p.problem).groups())
            assert _latex_value(p.answer) == Fraction(a, b) + Fraction(c, d)
        elif p.subject == "simplify_root":
            n = int(re.search(r"\\sqrt\{(\d+)\}", p.problem).group(1))
            outer, inner = map(int, re.fullmatch(r"(\d+)\\sqrt\{(\d+)\}", p.answer).groups())
            assert outer * outer * inner == n and outer > 1
            assert all(inner % (k * k) for k in range(2, math.isqrt(inner) + 1))  # square-free
        else:
            a, sign, b, c = re.search(r"\$(-?\d+)x ([+-]) (\d+) = (-?\d+)\$", p.problem).groups()
            b_val = int(b) * (1 if sign == "+" else -1)
            assert int(a) * _latex_value(p.answer) + b_val == int(c)


def test_worked_solutions_earn_reward_one():
    task = MathTask()
    for p in generate_problems(30, seed=1):
        assert task.reward(p, p.solution) == 1.0
        assert task.extract_answer(p.solution.split("\n\n")[-1]) == p.answer
        assert all(task.extract_answer(step) is None for step in p.solution.split("\n\n")[:-1])
