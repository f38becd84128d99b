"""The math task's pre-training corpus: one attempt per generated equation, checked and boxed.

The embedded base learns the step grammar of `astro_env.math_steps` and its arithmetic from
attempts drawn the way `math_steps.moves` weighs them: a linear equation's attempt takes each
of its two slips (the wrong operation on the constant, the wrong sign of the divisor) with
probability `MathConfig.slip_rate`; a quadratic's attempt tries a uniformly random divisor of the
right side. Every attempt then checks its answer ("Check: $3 \\cdot 4 + 5 = 12 + 5 = 17$."),
compares the left side with the right side in the task's words ("The left side is 17 and the
right side is 17, so we have it."), and boxes its answer, right or wrong: the base learns the
steps, the arithmetic and the check, but not which path is right, and it never sees a second
attempt (no search). The arithmetic of every step is true.

Held-out problems stay unseen by construction: the problems come from their own stream
(`MathConfig.corpus_stream`) and one whose prompt key is excluded is skipped before an attempt is
drawn for it.
"""

from __future__ import annotations

import itertools
import random
from typing import AbstractSet

from astro_env.math_steps import GRAMMAR_KINDS, Equation, Progress, latex_fraction, moves, parse_equation
from astro_env.outcome import OutcomePhrases
from astro_env.problem import Problem, prompt_key

MAX_DRAWS_PER_PAIR = 100
"""Problems drawn per kept pair before the corpus gives up (nearly every prompt excluded)."""


def attempt_steps(equation: Equation, rng: random.Random, slip_rate: float) -> tuple[list[str], Progress]:
    """(steps before the box, progress before the box) of one attempt drawn by the moves' priors."""
    progress, steps = Progress(), []
    while True:
        options = moves(equation, progress, slip_rate)
        move = rng.choices(options, weights=[m.prior for m in options])[0]
        if move.terminal:
            return steps, progress
        steps.append(move.text)
        progress = move.after


def attempt_completion(equation: Equation, rng: random.Random, slip_rate: float, phrases: OutcomePhrases,
                       delimiter: str = "\n\n") -> str:
    """One attempt's steps, the comparison of its check with the right side, and its boxed answer."""
    from astro_env.math_steps import box_step

    steps, progress = attempt_steps(equation, rng, slip_rate)
    value = latex_fraction(equation.left(progress.x))  # type: ignore[arg-type]
    return delimiter.join(steps + [phrases.sentence(value, equation.goal), box_step(progress.x)])  # type: ignore[arg-type]


def attempt_corpus(config, n: int, seed: int, exclude_keys: AbstractSet[str], phrases: OutcomePhrases,
                   task_name: str = "math") -> list[tuple[Problem, str]]:
    """The first `n` (problem, attempt) pairs of the corpus of `seed` (`MathTask.pretrain_corpus`).

    Pair k is the k-th problem of `generate_problem(seed * config.corpus_stream + 1, idx, ...)`,
    idx = 0, 1, ..., whose prompt key is not in `exclude_keys`, with an attempt drawn by
    `random.Random(f"math-corpus/{seed}/{idx}")`; a shorter corpus is a prefix of a longer one.
    Raises ValueError when `MAX_DRAWS_PER_PAIR * n` problems do not give `n` pairs.
    """
    from dataclasses import replace

    from astro_env.synthetic import generate_problem

    if any(kind not in GRAMMAR_KINDS for kind in config.kinds):
        raise ValueError(f"kinds={config.kinds}: only {', '.join(GRAMMAR_KINDS)} have attempts to pre-train on.")
    if n < 0:
        raise ValueError(f"n={n}: use >= 0.")
    stream = seed * config.corpus_stream + 1
    out: list[tuple[Problem, str]] = []
    for idx in itertools.count():
        if len(out) == n:
            break
        if idx >= MAX_DRAWS_PER_PAIR * max(n, 1):
            raise ValueError(f"{len(out)} of {n} pairs after {idx} problems: nearly every prompt is excluded; "
                             "exclude fewer problems or widen the problem space (max_root, kinds).")
        problem = generate_problem(stream, idx, config.kinds, config.max_root)
        if prompt_key(problem) in exclude_keys:
            continue
        equation = parse_equation(problem.problem)
        rng = random.Random(f"math-corpus/{seed}/{idx}")
        out.append((problem if problem.task == task_name else replace(problem, task=task_name),
                    attempt_completion(equation, rng, config.slip_rate, phrases)))  # type: ignore[arg-type]
    return out
