"""The step grammar of the MATH-style equations: moves, checks, and an audit of written steps.

Two kinds of `astro_env.synthetic` have one (`GRAMMAR_KINDS`); both are equations in `x` whose
answer is checked by substituting it back (`Equation.left`, compared with the right side):

- `linear_equation`, "Solve for $x$: $3x + 5 = 17$.": move the constant ("Subtract $5$ from both
  sides: $3x = 17 - 5 = 12$." or, a slip, "Add $5$ to both sides: $3x = 17 + 5 = 22$."), divide by
  the coefficient ("Divide both sides by $3$: $x = \\frac{12}{3} = 4$." or, a slip, by $-3$), check
  ("Check: $3 \\cdot 4 + 5 = 12 + 5 = 17$."), box. Every slip states true arithmetic for the
  operation it names; it is the choice of operation that is wrong, as a Countdown walk's legal
  combination that misses the target.
- `quadratic_root`, "Find the positive solution of $x^2 - x = 6$.": try a positive divisor of the
  right side no larger than `MAX_TRY` ("Try $x = 2$."), check ("Check: $2(2 - 1) = 2 \\cdot 1 =
  2$."), box. Which divisor solves it is what the search finds; a try is judged only by its check.

A *move* is one step text with its prior (a slip or a try as the corpus draws it); an attempt is
the moves from the prompt to the boxed answer. `moves` lists the next moves after the steps
written so far, `replay` finds where written steps lead, and `audit_attempt` measures a model's
first attempt (well-formed steps, true arithmetic, a true comparison with the right side). Pure,
no I/O; never raises on model text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, Sequence

GRAMMAR_KINDS = ("linear_equation", "quadratic_root")
"""The kinds of `astro_env.synthetic` that have a step grammar (a corpus, proposer moves, an audit, a check)."""
MAX_TRY = 20
"""Largest divisor a `quadratic_root` attempt tries (the generator keeps the positive root within 1..MAX_TRY)."""

Kind = Literal["linear_equation", "quadratic_root"]

# Every `=` of a step states one operation whose operands are written just before it (as Countdown's
# "7*3=21"): a small model then computes from numbers a few tokens back, never from the prompt.


def latex_fraction(value: Fraction) -> str:
    """`value` in LaTeX: `"3"`, `"\\frac{3}{4}"`, `"-\\frac{3}{4}"`."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


_VALUE_RE = re.compile(r"(-?)(?:(\d{1,9})|\\frac\{(\d{1,9})\}\{(\d{1,9})\}|(\d{1,9})/(\d{1,9}))")


