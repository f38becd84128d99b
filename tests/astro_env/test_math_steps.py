"""The equations' step grammar: statements round-trip, moves and priors, the audit of written steps by hand."""

from __future__ import annotations

from fractions import Fraction

import pytest

from astro_env.math_steps import (
    MAX_TRY,
    Equation,
    Progress,
    attempts,
    audit_attempt,
    moves,
    parse_equation,
    parse_value,
    replay,
    right_path,
)
from astro_env.synthetic import ALL_KINDS, KINDS, generate_problems

LINEAR = Equation("linear_equation", 3, 5, 17)  # 3x + 5 = 17, x = 4
QUADRATIC = Equation("quadratic_root", 1, -1, 6)  # x^2 - x = 6, x = 3 (and -2)


@pytest.mark.parametrize("text,value", [
    ("4", Fraction(4)), ("-12", Fraction(-12)), ("\\frac{22}{3}", Fraction(22, 3)), ("-\\frac{1}{2}", Fraction(-1, 2)),
    ("\\dfrac{1}{2}", Fraction(1, 2)), ("$7/2$", Fraction(7, 2)), (" 5 ", Fraction(5)),
    ("x = 4", None), ("4.5", None), ("\\frac{1}{0}", None), ("", None), (None, None), ("2\\sqrt{3}", None),
])
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_statements_parse_back_to_their_equations():
    problems = generate_problems(300, 2, kinds=("linear_equation", "quadratic_root"), max_root=MAX_TRY)
    for problem in problems:
        equation = parse_equation(problem.problem)
        assert equation is not None and equation.kind == problem.subject and equation.statement == problem.problem
        assert equation.solves(parse_value(problem.answer))  # the gold answer checks out
    assert parse_equation("Find the positive solution of $x^2 = 9$.") == Equation("quadratic_root", 1, 0, 9)
    assert parse_equation("Find the positive solution of $x^2 + x = 2$.") == Equation("quadratic_root", 1, 1, 2)
    assert parse_equation("Compute $\\frac{1}{2} + \\frac{1}{3}$.") is None
    # the other kinds, and the default mix, are as they were
    assert ALL_KINDS[:3] == KINDS and {p.subject for p in generate_problems(60, 0)} == set(KINDS)


def test_a_quadratic_is_solved_by_its_positive_root_only():
    assert QUADRATIC.solves(Fraction(3)) and not QUADRATIC.solves(Fraction(-2)) and QUADRATIC.left(Fraction(-2)) == 6
    assert LINEAR.solves(Fraction(4)) and not LINEAR.solves(None)


def test_linear_moves_are_the_right_operation_or_its_slip_with_true_arithmetic():
    first = moves(LINEAR, Progress(), slip_rate=0.25)
    assert [(m.text, m.prior, m.slip) for m in first] == [
        ("Subtract $5$ from both sides: $3x = 17 - 5 = 12$.", 0.75, False),
        ("Add $5$ to both sides: $3x = 17 + 5 = 22$.", 0.25, True),
    ]
    second = moves(LINEAR, first[1].after, slip_rate=0.25)
    assert [m.text for m in second] == ["Divide both sides by $3$: $x = \\frac{22}{3} = \\frac{22}{3}$.",
                                        "Divide both sides by $-3$: $x = \\frac{22}{-3} = -\\frac{22}{3}$."]
    assert right_path(LINEAR) == ["Subtract $5$ from both sides: $3x = 17 - 5 = 12$.", "Divide both sides by $3$: $x = \\frac{12}{3} = 4$.",
                                  "Check: $3 \\cdot 4 + 5 = 12 + 5 = 17$.", "The answer is $\\boxed{4}$."]
    # a negative constant is added; a negative x is parenthesised in the check
    eq = Equation("linear_equation", -2, -3, 5)
    assert right_path(eq)[:3] == ["Add $3$ to both sides: $-2x = 5 + 3 = 8$.", "Divide both sides by $-2$: $x = \\frac{8}{-2} = -4$.",
                                  "Check: $-2 \\cdot (-4) - 3 = 8 - 3 = 5$."]


