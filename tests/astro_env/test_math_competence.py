"""The math task's competence probes: the rates by hand on scripted completions, verification prefixes, references."""

from __future__ import annotations

import random

import astro_env
from astro_env.math_competence import competence_rates, first_attempt
from astro_env.math_steps import parse_equation, replay
from astro_env.problem import Problem
from astro_env.task import competence_probes

TASK = astro_env.get_task("math", {"kinds": "linear_equation,quadratic_root"})
PHRASES = TASK.outcome_phrases
LINEAR = Problem(id="l", problem="Solve for $x$: $3x + 5 = 17$.", answer="4", task="math")
QUADRATIC = Problem(id="q", problem="Find the positive solution of $x^2 - x = 6$.", answer="3", task="math")


def _text(*chunks: str) -> str:
    return "\n\n".join(chunks)


GOOD = _text("Subtract $5$ from both sides: $3x = 17 - 5 = 12$.", "Divide both sides by $3$: $x = \\frac{12}{3} = 4$.",
             "Check: $3 \\cdot 4 + 5 = 12 + 5 = 17$.", "The left side is 17 and the right side is 17, so we have it.",
             "The answer is $\\boxed{4}$.")


def test_competence_rates_by_hand():
    # 17 - 5 = 13 is false arithmetic but a well-formed step; its check is carried out right (3 * 13/3 = 13,
    # 13 + 5 = 18) and truly compared; the attempt then says "we have it" of 18 against 17: a false comparison
    bad = _text("Subtract $5$ from both sides: $3x = 17 - 5 = 13$.", "Divide both sides by $3$: $x = \\frac{13}{3} = \\frac{13}{3}$.",
                "Check: $3 \\cdot \\frac{13}{3} + 5 = 13 + 5 = 18$.",
                "The left side is 18 and the right side is 17, so we have it.", "The answer is $\\boxed{\\frac{13}{3}}$.")
    # a try that is not a divisor of 6 (not well-formed, nor anything after it), a misread right side
    off = _text("Try $x = 4$.", "Check: $4(4 - 1) = 4 \\cdot 3 = 12$.",
                "The left side is 12 and the right side is 5, so this is not it.", "The answer is $\\boxed{4}$.")
    rates = competence_rates([LINEAR, LINEAR, QUADRATIC], [GOOD, bad, off], PHRASES)
    assert rates["well_formed_rate"] == 8 / 11  # 4 + 4 + 0 of 4 + 4 + 3 steps
    assert rates["arithmetic_accuracy"] == 7 / 8  # good: 4 of 4; bad: 3 of 4 (the move); off: none audited
    assert rates["check_accuracy"] == 1 / 3
    assert rates["attempt_well_formed_rate"] == 2 / 3
    # a verdict that contradicts the two numbers it states is not a true check
    assert competence_rates([LINEAR], [GOOD.replace("so we have it", "so this is not it")], PHRASES)["check_accuracy"] == 0.0


def test_only_the_first_attempt_is_audited():
    retry = _text("Add $5$ to both sides: $3x = 17 + 5 = 22$.", "Divide both sides by $3$: $x = \\frac{22}{3} = \\frac{22}{3}$.",
                  "Check: $3 \\cdot \\frac{22}{3} + 5 = 22 + 5 = 27$.",
                  "The left side is 27 and the right side is 17, so this is not it.",
                  "But wait, are we solving the problem correctly so far? Let's restart our solution from the beginning.",
                  GOOD)
    steps, comparisons = first_attempt(retry.split("\n\n"), PHRASES)
    assert len(steps) == 3 and len(comparisons) == 1
    assert competence_rates([LINEAR], [retry], PHRASES) == {
        "well_formed_rate": 1.0, "attempt_well_formed_rate": 0.0, "arithmetic_accuracy": 1.0, "check_accuracy": 1.0}
    # no comparison: the attempt ends at its box; problems of other kinds count nothing
    assert first_attempt(["Try $x = 3$.", "The answer is $\\boxed{3}$.", "more"], PHRASES) == (
        ["Try $x = 3$.", "The answer is $\\boxed{3}$."], [])
    other = Problem(id="f", problem="Compute $\\frac{1}{2} + \\frac{1}{3}$.", answer="\\frac{5}{6}")
    assert competence_rates([other], ["\\boxed{\\frac{5}{6}}"], PHRASES)["well_formed_rate"] == 0.0


def test_verification_pairs_stop_after_a_check_that_solves_or_misses():
    problems = TASK.generate(40, 9)
    pairs = competence_probes(TASK).verification_pairs(problems, random.Random(0))
    assert len(pairs) == 80 and sum(r for _, _, r in pairs) == 40
    for problem, prefix, solves in pairs:
        head = TASK.format_prompt(problem)
        steps = prefix[len(head):].split("\n\n")[:-1]
        equation = parse_equation(problem.problem)
        progress = replay(equation, steps)
        assert prefix.startswith(head) and steps[-1].startswith("Check: ") and progress is not None
        assert equation.solves(progress.x) is solves


def test_reference_rows_are_corpus_attempts_and_the_probe_budget_holds_one():
    probes = competence_probes(TASK)
    rng = random.Random(0)
    texts = [probes.reference_completion(p, rng) for p in [LINEAR] * 200]
    assert probes.audit([LINEAR] * 200, texts)["check_accuracy"] == 1.0
    assert 0.35 < sum(TASK.reward(LINEAR, t) for t in texts) / 200 < 0.63  # (1 - 0.3) ** 2 = 0.49
    other = Problem(id="f", problem="Simplify $\\sqrt{72}$.", answer="6\\sqrt{2}")
    assert probes.reference_completion(other, rng) is None
    assert probes.columns == ("well_formed_rate", "arithmetic_accuracy", "check_accuracy")
