"""Countdown's competence probes: can a model play legally, do arithmetic, copy the target, check its work?

`CountdownProbes` is what `CountdownTask.competence_probes()` returns (`astro_env.task.CompetenceProbes`):

- `legal_step_rate`: legal steps / steps written (a step after an illegal one is not legal;
  the first attempt of each completion);
- `legal_completion_rate`: completions whose first attempt is legal through the boxed step;
- `arithmetic_accuracy`: combination steps whose stated value is the true value of `A op B`;
- `target_copy_rate`: comparison sentences ("That gives 8; the target is 6, so this is not it.")
  that are true (the value written, the target copied, the verdict consistent with both);
- the verification probe: a solution's steps up to its final combination, then a final
  combination that reaches the target or one from the same pool that misses it;
- random legal play: one uniformly random legal walk with its comparison (the reference rows).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Sequence

from astro_env.countdown import apply_step, audit_steps, initial_pool, legal_transitions, problem_numbers, solve_steps
from astro_env.countdown_corpus import walk_completion
from astro_env.problem import Problem

if TYPE_CHECKING:  # pragma: no cover
    from astro_env.countdown import CountdownTask
    from astro_env.outcome import OutcomePhrases


def audit_completion(problem: Problem, text: str, phrases: "OutcomePhrases", delimiter: str = "\n\n") -> dict[str, int]:
    """Counts of one completion's first attempt (pure; never raises on model text).

    Keys: `n_steps`, `n_legal`, `n_arithmetic`, `n_arithmetic_correct` (see
    `astro_env.countdown.audit_steps`), `all_legal` (0/1: every step legal through the boxed
    one), `n_compared` and `n_compared_true` (comparison sentences written, and those that are
    true: the value is the last step's result, the goal named is the prompt's target, and the
    verdict says "we have it" only when the value is the target). The first attempt ends at the
    first comparison's box, or at the first chunk after a comparison that is not the box (a reflection).
    """
    chunks = [c for c in (text.split(delimiter) if isinstance(text, str) else []) if c.strip()]
    target = problem_numbers(problem)[1]
    attempt: list[str] = []
    n_compared = n_true = 0
    last_value: str | None = None
    for k, chunk in enumerate(chunks):
        comparison = phrases.parse(chunk)
        if comparison is None:
            attempt.append(chunk)
            value = chunk.strip().rpartition("=")[2].partition(";")[0].strip()
            last_value = value if value.isdigit() else last_value
            continue
        n_compared += 1
        value, goal, reached = comparison
        n_true += value == last_value and comparison.true and (goal == str(target) if goal is not None else reached == (value == str(target)))
        follows = chunks[k + 1] if k + 1 < len(chunks) else ""
        if follows.strip().startswith("\\boxed{"):
            attempt.append(follows)
        break
    audit = audit_steps(problem, attempt)
    return {
        "n_steps": audit.n_steps, "n_legal": audit.n_legal, "n_arithmetic": audit.n_arithmetic,
        "n_arithmetic_correct": audit.n_arithmetic_correct, "all_legal": int(audit.all_legal),
        "n_compared": n_compared, "n_compared_true": n_true,
    }


def competence_rates(problems: Sequence[Problem], texts: Sequence[str], phrases: "OutcomePhrases") -> dict[str, float]:
    """Rates over completions aligned with `problems` (pure): `legal_step_rate` (legal steps /
    steps written), `legal_completion_rate`, `arithmetic_accuracy` (stated value = true value),
    `target_copy_rate` (true comparisons / comparisons written)."""
    totals: dict[str, int] = {}
    for problem, text in zip(problems, texts):
        for key, value in audit_completion(problem, text, phrases).items():
            totals[key] = totals.get(key, 0) + value
    n = max(1, len(problems))

    def ratio(a: str, b: str) -> float:
        return totals.get(a, 0) / totals[b] if totals.get(b) else 0.0

    return {
        "legal_step_rate": ratio("n_legal", "n_steps"),
        "legal_completion_rate": totals.get("all_legal", 0) / n,
        "arithmetic_accuracy": ratio("n_arithmetic_correct", "n_arithmetic"),
        "target_copy_rate": ratio("n_compared_true", "n_compared"),
    }


def verification_prefixes(task: "CountdownTask", problems: Sequence[Problem], rng: random.Random,
                          delimiter: str = "\n\n") -> list[tuple[Problem, str, bool]]:
    """(problem, prompt + steps, reaches_target) pairs: each solvable problem's solution up to its
    final combination, once with that combination (reaches) and once with a legal final
    combination from the same pool that misses (drawn by `rng`); problems without one are skipped."""
    out = []
    for problem in problems:
        numbers, target = problem_numbers(problem)
        steps = solve_steps(numbers, target)
        if not steps or len(steps) < 2:
            continue
        before, hit = steps[:-2], steps[-2]
        pool = initial_pool(numbers)
        for step in before:
            pool = apply_step(pool, step)
        misses = [s for s, nxt in legal_transitions(pool) if nxt and nxt[-1][1] != target]
        if not misses:
            continue
        prompt = task.format_prompt(problem) + "".join(s + delimiter for s in before)
        out.append((problem, prompt + hit + delimiter, True))
        out.append((problem, prompt + rng.choice(misses) + delimiter, False))
    return out


class CountdownProbes:
    """Countdown's `CompetenceProbes` (see the module doc)."""

    columns = ("legal_step_rate", "arithmetic_accuracy", "target_copy_rate")
    gates = (("Base", "legal_step_rate", 0.95), ("Base", "arithmetic_accuracy", 0.95))
    """A base model must write legal steps with true arithmetic before a search over its steps means something."""

    def __init__(self, task: "CountdownTask") -> None:
        self.task = task
        self.max_new_tokens = 24 * task.config.n_numbers + 24
        """One attempt with its comparison: about 24 tokens per combination, the comparison and the box."""

    def audit(self, problems: Sequence[Problem], texts: Sequence[str]) -> dict[str, float]:
        return competence_rates(problems, texts, self.task.outcome_phrases)

    def verification_pairs(self, problems: Sequence[Problem], rng: random.Random, delimiter: str = "\n\n") -> list[tuple[Problem, str, bool]]:
        return verification_prefixes(self.task, problems, rng, delimiter)

    def reference_completion(self, problem: Problem, rng: random.Random) -> str:
        """One uniformly random legal walk, compared with the target and boxed."""
        numbers, target = problem_numbers(problem)
        return walk_completion(numbers, target, rng, phrases=self.task.outcome_phrases)
