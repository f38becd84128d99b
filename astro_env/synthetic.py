"""Procedurally generated MATH-style problems with LaTeX answers (the offline default of
`astro/MathReasoning-v0`).

Four kinds: adding two fractions (`\\frac{p}{q}` answers), simplifying a square root
(`a\\sqrt{b}`), solving a linear equation (integer or fractional `x`), and finding the positive
root of `x^2 + bx = c` (an integer; `quadratic_root`). `generate_problems` draws uniformly from the
kinds it is given (default `KINDS`, the first three). Each problem carries a short worked solution
whose steps are separated by a blank line and whose last step boxes the answer, so scripted
policies and demos can replay it. The equations' step grammar (slips, tries, checks) is
`astro_env.math_steps`.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from astro_env.math_steps import MAX_TRY, Equation, check_step, latex_fraction, try_step
from astro_env.math_steps import signed_term as _signed_term
from astro_env.problem import Problem

KINDS = ("fraction_sum", "simplify_root", "linear_equation")
"""The kinds `generate_problems` draws from by default."""
ALL_KINDS = KINDS + ("quadratic_root",)
"""Every kind the generator can make."""
MAX_ROOT = 12
"""Default bound of a `quadratic_root` problem's roots: x^2 + bx = c has roots r in 1..max_root and -s, s in 1..max_root."""

__all__ = ["ALL_KINDS", "KINDS", "MAX_ROOT", "generate_problem", "generate_problems", "latex_fraction"]


def _fraction_sum(rng: random.Random) -> tuple[str, str, list[str], str]:
    b, d = rng.randint(2, 9), rng.randint(2, 9)
    a, c = rng.randint(1, b - 1), rng.randint(1, d - 1)
    total = Fraction(a, b) + Fraction(c, d)
    lcd = b * d // math.gcd(b, d)
    problem = f"Compute $\\frac{{{a}}}{{{b}}} + \\frac{{{c}}}{{{d}}}$. Express your answer as a common fraction in lowest terms."
    steps = [
        f"The least common denominator of ${b}$ and ${d}$ is ${lcd}$.",
        f"So $\\frac{{{a}}}{{{b}}} + \\frac{{{c}}}{{{d}}} = \\frac{{{a * lcd // b}}}{{{lcd}}} + \\frac{{{c * lcd // d}}}{{{lcd}}} = \\frac{{{a * lcd // b + c * lcd // d}}}{{{lcd}}}$.",
        f"In lowest terms this is ${latex_fraction(total)}$.",
    ]
    return "fraction_sum", problem, steps, latex_fraction(total)


def _simplify_root(rng: random.Random) -> tuple[str, str, list[str], str]:
    squarefree = [2, 3, 5, 6, 7, 10, 11, 13, 14, 15]
    outer, inner = rng.randint(2, 12), rng.choice(squarefree)
    n = outer * outer * inner
    answer = f"{outer}\\sqrt{{{inner}}}"
    problem = f"Simplify $\\sqrt{{{n}}}$."
    steps = [
        f"Factor out the largest perfect square: ${n} = {outer * outer} \\cdot {inner}$.",
        f"So $\\sqrt{{{n}}} = \\sqrt{{{outer * outer}}} \\cdot \\sqrt{{{inner}}} = {answer}$.",
    ]
    return "simplify_root", problem, steps, answer


def _linear_equation(rng: random.Random) -> tuple[str, str, list[str], str]:
    a = rng.choice([k for k in range(-9, 10) if k not in (-1, 0, 1)])
    b = rng.randint(-20, 20)
    x = Fraction(rng.randint(-12, 12), rng.choice([1, 1, 1, 2, 3, 4, 5]))
    c = a * x + b
    if c.denominator != 1:
        x = Fraction(round(x))
        c = a * x + b
    c = int(c)
    problem = f"Solve for $x$: ${a}x {_signed_term(b)} = {c}$."
    steps = [
        (f"Subtract ${b}$ from both sides" if b >= 0 else f"Add ${-b}$ to both sides") + f": ${a}x = {c - b}$.",
        f"Divide both sides by ${a}$: $x = {latex_fraction(Fraction(c - b, a))}$.",
    ]
    return "linear_equation", problem, steps, latex_fraction(x)


def _quadratic_root(rng: random.Random, max_root: int = MAX_ROOT) -> tuple[str, str, list[str], str]:
    root, other = rng.randint(1, max_root), rng.randint(1, max_root)
    equation = Equation("quadratic_root", 1, other - root, root * other)  # (x - root)(x + other) = x^2 + bx - c
    steps = [try_step(root), check_step(equation, Fraction(root))]
    return "quadratic_root", equation.statement, steps, str(root)


_BUILDERS = {"fraction_sum": _fraction_sum, "simplify_root": _simplify_root, "linear_equation": _linear_equation,
             "quadratic_root": _quadratic_root}


def generate_problem(seed: int, idx: int, kinds: tuple[str, ...] = KINDS, max_root: int = MAX_ROOT) -> Problem:
    """Problem `idx` of stream `seed` (deterministic; independent of other indices).

    The kind is drawn uniformly from `kinds` (a kind listed twice is drawn twice as often);
    `max_root` bounds a `quadratic_root` problem's roots (at most `math_steps.MAX_TRY`). id
    `synthetic/<seed>/<idx>`, task "math", `subject` the kind, `solution` the worked steps joined by
    a blank line ending in `\\boxed{answer}`. The default arguments give the problems they always gave.
    """
    unknown = sorted(set(kinds) - set(ALL_KINDS))
    if unknown or not kinds:
        raise ValueError(f"kinds={kinds!r}: use one or more of {', '.join(ALL_KINDS)}.")
    if not 1 <= max_root <= MAX_TRY:
        raise ValueError(f"max_root={max_root}: use 1..{MAX_TRY} (an attempt tries divisors up to {MAX_TRY}).")
    rng = random.Random(f"synthetic/{seed}/{idx}")
    kind = rng.choice(kinds)
    builder = _BUILDERS[kind]
    kind, problem, steps, answer = builder(rng, max_root) if kind == "quadratic_root" else builder(rng)
    steps = steps + [f"The answer is $\\boxed{{{answer}}}$."]
    return Problem(
        id=f"synthetic/{seed}/{idx}",
        problem=problem,
        answer=answer,
        solution="\n\n".join(steps),
        source="synthetic",
        subject=kind,
        level=1,
        task="math",
    )


def generate_problems(n: int, seed: int = 0, kinds: tuple[str, ...] = KINDS, max_root: int = MAX_ROOT) -> list[Problem]:
    """`n` synthetic problems `synthetic/<seed>/0..n-1` (deterministic in `seed`, `kinds`, `max_root`)."""
    if n < 0:
        raise ValueError(f"n={n}: use >= 0.")
    return [generate_problem(seed, idx, kinds, max_root) for idx in range(n)]
