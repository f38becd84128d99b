"""Procedurally generated MATH-style problems with LaTeX answers (the offline default of
`astro/MathReasoning-v0`).

Three kinds, drawn uniformly: adding two fractions (`\\frac{p}{q}` answers), simplifying a
square root (`a\\sqrt{b}`), solving a linear equation (integer or fractional `x`). Each
problem carries a short worked solution whose steps are separated by a blank line and whose
last step boxes the answer, so scripted policies and demos can replay it.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from astro_env.problem import Problem

KINDS = ("fraction_sum", "simplify_root", "linear_equation")


def latex_fraction(value: Fraction) -> str:
    """`value` in LaTeX: `"3"`, `"\\frac{3}{4}"`, `"-\\frac{3}{4}"`."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def _signed_term(coef: int) -> str:
    return f"+ {coef}" if coef >= 0 else f"- {-coef}"


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


_BUILDERS = {"fraction_sum": _fraction_sum, "simplify_root": _simplify_root, "linear_equation": _linear_equation}


def generate_problem(seed: int, idx: int) -> Problem:
    """Problem `idx` of stream `seed` (deterministic; independent of other indices).

    id `synthetic/<seed>/<idx>`, task "math", `subject` the kind, `solution` the worked steps
    joined by a blank line ending in `\\boxed{answer}`.
    """
    rng = random.Random(f"synthetic/{seed}/{idx}")
    kind = rng.choice(KINDS)
    kind, problem, steps, answer = _BUILDERS[kind](rng)
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


def generate_problems(n: int, seed: int = 0) -> list[Problem]:
    """`n` synthetic problems `synthetic/<seed>/0..n-1` (deterministic in `seed`)."""
    if n < 0:
        raise ValueError(f"n={n}: use >= 0.")
    return [generate_problem(seed, idx) for idx in range(n)]
