r"""A restricted numeric evaluator for a small LaTeX subset, used in-process as a fast filter.

Grammar (nothing else is accepted; anything outside it raises `Unsupported` and the pair goes to
the symbolic worker): numbers, single-letter variables, `i` (imaginary unit), `e`, `\pi`,
`+ - * / \cdot \times \div`, implicit multiplication, `^` with a braced or one-character exponent,
`\frac{}{}`, `\sqrt{}`, `\sqrt[n]{}`, `( )` and `{ }` groups. Values are Python complex numbers
evaluated at fixed points; exponents are capped so nothing can blow up. Text is tokenised and
walked by hand: it is never evaluated as Python.
"""

from __future__ import annotations

import cmath
import math
import re

_TOKEN = re.compile(r"\s*(\d+\.?\d*|\.\d+|\\[A-Za-z]+|[A-Za-z]|[-+*/^(){}\[\]])")
_MAX_EXPONENT = 64.0
_MAX_TOKENS = 200
_CONSTANTS = {"\\pi": math.pi}
_TIMES = {"*", "\\cdot", "\\times"}
_DIVIDE = {"/", "\\div"}


class Unsupported(Exception):
    """The text is outside the evaluator's grammar, or its value is not a safe finite number."""


def tokenize(s: str) -> list[str]:
    """Return the tokens of `s`; raise Unsupported on any character outside the grammar."""
    tokens, pos = [], 0
    s = s.rstrip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if m is None:
            raise Unsupported(s[pos:])
        tokens.append(m.group(1))
        pos = m.end()
        if len(tokens) > _MAX_TOKENS:
            raise Unsupported("too long")
    return tokens


def variables(tokens: list[str]) -> set[str]:
    """Return the single-letter variables among `tokens` (not `i` or `e`)."""
    return {t for t in tokens if len(t) == 1 and t.isalpha() and t not in "ie"}


class _Parser:
    def __init__(self, tokens: list[str], point: dict[str, complex]) -> None:
        self.tokens, self.pos, self.point = tokens, 0, point

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise Unsupported(f"expected {expected}")
        self.pos += 1
        return token

    def expr(self) -> complex:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            value = value + self.term() if op == "+" else value - self.term()
        return value

    def term(self) -> complex:
        value = self.unary()
        while True:
            token = self.peek()
            if token in _TIMES:
                self.take()
                value *= self.unary()
            elif token in _DIVIDE:
                self.take()
                divisor = self.unary()
                if divisor == 0:
                    raise Unsupported("division by zero")
                value /= divisor
            elif token is not None and self._starts_primary(token):
                value *= self.power()
            else:
                return value

    @staticmethod
    def _starts_primary(token: str) -> bool:
        return token[0].isdigit() or token[0] == "." or token.isalpha() or token in ("(", "{", "\\frac", "\\sqrt", "\\pi")

    def unary(self) -> complex:
        if self.peek() in ("-", "+"):
            sign = -1 if self.take() == "-" else 1
            return sign * self.unary()
        return self.power()

    def power(self) -> complex:
        base = self.primary()
        if self.peek() != "^":
            return base
        self.take("^")
        token = self.peek()
        if token == "{":
            exponent = self.group()
        elif token is not None and token[0].isdigit():
            self.take()
            if len(token) > 1:  # x^23 is x^2 * 3
                self.tokens.insert(self.pos, token[1:])
            exponent = complex(int(token[0]))
        elif token is not None and (len(token) == 1 and token.isalpha() or token == "\\pi"):
            exponent = self.primary()
        else:
            raise Unsupported("exponent")
        if self.peek() == "^":
            raise Unsupported("ambiguous power chain")
        if abs(exponent) > _MAX_EXPONENT:
            raise Unsupported("big exponent")
        try:
            if exponent.imag == 0 and exponent.real == int(exponent.real):
                return base ** int(exponent.real)
            if base == 0:
                raise Unsupported("0 to a non-integer power")
            return cmath.exp(exponent * cmath.log(base))
        except (OverflowError, ZeroDivisionError) as err:
            raise Unsupported("overflow") from err

    def group(self) -> complex:
        self.take("{")
        value = self.expr()
        self.take("}")
        return value

    def primary(self) -> complex:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            return complex(float(token))
        if token == "(":
            value = self.expr()
            self.take(")")
            return value
        if token == "{":
            value = self.expr()
            self.take("}")
            return value
        if token == "\\frac":
            numerator = self.group()
            denominator = self.group()
            if denominator == 0:
                raise Unsupported("division by zero")
            return numerator / denominator
        if token == "\\sqrt":
            if self.peek() == "[":
                self.take("[")
                index = self.expr()
                self.take("]")
                radicand = self.group()
                if index.imag != 0 or index.real not in (2.0, 3.0, 4.0, 5.0) or radicand.imag != 0:
                    raise Unsupported("root")
                r = radicand.real
                n = int(index.real)
                if r < 0 and n % 2 == 0:
                    raise Unsupported("even root of a negative number")
                return complex(math.copysign(abs(r) ** (1.0 / n), r))
            return cmath.sqrt(self.group())
        if token in _CONSTANTS:
            return complex(_CONSTANTS[token])
        if token == "i":
            return 1j
        if token == "e":
            return complex(math.e)
        if len(token) == 1 and token.isalpha():
            return self.point[token]
        raise Unsupported(token)