def test_quadratic_moves_try_each_divisor_up_to_the_bound_equally():
    first = moves(QUADRATIC, Progress(), slip_rate=0.3)
    assert [m.text for m in first] == ["Try $x = 1$.", "Try $x = 2$.", "Try $x = 3$.", "Try $x = 6$."]
    assert all(m.prior == 0.25 for m in first) and [m.slip for m in first] == [True, True, False, True]
    assert [m.text for m in moves(Equation("quadratic_root", 1, 1, 42), Progress(), 0.3)][-1] == "Try $x = 14$."  # not 21, 42
    check = moves(QUADRATIC, first[1].after, 0.3)
    assert [m.text for m in check] == ["Check: $2(2 - 1) = 2 \\cdot 1 = 2$."]
    assert moves(Equation("quadratic_root", 1, 0, 9), Progress(1, x=Fraction(3)), 0.3)[0].text == "Check: $3 \\cdot 3 = 9$."


def test_every_attempt_ends_in_a_box_and_exactly_one_kind_of_them_solves():
    for equation in (LINEAR, QUADRATIC):
        found = attempts(equation)
        solving = [a for a in found if equation.solves(parse_value(a[-1][len("The answer is $\\boxed{"):-3]))]
        assert solving == [right_path(equation)] and len(found) == 4  # linear: 2 x 2 operations; x^2 - x = 6: 4 divisors
        for attempt in found:
            progress = replay(equation, attempt)
            assert progress is not None and progress.done(equation)
            assert replay(equation, attempt[:-1]).done(equation) is False
    assert replay(LINEAR, ["Subtract $5$ from both sides: $3x = 17 - 5 = 13$."]) is None  # wrong arithmetic is not a move
    assert replay(LINEAR, ["  Subtract  $5$ from both sides:\n$3x = 17 - 5 = 12$. "]) == Progress(1, m=Fraction(12))


def test_audit_by_hand():
    good = right_path(LINEAR)
    assert audit_attempt(LINEAR, good) == _audit(4, 4, 4, 4, Fraction(4), True)
    # a slip is well-formed with true arithmetic: the operation is wrong, not the sums
    slip = ["Add $5$ to both sides: $3x = 17 + 5 = 22$.", "Divide both sides by $3$: $x = \\frac{22}{3} = \\frac{22}{3}$.",
            "Check: $3 \\cdot \\frac{22}{3} + 5 = 22 + 5 = 27$.", "The answer is $\\boxed{\\frac{22}{3}}$."]
    assert audit_attempt(LINEAR, slip) == _audit(4, 4, 4, 4, Fraction(22, 3), True)
    # 17 - 5 = 13 is false (still well-formed); 13 / 3 is stated right; the check misstates 3*(13/3)
    wrong = ["Subtract $5$ from both sides: $3x = 17 - 5 = 13$.", "Divide both sides by $3$: $x = \\frac{13}{3} = \\frac{13}{3}$.",
             "Check: $3 \\cdot \\frac{13}{3} + 5 = 14 + 5 = 19$.", "The answer is $\\boxed{\\frac{13}{3}}$."]
    assert audit_attempt(LINEAR, wrong) == _audit(4, 4, 4, 2, Fraction(13, 3), True)
    # copying the wrong coefficient is not well-formed, and nothing after it is
    bad = ["Subtract $5$ from both sides: $4x = 17 - 5 = 12$.", "Divide both sides by $4$: $x = \\frac{12}{4} = 3$.", "The answer is $\\boxed{3}$."]
    assert audit_attempt(LINEAR, bad) == _audit(3, 0, 0, 0, None, True)
    # a try that is not a divisor; a check of another x; boxing another x
    assert audit_attempt(QUADRATIC, ["Try $x = 4$."]).n_well_formed == 0
    assert audit_attempt(QUADRATIC, ["Try $x = 2$.", "Check: $3(3 - 1) = 3 \\cdot 2 = 6$."]).n_well_formed == 1
    off = ["Try $x = 2$.", "Check: $2(2 - 1) = 2 \\cdot 1 = 3$.", "The answer is $\\boxed{3}$."]
    assert audit_attempt(QUADRATIC, off) == _audit(3, 2, 2, 1, Fraction(2), True)
    assert audit_attempt(QUADRATIC, ["nonsense", "\\boxed{"]).n_well_formed == 0


def _audit(n_steps, n_well, n_claims, n_true, x, boxed):
    from astro_env.math_steps import StepAudit

    return StepAudit(n_steps, n_well, n_claims, n_true, x, boxed)