def parse_value(text: str | None) -> Fraction | None:
    """The exact value of an integer or fraction answer (`"4"`, `"-\\frac{22}{3}"`, `"\\dfrac{1}{2}"`,
    `"7/2"`, in `$...$` or not), None for anything else (a zero denominator included).

    >>> parse_value("-\\\\frac{22}{3}")
    Fraction(-22, 3)
    """
    if not isinstance(text, str) or len(text) > 64:
        return None
    flat = "".join(text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").split()).strip("$")
    m = _VALUE_RE.fullmatch(flat)
    if m is None:
        return None
    sign = -1 if m.group(1) else 1
    if m.group(2) is not None:
        return sign * Fraction(int(m.group(2)))
    num, den = (m.group(3), m.group(4)) if m.group(3) is not None else (m.group(5), m.group(6))
    return None if int(den) == 0 else sign * Fraction(int(num), int(den))


def signed_term(value: int) -> str:
    """`"+ 5"`, `"- 5"`, `"+ 0"`: a constant written after another term."""
    return f"+ {value}" if value >= 0 else f"- {-value}"


def _factor(value: Fraction) -> str:
    """A value written as a factor: negative values in parentheses."""
    text = latex_fraction(value)
    return f"({text})" if value < 0 else text


def _x_term(b: int) -> str:
    """The x term of `x^2 + bx`: `" + 3x"`, `" - x"`, `""` for b = 0."""
    if b == 0:
        return ""
    size = "" if abs(b) == 1 else str(abs(b))
    return f" {'+' if b > 0 else '-'} {size}x"


# ----------------------------------------------------------------------------- the equation


@dataclass(frozen=True)
class Equation:
    """`a x + b = c` (linear_equation) or `x^2 + b x = c` with x > 0 (quadratic_root, a = 1)."""

    kind: Kind
    a: int
    b: int
    c: int

    def left(self, x: Fraction) -> Fraction:
        """The left side at `x`: what substituting an answer back gives."""
        x = Fraction(x)
        return self.a * x + self.b if self.kind == "linear_equation" else x * x + self.b * x

    @property
    def goal(self) -> str:
        """The right side as text (what a check compares with)."""
        return str(self.c)

    def solves(self, x: Fraction | None) -> bool:
        """Whether `x` satisfies the equation and its condition (x > 0 for a quadratic)."""
        if x is None:
            return False
        return self.left(x) == self.c and (self.kind == "linear_equation" or x > 0)

    @property
    def statement(self) -> str:
        """The problem text (`Problem.problem`)."""
        if self.kind == "linear_equation":
            return f"Solve for $x$: ${self.a}x {signed_term(self.b)} = {self.c}$."
        return f"Find the positive solution of $x^2{_x_term(self.b)} = {self.c}$."


_LINEAR_RE = re.compile(r"Solve for \$x\$: \$(-?\d{1,6})x ([+-]) (\d{1,6}) = (-?\d{1,6})\$\.")
_QUADRATIC_RE = re.compile(r"Find the positive solution of \$x\^2(?: ([+-]) (\d{0,6})x)? = (\d{1,6})\$\.")


def parse_equation(statement: str) -> Equation | None:
    """The equation a problem statement is (the whole text, spaces at its ends aside), None when it is not one
    of the grammar's: a statement that only mentions such an equation among other words is not."""
    if not isinstance(statement, str) or len(statement) > 256:
        return None
    text = statement.strip()
    m = _LINEAR_RE.fullmatch(text)
    if m:
        a, sign, b, c = m.groups()
        return Equation("linear_equation", int(a), int(b) * (1 if sign == "+" else -1), int(c))
    m = _QUADRATIC_RE.fullmatch(text)
    if m:
        sign, size, c = m.groups()
        b = 0 if sign is None else (int(size) if size else 1) * (1 if sign == "+" else -1)
        return Equation("quadratic_root", 1, b, int(c))
    return None


# ----------------------------------------------------------------------------- step texts


def move_step(a: int, b: int, c: int, subtract: bool) -> tuple[str, Fraction]:
    """(step, new right side) of moving the constant `b` of `ax + b = c` (subtracting or adding |b|)."""
    n = abs(b)
    m = c - n if subtract else c + n
    verb = f"Subtract ${n}$ from" if subtract else f"Add ${n}$ to"
    return f"{verb} both sides: ${a}x = {c} {'-' if subtract else '+'} {n} = {m}$.", Fraction(m)


def divide_step(divisor: int, m: Fraction) -> tuple[str, Fraction]:
    """(step, x) of dividing `(coefficient) x = m` (an integer) by `divisor`: the quotient, then its lowest terms."""
    x = Fraction(m) / divisor
    return f"Divide both sides by ${divisor}$: $x = \\frac{{{latex_fraction(m)}}}{{{divisor}}} = {latex_fraction(x)}$.", x


def try_step(d: int) -> str:
    """The step trying `x = d`."""
    return f"Try $x = {d}$."


def check_step(equation: Equation, x: Fraction) -> str:
    """The check of `x`: the left side at x, one operation per `=`."""
    x = Fraction(x)
    if equation.kind == "linear_equation":
        product = equation.a * x
        return (f"Check: ${equation.a} \\cdot {_factor(x)} {signed_term(equation.b)} = {latex_fraction(product)} "
                f"{signed_term(equation.b)} = {latex_fraction(product + equation.b)}$.")
    if equation.b == 0:
        return f"Check: ${_factor(x)} \\cdot {_factor(x)} = {latex_fraction(x * x)}$."
    inner = x + equation.b
    return (f"Check: ${_factor(x)}({latex_fraction(x)} {signed_term(equation.b)}) = {_factor(x)} \\cdot {_factor(inner)} "
            f"= {latex_fraction(x * inner)}$.")


def box_step(x: Fraction) -> str:
    """The terminal step: `"The answer is $\\boxed{4}$."`."""
    return f"The answer is $\\boxed{{{latex_fraction(Fraction(x))}}}$."


def tries(equation: Equation) -> list[int]:
    """The divisors a quadratic attempt may try: positive divisors of the right side up to `MAX_TRY`."""
    return [d for d in range(1, MAX_TRY + 1) if equation.c % d == 0] if equation.c > 0 else []


# ----------------------------------------------------------------------------- moves


@dataclass(frozen=True)
class Progress:
    """Where an attempt stands: `stage` moves taken; `m` the right side after the first linear move; `x` the value committed to."""

    stage: int = 0
    m: Fraction | None = None
    x: Fraction | None = None

    def done(self, equation: Equation) -> bool:
        """Whether the attempt has boxed its answer."""
        return self.stage >= (4 if equation.kind == "linear_equation" else 3)


@dataclass(frozen=True)
class Move:
    """One candidate next step, its prior probability, and the progress it leads to."""

    text: str
    prior: float
    after: Progress
    slip: bool = False
    """A wrong operation (linear) or a try that does not solve (quadratic)."""

    @property
    def terminal(self) -> bool:
        return self.text.startswith("The answer is $\\boxed{")


def moves(equation: Equation, progress: Progress, slip_rate: float) -> list[Move]:
    """The next moves from `progress` (empty once boxed); priors sum to 1.

    Linear: the right operation with prior 1 - slip_rate and the slip with slip_rate (first the
    constant's move, then the division); quadratic: every try in `tries` equally likely; then the
    check and the box, one move each.
    """
    stage = progress.stage
    if equation.kind == "linear_equation":
        a, b, c = equation.a, equation.b, equation.c
        if stage == 0:
            right_subtract = b >= 0
            out = []
            for subtract in (right_subtract, not right_subtract):
                text, m = move_step(a, b, c, subtract)
                slip = subtract != right_subtract
                out.append(Move(text, slip_rate if slip else 1.0 - slip_rate, Progress(1, m=m), slip))
            return out
        if stage == 1:
            out = []
            for divisor in (a, -a):
                text, x = divide_step(divisor, progress.m)  # type: ignore[arg-type]
                slip = divisor != a
                out.append(Move(text, slip_rate if slip else 1.0 - slip_rate, Progress(2, m=progress.m, x=x), slip))
            return out
        check_stage = 2
    else:
        if stage == 0:
            found = tries(equation)
            return [Move(try_step(d), 1.0 / len(found), Progress(1, x=Fraction(d)), d * (d + equation.b) != equation.c)
                    for d in found]
        check_stage = 1
    if stage == check_stage:
        return [Move(check_step(equation, progress.x), 1.0, Progress(stage + 1, m=progress.m, x=progress.x))]  # type: ignore[arg-type]
    if stage == check_stage + 1:
        return [Move(box_step(progress.x), 1.0, Progress(stage + 1, m=progress.m, x=progress.x))]  # type: ignore[arg-type]
    return []


def normalise(text: str) -> str:
    """Whitespace collapsed (how written steps are matched with moves)."""
    return " ".join(text.split()) if isinstance(text, str) else ""


def replay(equation: Equation, steps: Sequence[str], slip_rate: float = 0.0) -> Progress | None:
    """The progress after `steps` (each a move of the grammar), None when one is not."""
    progress = Progress()
    for step in steps:
        match = next((m for m in moves(equation, progress, slip_rate) if m.text == normalise(step)), None)
        if match is None:
            return None
        progress = match.after
    return progress


def right_path(equation: Equation) -> list[str]:
    """The attempt that solves the equation: every move the right one, then check and box."""
    progress, out = Progress(), []
    while not progress.done(equation):
        options = moves(equation, progress, 0.0)
        move = next((m for m in options if not m.slip), None)
        if move is None:
            return []
        out.append(move.text)
        progress = move.after
    return out


def attempts(equation: Equation) -> list[list[str]]:
    """Every attempt the grammar allows (each a list of steps ending in the box), the right one among them."""
    out = []

    def walk(progress: Progress, steps: list[str]) -> None:
        if progress.done(equation):
            out.append(steps)
            return
        for move in moves(equation, progress, 0.5):
            walk(move.after, steps + [move.text])

    walk(Progress(), [])
    return out


# ----------------------------------------------------------------------------- the audit of written steps

_V = r"-?(?:\d{1,9}|\\frac\{\d{1,9}\}\{\d{1,9}\})"
_F = rf"(?:{_V}|\({_V}\))"
_MOVE_RE = re.compile(rf"(Subtract|Add) \$(\d{{1,9}})\$ (from|to) both sides: \$(-?\d{{1,9}})x = (-?\d{{1,9}}) ([+-]) (\d{{1,9}}) = ({_V})\$\.")
_DIVIDE_RE = re.compile(rf"Divide both sides by \$(-?\d{{1,9}})\$: \$x = \\frac\{{(-?\d{{1,9}})\}}\{{(-?\d{{1,9}})\}} = ({_V})\$\.")
_LINEAR_CHECK_RE = re.compile(rf"Check: \$(-?\d{{1,9}}) \\cdot ({_F}) ([+-]) (\d{{1,9}}) = ({_V}) ([+-]) (\d{{1,9}}) = ({_V})\$\.")
_QUADRATIC_CHECK_RE = re.compile(rf"Check: \$({_F})\(({_V}) ([+-]) (\d{{1,9}})\) = ({_F}) \\cdot ({_F}) = ({_V})\$\.")
_SQUARE_CHECK_RE = re.compile(rf"Check: \$({_F}) \\cdot ({_F}) = ({_V})\$\.")
_TRY_RE = re.compile(r"Try \$x = (\d{1,9})\$\.")
_BOX_RE = re.compile(r"The answer is \$\\boxed\{(.{1,64})\}\$\.")


def _value(text: str) -> Fraction | None:
    return parse_value(text[1:-1] if text.startswith("(") and text.endswith(")") else text)


def _signed(sign: str, digits: str) -> int:
    return int(digits) * (1 if sign == "+" else -1)


@dataclass(frozen=True)
class StepAudit:
    """What `audit_attempt` found in one attempt's steps."""

    n_steps: int
    """Steps written (every chunk of the attempt but its comparison sentence)."""
    n_well_formed: int
    """Steps of the grammar's shape at their place, naming the problem's numbers (a try: a divisor of the
    right side up to MAX_TRY; a check: the attempt's own x; the box: the attempt's own x). A step after
    one that is not is not well-formed either."""
    n_claims: int
    """Equalities stated by well-formed steps (a move's new side, a division's x, each `=` of a check)."""
    n_claims_true: int
    """Of them, those that are true for the values the step names."""
    x: Fraction | None
    """The value the attempt committed to (its division or its try), as written."""
    boxed: bool


def audit_attempt(equation: Equation, steps: Sequence[str]) -> StepAudit:
    """Shape and arithmetic of one attempt's steps (comparison sentences removed by the caller). Never raises."""
    n_steps = n_well = n_claims = n_true = 0
    m: Fraction | None = None
    x: Fraction | None = None
    stage, broken, boxed = 0, False, False
    linear = equation.kind == "linear_equation"
    for step in steps:
        text = normalise(step)
        n_steps += 1
        box = _BOX_RE.fullmatch(text)
        if box:
            boxed = True
            n_well += not broken and stage == (3 if linear else 2) and x is not None and parse_value(box.group(1)) == x
            break
        claims: list[bool] = []
        ok = False
        if broken:
            pass
        elif linear and stage == 0 and (mv := _MOVE_RE.fullmatch(text)):
            verb, n, prep, a, c, sign, n2, value = mv.groups()
            subtract = verb == "Subtract"
            ok = (subtract == (prep == "from") == (sign == "-") and int(n) == int(n2) == abs(equation.b)
                  and int(a) == equation.a and int(c) == equation.c)
            m = parse_value(value)
            claims = [m == int(c) + (-1 if sign == "-" else 1) * int(n2)]
        elif linear and stage == 1 and (dv := _DIVIDE_RE.fullmatch(text)):
            divisor, num, den, value = int(dv.group(1)), int(dv.group(2)), int(dv.group(3)), parse_value(dv.group(4))
            ok = divisor in (equation.a, -equation.a) and den == divisor and m is not None and num == m
            claims = [den != 0 and value == Fraction(num, den)]
            x = value
        elif not linear and stage == 0 and (tr := _TRY_RE.fullmatch(text)):
            d = int(tr.group(1))
            ok = d in tries(equation)
            x = Fraction(d)
        elif stage == (2 if linear else 1) and x is not None:
            ok, claims = _audit_check(equation, x, text)
        if ok:
            n_well += 1
            n_claims += len(claims)
            n_true += sum(claims)
            stage += 1
        else:
            broken = True
    return StepAudit(n_steps, n_well, n_claims, n_true, x, boxed)


def _audit_check(equation: Equation, x: Fraction, text: str) -> tuple[bool, list[bool]]:
    """(well-formed, truth of each `=`) of a check step of `x`."""
    if equation.kind == "linear_equation":
        ck = _LINEAR_CHECK_RE.fullmatch(text)
        if ck is None:
            return False, []
        a, factor, s1, n1, product, s2, n2, total = ck.groups()
        b1, b2 = _signed(s1, n1), _signed(s2, n2)
        ok = int(a) == equation.a and _value(factor) == x and b1 == b2 == equation.b
        p, t = parse_value(product), parse_value(total)
        return ok, [p == int(a) * x, p is not None and t == p + b2]
    if equation.b == 0:
        sq = _SQUARE_CHECK_RE.fullmatch(text)
        if sq is None:
            return False, []
        f1, f2, total = sq.groups()
        return _value(f1) == x and _value(f2) == x, [parse_value(total) == x * x]
    ck = _QUADRATIC_CHECK_RE.fullmatch(text)
    if ck is None:
        return False, []
    f1, inner_x, sign, n, f2, f3, total = ck.groups()
    ok = _value(f1) == x and parse_value(inner_x) == x and _signed(sign, n) == equation.b and _value(f2) == x
    e, t = _value(f3), parse_value(total)
    return ok, [e == x + equation.b, e is not None and t == x * e]
