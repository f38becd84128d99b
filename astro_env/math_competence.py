"""The math task's competence probes: can a model write the equations' steps, do their arithmetic, check an answer?

`MathProbes` is what `MathTask.competence_probes()` returns (`astro_env.task.CompetenceProbes`),
over the first attempt of each completion (`first_attempt`):

- `well_formed_rate`: steps of the grammar's shape at their place naming the problem's numbers
  (`astro_env.math_steps.audit_attempt`) / steps written;
- `arithmetic_accuracy`: equalities stated by those steps that are true (a move's new side, a
  division's x, each `=` of a check);
- `check_accuracy`: comparison sentences that are true (the left side stated is the true left side
  at the attempt's x, the right side is copied right, the verdict says "we have it" only when the
  two are equal) / comparisons written;
- the verification probe: a solving attempt up to its check, or one of the grammar's attempts that
  misses, up to its check;
- random play: an attempt drawn as the pre-training corpus draws them (slips at the config's
  rate, uniform tries), compared and boxed.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Sequence

from astro_env.math_steps import attempts, audit_attempt, latex_fraction, parse_equation, right_path
from astro_env.problem import Problem

if TYPE_CHECKING:  # pragma: no cover
    from astro_env.math_task import MathTask
    from astro_env.outcome import OutcomePhrases


def first_attempt(chunks: Sequence[str], phrases: "OutcomePhrases") -> tuple[list[str], list[str]]:
    """(steps, comparison chunks) of the first attempt: the chunks up to the first comparison sentence, the
    box right after it if there is one; or, with no comparison, up to the first chunk that boxes."""
    steps: list[str] = []
    for k, chunk in enumerate(chunks):
        if phrases.parse(chunk) is not None:
            follows = chunks[k + 1] if k + 1 < len(chunks) else ""
            return steps + ([follows] if "\\boxed" in follows else []), [chunk]
        steps.append(chunk)
        if "\\boxed" in chunk:
            break
    return steps, []


def audit_completion(problem: Problem, text: str, phrases: "OutcomePhrases", delimiter: str = "\n\n") -> dict[str, int]:
    """Counts of one completion's first attempt (pure; never raises on model text); all 0 for a problem
    without an equation of the grammar.

    Keys: `n_steps`, `n_well_formed`, `n_claims`, `n_claims_true` (`math_steps.StepAudit`),
    `all_well_formed` (0/1: every step well-formed through the box), `n_compared`, `n_compared_true`.
    """
    equation = parse_equation(problem.problem)
    if equation is None:
        return {"n_steps": 0, "n_well_formed": 0, "n_claims": 0, "n_claims_true": 0, "all_well_formed": 0,
                "n_compared": 0, "n_compared_true": 0}
    chunks = [c for c in (text.split(delimiter) if isinstance(text, str) else []) if c.strip()]
    steps, comparisons = first_attempt(chunks, phrases)
    audit = audit_attempt(equation, steps)
    n_true = 0
    for chunk in comparisons:
        comparison = phrases.parse(chunk)
        value = latex_fraction(equation.left(audit.x)) if audit.x is not None else None
        n_true += comparison is not None and comparison.value == value and comparison.goal == equation.goal and comparison.true
    return {
        "n_steps": audit.n_steps, "n_well_formed": audit.n_well_formed, "n_claims": audit.n_claims,
        "n_claims_true": audit.n_claims_true,
        "all_well_formed": int(audit.boxed and audit.n_well_formed == audit.n_steps),
        "n_compared": len(comparisons), "n_compared_true": n_true,
    }


def competence_rates(problems: Sequence[Problem], texts: Sequence[str], phrases: "OutcomePhrases") -> dict[str, float]:
    """Rates over completions aligned with `problems` (pure): `well_formed_rate`, `attempt_well_formed_rate`
    (completions whose first attempt is well-formed through its box), `arithmetic_accuracy`, `check_accuracy`."""
    totals: dict[str, int] = {}
    for problem, text in zip(problems, texts):
        for key, value in audit_completion(problem, text, phrases).items():
            totals[key] = totals.get(key, 0) + value
    n = max(1, sum(parse_equation(p.problem) is not None for p in problems))

    def ratio(a: str, b: str) -> float:
        return totals.get(a, 0) / totals[b] if totals.get(b) else 0.0

    return {
        "well_formed_rate": ratio("n_well_formed", "n_steps"),
        "attempt_well_formed_rate": totals.get("all_well_formed", 0) / n,
        "arithmetic_accuracy": ratio("n_claims_true", "n_claims"),
        "check_accuracy": ratio("n_compared_true", "n_compared"),
    }


def verification_prefixes(task: "MathTask", problems: Sequence[Problem], rng: random.Random,
                          delimiter: str = "\n\n") -> list[tuple[Problem, str, bool]]:
    """(problem, prompt + steps, solves) pairs: each equation's solving attempt up to its check (solves), and
    one of the grammar's attempts that misses, drawn by `rng`, up to its check; problems without one are skipped."""
    out = []
    for problem in problems:
        equation = parse_equation(problem.problem)
        if equation is None:
            continue
        hit = right_path(equation)
        misses = [a for a in attempts(equation) if not equation.solves(audit_attempt(equation, a).x)]
        if not hit or not misses:
            continue
        head = task.format_prompt(problem)
        out.append((problem, head + "".join(s + delimiter for s in hit[:-1]), True))
        out.append((problem, head + "".join(s + delimiter for s in rng.choice(misses)[:-1]), False))
    return out


class MathProbes:
    """The math task's `CompetenceProbes` (see the module doc)."""

    columns = ("well_formed_rate", "arithmetic_accuracy", "check_accuracy")
    gates = (("Base", "well_formed_rate", 0.95), ("Base", "arithmetic_accuracy", 0.95), ("Base", "check_accuracy", 0.95))
    """A base must write the grammar's steps with true arithmetic, and compare its check with the right side truly,
    before a search over its steps, and reflections on its checks, mean something."""
    max_new_tokens = 96
    """One attempt with its comparison (a linear equation's attempt is about 60 tokens on the embedded tokenizer)."""

    def __init__(self, task: "MathTask") -> None:
        self.task = task

    def audit(self, problems: Sequence[Problem], texts: Sequence[str]) -> dict[str, float]:
        return competence_rates(problems, texts, self.task.outcome_phrases)

    def verification_pairs(self, problems: Sequence[Problem], rng: random.Random, delimiter: str = "\n\n") -> list[tuple[Problem, str, bool]]:
        return verification_prefixes(self.task, problems, rng, delimiter)

    def reference_completion(self, problem: Problem, rng: random.Random) -> str | None:
        """One attempt drawn as the corpus draws them, compared and boxed (None without an equation)."""
        from astro_env.math_corpus import attempt_completion

        equation = parse_equation(problem.problem)
        if equation is None:
            return None
        return attempt_completion(equation, rng, self.task.config.slip_rate, self.task.outcome_phrases)