def evaluate(tokens: list[str], point: dict[str, complex]) -> complex:
    """Return the value of a tokenised expression at `point` (variable -> value); raise Unsupported."""
    parser = _Parser(list(tokens), point)
    try:
        value = parser.expr()
    except (OverflowError, ZeroDivisionError, ValueError, RecursionError) as err:
        raise Unsupported(str(err)) from err
    if parser.pos != len(parser.tokens):
        raise Unsupported("trailing tokens")
    if not (math.isfinite(value.real) and math.isfinite(value.imag)):
        raise Unsupported("not finite")
    return value


_MIXED = re.compile(r"\d\s*\\frac")
_POINTS = (0.5377, 1.8339, -2.2588, 0.8622, 0.3188, -1.3077, -0.4336, 0.3426, 3.5784, 2.7694)


def numeric_verdict(a: str, b: str) -> bool | None:
    """Compare two scalar answers numerically: False when they clearly differ at a fixed point,
    True when they agree to 1e-12 at three points and neither holds a decimal (so no rounding),
    None when undecided or outside the grammar."""
    if _MIXED.search(a) or _MIXED.search(b):
        return None  # "3\frac{1}{2}" is a mixed number, not a product: leave it to the exact paths
    try:
        ta, tb = tokenize(a), tokenize(b)
        names = sorted(variables(ta) | variables(tb))
        if len(names) > 4:
            return None
        agree = 0
        for k in range(3):
            point = {name: complex(_POINTS[(k * 3 + j) % len(_POINTS)], 0.1 * k) for j, name in enumerate(names)}
            va, vb = evaluate(ta, point), evaluate(tb, point)
            scale = max(1.0, abs(va), abs(vb))
            if abs(va - vb) > 1e-6 * scale:
                return False
            agree += abs(va - vb) <= 1e-12 * scale
    except (Unsupported, KeyError, IndexError):
        return None
    if agree == 3 and "." not in a and "." not in b:
        return True
    return None


MAX_VALUE_DIGITS = 100_000
"""Integer powers whose value would have more digits than this are refused before parsing (see `power_digits`)."""
_MAX_MAGNITUDE_TOKENS = 400


def power_digits(s: str) -> float:
    """Return an upper bound on the number of decimal digits of the largest power in `s` (`9^{9^{9^{9}}}` -> inf,
    `2^{10}` -> about 3.01), read with the evaluator's grammar; 0.0 when `s` is outside it. Nothing is computed
    beyond float logarithms, so a power tower costs microseconds to refuse."""
    try:
        tokens = tokenize(s[: 4 * _MAX_MAGNITUDE_TOKENS])
    except Unsupported:
        return 0.0
    if len(tokens) > _MAX_MAGNITUDE_TOKENS:
        return 0.0
    parser = _Magnitude(tokens)
    try:
        parser.expr()
    except (Unsupported, IndexError, RecursionError):
        pass
    return parser.largest


class _Magnitude:
    """Recursive descent over `tokenize` tokens computing log10 upper bounds of every (sub)expression's size."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.pos, self.largest = tokens, 0, 0.0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise Unsupported("end")
        self.pos += 1
        return token

    def note(self, digits: float) -> float:
        self.largest = max(self.largest, digits)
        return digits

    def expr(self) -> float:
        digits = self.term()
        while self.peek() in ("+", "-"):
            self.take()
            digits = self.note(max(digits, self.term()) + 0.302)
        return digits

    def term(self) -> float:
        digits = self.unary()
        while True:
            token = self.peek()
            if token in _TIMES or token in _DIVIDE:
                self.take()
                digits = self.note(digits + self.unary())
            elif token is not None and _Parser._starts_primary(token):
                digits = self.note(digits + self.power())
            else:
                return digits

    def unary(self) -> float:
        if self.peek() in ("-", "+"):
            self.take()
        return self.power()

    def power(self) -> float:
        base = self.primary()
        while self.peek() == "^":
            self.take()
            token = self.peek()
            if token == "{":
                self.take()
                exponent = self.expr()
                if self.take() != "}":
                    raise Unsupported("}")
            elif token is not None and token[0].isdigit():
                self.take()
                exponent = math.log10(max(float(token[0]), 1.0))
            else:
                exponent = self.primary()
            # |a^b| has at most log10|a| * |b| digits, and |b| < 10^exponent_digits.
            base = self.note(base * 10.0 ** min(exponent, 308.0) if base > 0 else 0.0)
        return base

    def primary(self) -> float:
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            return self.note(math.log10(max(abs(float(token)), 1.0)) if len(token) < 300 else float(len(token)))
        if token in ("(", "{"):
            digits = self.expr()
            self.take()
            return digits
        if token == "\\frac":
            return self.note(self.primary() + self.primary())
        if token == "\\sqrt":
            if self.peek() == "[":
                while self.take() != "]":
                    pass
            return self.note(self.primary() / 2)
        return 0.0  # a variable or constant: symbolic, it brings no digits of its own
