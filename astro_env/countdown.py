"""Countdown: reach a target from given numbers with + - * /, each number used exactly once.

The embedded default task: seeded, guaranteed solvable by construction, verified exactly
(a restricted recursive-descent parser over `Fraction`; model text is never evaluated).

Step grammar (shared by the generator's solutions, the symbolic policy and the search):

- A *pool item* is `(expr, value)`; an original number has `expr` = its digits. Values are
  non-negative integers (the legal rules below keep them so).
- A step names the *values* it combines, never re-states sub-expressions:
  `f"{v_i}{op}{v_j}={value}; left: {values of the items left}"`, e.g. `"7*3=21; left: 8 21"`
  then `"21+8=29; left: 29"`. The pool listing is a scratchpad that makes the state explicit (a
  small model need not recall which numbers remain); `apply_step` also accepts a step without
  it, and rejects one whose listing is wrong. Each step's operands and result are single
  numbers, so a small model never recomputes an earlier step to write the next one.
- Legal combinations: ordered pairs (i != j) and op in `+ - * /`, with subtraction only when
  the result is non-negative and division only when it is exact (an integer, divisor != 0).
  The two items leave the pool; the new one, with expression `"(" + e_i + op + e_j + ")"`, is
  appended at the end. `legal_steps` lists each distinct step text once and writes the
  commutative ops larger value first (`7*3`, not `3*7`), so `3+6` and `6+3` are one step;
  `apply_step` accepts either order.
- When one item remains the only legal step boxes its expression without the outer
  parentheses: `"\\boxed{(7*3)+8}"` (the expression is kept for the final answer only). Any
  `\\boxed{EXPR}` step ends an episode.

Correct iff the (last) boxed expression parses, uses the problem's numbers exactly once each
(multiset equality) and equals the target exactly.

Beyond the grammar, this module holds everything the task supplies to the pipeline
(`astro_env.task`): `CountdownTask` and its config, the embedded model's pre-training corpus
(`walk_corpus`: random legal walks with hindsight targets, excluded prompts left out by
construction) and the competence probes (`CountdownProbes`); the comparison sentences are in
`countdown_phrases.json` and the Gymnasium id `astro/Countdown-v0` in `astro_env.countdown_env`.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import AbstractSet, Sequence

from astro_env.errors import UserError

from astro_env.boxes import scan_boxes
from astro_env.outcome import OutcomePhrases
from astro_env.problem import Problem, prompt_key

Pool = tuple[tuple[str, Fraction], ...]
"""The items still available: `(expr, value)` pairs in a fixed order."""

OPS = ("+", "-", "*", "/")
LEFT_SEP = "; left: "
"""Separates a step's equation from the values it leaves (`"7*3=21; left: 8 21"`)."""
MAX_EXPR_CHARS = 256
"""Longest expression the parser accepts (a 6-number expression is ~30 characters)."""
MAX_NUMBER_DIGITS = 12
"""Longest integer literal the parser accepts (keeps products small and checks instant)."""
PHRASES_PATH = Path(__file__).with_name("countdown_phrases.json")
"""Countdown's comparison sentences (`OutcomePhrases`)."""

_PROBLEM_RE = re.compile(r"Numbers:[ \t]*([0-9][0-9 \t]*)\r?\nTarget:[ \t]*([0-9]+)")
_STEP_RE = re.compile(r"^(?P<a>[0-9]{1,12})(?P<op>[-+*/])(?P<b>[0-9]{1,12})=(?P<value>[0-9]{1,12})$")
_ALIASES = (("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("×", "*"), ("÷", "/"), ("−", "-"), ("\\left", ""), ("\\right", ""))


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class CountdownConfig:
    """The Countdown task's settings (`CountdownTask.Config`): the generator's difficulty knobs
    (`generate_problems`) and the embedded model's pre-training corpus."""

    n_numbers: int = 3
    """How many numbers each problem gives (all must be used); 2-6 keeps the solver instant."""
    min_number: int = 1
    """Smallest number drawn (inclusive)."""
    max_number: int = 12
    """Largest number drawn (inclusive)."""
    min_target: int = 1
    """Smallest admissible target (inclusive)."""
    max_target: int = 100
    """Largest admissible target (inclusive)."""
    max_tries: int = 10_000
    """Random expression trees tried per problem before giving up (raise the target range if hit)."""
    # --- the embedded model's pre-training corpus (`CountdownTask.pretrain_corpus`) ----------------
    corpus_problems: int = 2000
    """Problems (`generate_problems(corpus_problems, seed)`, excluded prompts removed) the walks are drawn on."""
    corpus_hindsight_ratio: float = 0.5
    """Fraction of walks whose prompt's target is the walk's own result (when inside the target range), so
    the model learns that the target is something to aim at; the rest keep the problem's target and miss."""
    corpus_compare: bool = True
    """Write the comparison with the target ("That gives 8; the target is 6, so this is not it.") after a
    walk's final combination, as the search traces do."""
    corpus_max_attempts: int = 1
    """Attempts per pre-training walk, drawn uniformly from 1..corpus_max_attempts: each attempt is a fresh
    random legal walk from the prompt's numbers with its comparison, the next one follows a miss directly
    (no reflection phrase), and the walk boxes at the first attempt that reaches the target or at the last.
    Above 1 the base sees its task's state at the positions a multi-attempt trace reaches; 1 keeps one
    attempt per walk (needs corpus_compare above 1)."""

    def __post_init__(self) -> None:
        if not 1 <= self.n_numbers <= 8:
            raise ValueError(f"n_numbers={self.n_numbers}: use 1..8 (default 3; 2-6 keeps the solver instant).")
        if not 0 <= self.min_number <= self.max_number:
            raise ValueError(f"number range [{self.min_number}, {self.max_number}] is empty or negative; use 0 <= min_number <= max_number.")
        if not 0 <= self.min_target <= self.max_target:
            raise ValueError(f"target range [{self.min_target}, {self.max_target}] is empty or negative; use 0 <= min_target <= max_target.")
        if self.max_tries < 1:
            raise ValueError(f"max_tries={self.max_tries}: use >= 1.")
        if self.corpus_problems < 1:
            raise ValueError(f"corpus_problems={self.corpus_problems}: use >= 1.")
        if not 0.0 <= self.corpus_hindsight_ratio <= 1.0:
            raise ValueError(f"corpus_hindsight_ratio={self.corpus_hindsight_ratio} must be in [0, 1] (0: the problems' own targets only).")
        if self.corpus_max_attempts < 1:
            raise ValueError(f"corpus_max_attempts={self.corpus_max_attempts}: use >= 1 (1: one attempt per walk).")
        if self.corpus_max_attempts > 1 and not self.corpus_compare:
            raise ValueError("corpus_max_attempts > 1 needs corpus_compare (the comparison after a miss is what separates attempts).")


# ----------------------------------------------------------------------------- values and the parser


def format_value(value: Fraction) -> str:
    """`value` as step text: an int (`"35"`), or `"p/q"` when not integral."""
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _combine(a: Fraction, b: Fraction, op: str) -> Fraction | None:
    """a op b under the legal-step rules (non-negative subtraction, exact division), else None."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b if a >= b else None
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            return None
        q = a / b
        return q if q.denominator == 1 else None
    raise ValueError(f"unknown op {op!r}; use one of {OPS}")


class _Parser:
    """Recursive descent over digits, + - * / and parentheses; integer literals only."""

    def __init__(self, text: str, max_depth: int) -> None:
        self.text = text
        self.pos = 0
        self.numbers: list[int] = []
        self.max_depth = max_depth

    def parse(self) -> Fraction:
        value = self.expr(0)
        if self.pos != len(self.text):
            raise ValueError(f"unexpected {self.text[self.pos]!r} at {self.pos}")
        return value

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expr(self, depth: int) -> Fraction:
        value = self.term(depth)
        while self.peek() in ("+", "-") and self.peek():
            op = self.text[self.pos]
            self.pos += 1
            rhs = self.term(depth)
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self, depth: int) -> Fraction:
        value = self.atom(depth)
        while self.peek() in ("*", "/") and self.peek():
            op = self.text[self.pos]
            self.pos += 1
            rhs = self.atom(depth)
            if op == "*":
                value = value * rhs
            else:
                if rhs == 0:
                    raise ZeroDivisionError("division by zero")
                value = value / rhs
        return value

    def atom(self, depth: int) -> Fraction:
        ch = self.peek()
        if ch == "(":
            if depth >= self.max_depth:
                raise ValueError("nesting too deep")
            self.pos += 1
            value = self.expr(depth + 1)
            if self.peek() != ")":
                raise ValueError("unbalanced parentheses")
            self.pos += 1
            return value
        start = self.pos
        while self.peek().isdigit() and self.peek().isascii():
            self.pos += 1
        digits = self.text[start:self.pos]
        if not digits:
            raise ValueError(f"expected a number at {start}")
        if len(digits) > MAX_NUMBER_DIGITS:
            raise ValueError("number literal too long")
        self.numbers.append(int(digits))
        return Fraction(int(digits))


def normalize_expression(text: str) -> str:
    """`text` with whitespace removed and LaTeX/Unicode operator aliases (\\times, \\div, ×, ÷) mapped to * and /."""
    out = text
    for alias, op in _ALIASES:
        out = out.replace(alias, op)
    return "".join(out.split())


def parse_expression(text: str) -> tuple[Fraction, tuple[int, ...]] | None:
    """(exact value, integer literals in order) of an arithmetic expression, or None.

    Accepts digits, `+ - * /`, parentheses and whitespace (plus the aliases of
    `normalize_expression`); no unary minus, no decimals. Bounded: at most `MAX_EXPR_CHARS`
    characters and 64 levels of parentheses. Never evaluates text as Python, never raises.
    """
    if not isinstance(text, str) or len(text) > 4 * MAX_EXPR_CHARS:
        return None
    norm = normalize_expression(text)
    if not norm or len(norm) > MAX_EXPR_CHARS:
        return None
    parser = _Parser(norm, max_depth=64)
    try:
        value = parser.parse()
    except (ValueError, ZeroDivisionError):
        return None
    return value, tuple(parser.numbers)


# ----------------------------------------------------------------------------- the grammar


def problem_numbers(problem: Problem) -> tuple[list[int], int]:
    """(numbers, target) of a Countdown problem, from `metadata` or else its text.

    Raises ValueError when neither holds them.
    """
    meta = problem.metadata or {}
    if "numbers" in meta and "target" in meta:
        return [int(x) for x in meta["numbers"]], int(meta["target"])
    parsed = parse_problem_text(problem.problem)
    if parsed is None:
        raise UserError(f"Problem {problem.id!r} is not a Countdown problem: no 'Numbers: ...\\nTarget: ...' in its text or metadata; "
                        "use a backend and task that match the problems (e.g. --policy.backend math for math problems).")
    return parsed


def parse_problem_text(text: str) -> tuple[list[int], int] | None:
    """(numbers, target) from a `"Numbers: 3 5 7\\nTarget: 26"` text (first match), or None."""
    match = _PROBLEM_RE.search(text)
    if match is None:
        return None
    return [int(x) for x in match.group(1).split()], int(match.group(2))


def problem_text(numbers: Sequence[int], target: int) -> str:
    """The problem statement: `"Numbers: 3 5 7\\nTarget: 26"`."""
    return "Numbers: " + " ".join(str(n) for n in numbers) + f"\nTarget: {target}"


def initial_pool(problem: Problem | Sequence[int]) -> Pool:
    """The pool before any step: one item per number, expr = its digits (a Problem or the numbers)."""
    numbers = problem_numbers(problem)[0] if isinstance(problem, Problem) else list(problem)
    return tuple((str(int(n)), Fraction(int(n))) for n in numbers)


def _combined(pool: Pool, i: int, j: int, op: str) -> tuple[str, Pool] | None:
    """(step text, next pool) for combining items i and j with op, or None if illegal."""
    (e_i, v_i), (e_j, v_j) = pool[i], pool[j]
    value = _combine(v_i, v_j, op)
    if value is None:
        return None
    rest = tuple(item for k, item in enumerate(pool) if k != i and k != j)
    after = rest + ((f"({e_i}{op}{e_j})", value),)
    listing = " ".join(format_value(v) for _, v in after)
    return f"{format_value(v_i)}{op}{format_value(v_j)}={format_value(value)}{LEFT_SEP}{listing}", after


def _canonical_transitions(pool: Pool) -> list[tuple[str, Pool]]:
    """(step, next pool) for each distinct legal step text, commutative ops larger value first."""
    out, seen = [], set()
    for i, j in itertools.permutations(range(len(pool)), 2):
        for op in OPS:
            if op in "+*" and (pool[i][1], -i) < (pool[j][1], -j):
                continue  # the other order writes it larger value first
            result = _combined(pool, i, j, op)
            if result is not None and result[0] not in seen:
                seen.add(result[0])
                out.append(result)
    return out


def boxed_step(expr: str) -> str:
    """The terminal step boxing `expr` without its outer parentheses: `"\\boxed{(5*7)-3}"`."""
    return "\\boxed{" + strip_outer_parens(expr) + "}"


def strip_outer_parens(expr: str) -> str:
    """`expr` without one pair of parentheses that encloses all of it (`"(3+4)"` -> `"3+4"`)."""
    if len(expr) >= 2 and expr[0] == "(" and expr[-1] == ")":
        depth = 0
        for k, ch in enumerate(expr):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and k < len(expr) - 1:
                return expr
        return expr[1:-1]
    return expr


def legal_steps(pool: Pool) -> list[str]:
    """Every distinct legal next step, in a fixed order (pairs i, j in index order, then ops `+ - * /`).

    Commutative ops are written larger value first, and a step text reachable from several
    pairs (equal values) is listed once. One item left: the single boxed step. Empty pool
    (after the boxed step): no steps.
    """
    return [step for step, _ in legal_transitions(pool)]


def legal_transitions(pool: Pool) -> list[tuple[str, Pool]]:
    """(step, next pool) for every legal step, aligned with `legal_steps(pool)`."""
    if not pool:
        return []
    if len(pool) == 1:
        return [(boxed_step(pool[0][0]), ())]
    return _canonical_transitions(pool)


def random_transition(pool: Pool, rng: random.Random) -> tuple[str, Pool]:
    """`rng.choice(legal_transitions(pool))`, computed without writing out every candidate step.

    The same (step, next pool) and the same use of `rng` (one `choice` over a list of the same
    length, in the same order), so seeded walks and generated problems do not depend on which of
    the two is called; only the chosen step's text is formatted. Pools with a non-integer value
    take the long way.
    """
    if len(pool) < 2 or any(value.denominator != 1 for _, value in pool):
        return rng.choice(legal_transitions(pool))
    i, j, op = rng.choice(_legal_moves(tuple(int(value) for _, value in pool)))
    return _combined(pool, i, j, op)  # type: ignore[return-value]


@functools.lru_cache(maxsize=1 << 16)
def _legal_moves(values: tuple[int, ...]) -> tuple[tuple[int, int, str], ...]:
    """(i, j, op) of each distinct legal step over integer `values`, aligned with `legal_transitions`."""
    n = len(values)
    moves, seen = [], set()
    for i, j in itertools.permutations(range(n), 2):
        a, b = values[i], values[j]
        for op in OPS:
            if op in "+*" and (a, -i) < (b, -j):
                continue  # the other order writes it larger value first
            if op == "+":
                result = a + b
            elif op == "-":
                if a < b:
                    continue
                result = a - b
            elif op == "*":
                result = a * b
            else:
                if b == 0 or a % b:
                    continue
                result = a // b
            # the step's text is a function of (a, op, b) and the values left, so this key dedupes as the text does
            key = (a, op, b, tuple(values[k] for k in range(n) if k != i and k != j) + (result,))
            if key not in seen:
                seen.add(key)
                moves.append((i, j, op))
    return tuple(moves)


def extract_boxed(text: str) -> list[str]:
    """Contents of every `\\boxed{...}` in `text` with balanced braces, in order (`astro_env.boxes`)."""
    return [box.content for box in scan_boxes(text).braced]


def apply_step(pool: Pool, step: str) -> Pool | None:
    """The pool after `step`, or None when `step` is not legal in `pool`.

    An intermediate step `A op B = V` must name the values of two pool items (in either order
    for `+` and `*`, spaces ignored) with the exact result V; an optional pool listing must
    list the values left in order. When equal values make several pairs fit, the first pair
    (in `itertools.permutations` order) whose result fits is taken. A `\\boxed{EXPR}` step
    whose EXPR parses ends the game and returns the empty pool (whether it is *correct* is the
    task's call).
    """
    if not isinstance(step, str) or not pool or len(step) > 4 * MAX_EXPR_CHARS:
        return None
    text = step.strip()
    if text.startswith("\\boxed{"):
        boxes = extract_boxed(text)
        if len(boxes) != 1 or not text.endswith("}") or parse_expression(boxes[0]) is None:
            return None
        return ()
    text, has_left, left = text.partition(LEFT_SEP.strip())
    listed = left.split() if has_left else None
    match = _STEP_RE.match("".join(text.split()))
    if match is None:
        return None
    a, b, op = Fraction(int(match.group("a"))), Fraction(int(match.group("b"))), match.group("op")
    stated = Fraction(int(match.group("value")))
    for i, j in itertools.permutations(range(len(pool)), 2):
        if pool[i][1] != a or pool[j][1] != b:
            continue
        result = _combined(pool, i, j, op)
        if result is None or result[1][-1][1] != stated:
            return None  # the values decide legality and result, whichever pair holds them
        if listed is None or listed == [format_value(v) for _, v in result[1]]:
            return result[1]
    return None


def pool_from_text(problem: Problem, steps: str | Sequence[str], delimiter: str = "\n\n") -> Pool | None:
    """The pool after playing `steps` (a sequence, or the text after the prompt split on `delimiter`).

    None when any step is illegal or a step follows the boxed one.
    """
    if isinstance(steps, str):
        steps = [s for s in steps.split(delimiter) if s.strip()]
    pool: Pool | None = initial_pool(problem)
    for step in steps:
        if pool is None or not pool:
            return None
        pool = apply_step(pool, step)
    return pool


# ----------------------------------------------------------------------------- solver and generator


def _solve_pool(pool: Pool, target: Fraction, memo: dict) -> list[str] | None:
    """Legal steps (ending with the boxed one) from `pool` to `target`, or None."""
    if len(pool) == 1:
        return [boxed_step(pool[0][0])] if pool[0][1] == target else None
    key = tuple(sorted(v for _, v in pool))
    if key in memo:
        return None  # memo only records failures; a success returns immediately
    for step, nxt in legal_transitions(pool):
        rest = _solve_pool(nxt, target, memo)
        if rest is not None:
            return [step] + rest
    memo[key] = None
    return None


def solve_steps(numbers: Sequence[int], target: int) -> list[str] | None:
    """A legal step sequence (last step boxed) that reaches `target` using every number once, or None."""
    if not numbers:
        return None
    return _solve_pool(initial_pool(list(numbers)), Fraction(target), {})


def solve(numbers: Sequence[int], target: int) -> str | None:
    """An expression (as boxed, outer parentheses stripped) over all `numbers` equal to `target`, or None.

    Exhaustive over the legal-step grammar (non-negative subtraction, exact division).
    >>> solve([3, 5, 7], 26)
    '5+(3*7)'
    """
    steps = solve_steps(numbers, target)
    return None if steps is None else extract_boxed(steps[-1])[0]


def _random_solution(numbers: list[int], rng: random.Random) -> tuple[list[str], Fraction]:
    """A random legal step sequence over all `numbers` (uniform over legal steps) and its value."""
    pool = initial_pool(numbers)
    steps = []
    while len(pool) > 1:
        step, pool = random_transition(pool, rng)
        steps.append(step)
    steps.append(boxed_step(pool[0][0]))
    return steps, pool[0][1]


def generate_problem(seed: int, idx: int, config: CountdownConfig = CountdownConfig()) -> Problem:
    """Problem `idx` of stream `seed`: numbers sorted ascending, target from a random expression over all of them.

    Deterministic in (seed, idx, config) and independent of other indices; `solution` holds the
    generating step sequence joined by a blank line. Raises RuntimeError when `max_tries`
    random trees miss the target range.
    """
    rng = random.Random(f"countdown/{seed}/{idx}")
    for _ in range(config.max_tries):
        numbers = sorted(rng.randint(config.min_number, config.max_number) for _ in range(config.n_numbers))
        steps, value = _random_solution(numbers, rng)
        if value.denominator == 1 and config.min_target <= value <= config.max_target:
            target = int(value)
            return Problem(
                id=f"countdown/{seed}/{idx}",
                problem=problem_text(numbers, target),
                answer=str(target),
                solution="\n\n".join(steps),
                source="countdown",
                task="countdown",
                metadata={"numbers": numbers, "target": target},
            )
    raise RuntimeError(
        f"Countdown generator found no target in [{config.min_target}, {config.max_target}] after "
        f"{config.max_tries} tries; widen the target range or narrow the number range."
    )


def generate_problems(n: int, seed: int, config: CountdownConfig = CountdownConfig()) -> list[Problem]:
    """`n` solvable Countdown problems, ids `countdown/<seed>/<idx>` for idx in 0..n-1 (deterministic)."""
    if n < 0:
        raise ValueError(f"n={n}: use >= 0.")
    return [generate_problem(seed, idx, config) for idx in range(n)]


# ----------------------------------------------------------------------------- the task


@functools.lru_cache(maxsize=1)
def _outcome_phrases() -> OutcomePhrases:
    return OutcomePhrases.load(PHRASES_PATH)



def check_answer(numbers: Sequence[int], target: int, answer: str | None) -> bool:
    """Whether `answer` is an expression using `numbers` exactly once each and equal to `target`. Never raises."""
    if not isinstance(answer, str):
        return False
    parsed = parse_expression(answer)
    if parsed is None:
        return False
    value, used = parsed
    return value == target and Counter(used) == Counter(int(n) for n in numbers)


class CountdownTask:
    """The Countdown `Task`: prompt = problem text + a blank line, answer = the last boxed expression.

    Supplies every optional hook of `astro_env.task`: its `Config` (`CountdownConfig`), generated
    problems, the symbolic proposer as its default search policy, the comparison of a final
    combination with the target (`countdown_phrases.json`), the embedded model's pre-training walks
    (`walk_corpus`), competence probes (`CountdownProbes`) and a check of problem records.
    """

    name = "countdown"
    Config = CountdownConfig
    default_search_policy = "countdown"
    """The symbolic Countdown proposer (`agents.countdown_policy`): uniform prior, random legal rollouts."""

    def __init__(self, config: CountdownConfig = CountdownConfig()) -> None:
        if not isinstance(config, CountdownConfig):
            raise ValueError(f"CountdownTask takes a CountdownConfig, got {type(config).__name__}.")
        self.config = config

    def generate(self, n: int, seed: int) -> list[Problem]:
        """`n` problems of this task's `CountdownConfig` (the same for the same seed)."""
        return generate_problems(n, seed=seed, config=self.config)

    # ------------------------------------------------------------------ comparison with the target

    @property
    def outcome_phrases(self) -> OutcomePhrases:
        """The comparison sentences of `countdown_phrases.json`."""
        return _outcome_phrases()

    def outcome_goal(self, problem: Problem) -> str | None:
        """The target as text (the prompt states it, so a trace may compare with it), None when `problem` has none."""
        try:
            return str(problem_numbers(problem)[1])
        except ValueError:
            return None

    def outcome_value(self, problem: Problem, answer: str | None) -> str | None:
        """The exact value of a boxed expression as text (`"26"`, `"7/2"`), None when it does not parse."""
        parsed = parse_expression(answer) if answer else None
        return None if parsed is None else format_value(parsed[0])

    # ------------------------------------------------------------------ pre-training and competence

    def pretrain_corpus(self, n: int, seed: int, exclude_keys: AbstractSet[str] = frozenset()) -> list[tuple[Problem, str]]:
        """Random legal walks with hindsight targets (`walk_corpus`)."""
        return walk_corpus(self.config, n, seed, exclude_keys, self.outcome_phrases)

    def competence_probes(self):
        """Legal steps, arithmetic, target copies, the verification probe and random legal play (`CountdownProbes`)."""
        return CountdownProbes(self)

    def validate_problem(self, problem: Problem) -> None:
        """Raise ValueError unless the problem's metadata (when given) holds integer `numbers` and `target`."""
        meta = problem.metadata
        if "numbers" in meta or "target" in meta:
            numbers, target = meta.get("numbers"), meta.get("target")
            if not isinstance(numbers, list) or not numbers or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
                raise ValueError(f"Countdown `numbers` must be a non-empty list of integers, got {numbers!r}")
            if not isinstance(target, int) or isinstance(target, bool):
                raise ValueError(f"Countdown `target` must be an integer, got {target!r}")

    # ------------------------------------------------------------------ the Task interface

    def format_prompt(self, problem: Problem) -> str:
        """`problem.problem + "\\n\\n"`: the first step follows directly."""
        return problem.problem + "\n\n"

    def extract_answer(self, text: str) -> str | None:
        """Contents of the last balanced `\\boxed{...}` in `text`, None if there is none."""
        if not isinstance(text, str):
            return None
        boxes = extract_boxed(text)
        return boxes[-1].strip() if boxes else None

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        """Exact check: parses, uses the numbers exactly once each, equals the target. Never raises."""
        try:
            numbers, target = problem_numbers(problem)
        except ValueError:
            return False
        return check_answer(numbers, target, answer)

    def is_equivalent(self, answer_a: str, answer_b: str) -> bool:
        """Same value when both parse, else equal after whitespace/alias normalisation."""
        a, b = parse_expression(answer_a), parse_expression(answer_b)
        if a is not None and b is not None:
            return a[0] == b[0]
        if not isinstance(answer_a, str) or not isinstance(answer_b, str):
            return False
        return normalize_expression(answer_a) == normalize_expression(answer_b)

    def reward(self, problem: Problem, completion: str) -> float:
        """1.0 when the completion's final boxed expression is correct, else 0.0.

        Several boxed answers that are not all equivalent earn 0 (no hedging). Never raises.
        """
        if not isinstance(completion, str):
            return 0.0
        boxes = [b.strip() for b in extract_boxed(completion)]
        if not boxes:
            return 0.0
        if any(not self.is_equivalent(boxes[-1], b) for b in boxes[:-1]):
            return 0.0
        return 1.0 if self.is_correct(problem, boxes[-1]) else 0.0

    def self_check(self, problem: Problem, completion: str) -> bool:
        """Whether the completion's boxed answers agree and the last uses the prompt's numbers once each
        and equals the prompt's target (`astro_env.task.SelfCheckingTask`). Reads the numbers and target
        from the prompt text only (never `problem.answer`). Never raises."""
        stated = parse_problem_text(self.format_prompt(problem))
        if stated is None or not isinstance(completion, str):
            return False
        boxes = [b.strip() for b in extract_boxed(completion)]
        if not boxes or any(not self.is_equivalent(boxes[-1], b) for b in boxes[:-1]):
            return False
        return check_answer(*stated, boxes[-1])


# ----------------------------------------------------------------------------- auditing written steps


@dataclass(frozen=True)
class StepAudit:
    """What `audit_steps` found in one attempt's chunks."""

    n_steps: int
    """Steps written: combination steps plus the boxed step, if any."""
    n_legal: int
    """Steps legal in the pool they were written in (a step after an illegal one is not legal;
    the boxed step is legal when one item is left and it boxes an expression equal to that
    item's value over exactly the pool's numbers)."""
    n_arithmetic: int
    """Combination steps of the shape `A op B = V` (integers)."""
    n_arithmetic_correct: int
    """Of them, those whose stated V is the exact value of `A op B` (legal or not)."""
    boxed: bool
    """A boxed step was written."""

    @property
    def all_legal(self) -> bool:
        return self.boxed and self.n_legal == self.n_steps


def audit_steps(problem: Problem, chunks: Sequence[str]) -> StepAudit:
    """Legality and arithmetic of the steps in `chunks` (one attempt), up to the first boxed step.

    Chunks that are neither a combination step nor a boxed step (prose, comparisons) are
    skipped. Never raises on model text.
    """
    pool: Pool | None = initial_pool(problem)
    n_steps = n_legal = n_arith = n_correct = 0
    for chunk in chunks:
        text = chunk.strip()
        if text.startswith("\\boxed{"):
            n_steps += 1
            boxes = extract_boxed(text)
            if pool is not None and len(pool) == 1 and len(boxes) == 1:
                parsed = parse_expression(boxes[0])
                pool_literals = parse_expression(pool[0][0])
                if parsed is not None and pool_literals is not None:
                    n_legal += parsed[0] == pool[0][1] and Counter(parsed[1]) == Counter(pool_literals[1])
            return StepAudit(n_steps, n_legal, n_arith, n_correct, True)
        match = _STEP_RE.match("".join(text.partition(LEFT_SEP.strip())[0].split()))
        if match is None:
            continue
        n_steps += 1
        n_arith += 1
        a, b = Fraction(int(match.group("a"))), Fraction(int(match.group("b")))
        op, stated = match.group("op"), Fraction(int(match.group("value")))
        true = None if op == "/" and b == 0 else {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[op]
        n_correct += true == stated
        pool = apply_step(pool, text) if pool else None
        n_legal += pool is not None
    return StepAudit(n_steps, n_legal, n_arith, n_correct, False)


# ----------------------------------------------------------------------------- the pre-training corpus
#
# The embedded base model learns the step grammar from walks of uniformly random *legal* steps
# (every step applies; the final combination is compared with the target in words; the last step
# boxes the expression) on generated problems. For a fraction `corpus_hindsight_ratio` of the walks
# the prompt's target is the walk's own result (a hindsight target), so the model learns that the
# target is something to aim at and compare with; the rest keep the problem's target, so it also
# sees misses. Held-out problems stay unseen by construction: a problem whose prompt key is
# excluded never enters the pool, and a hindsight walk whose prompt would be an excluded one is
# skipped (`walk_pairs`).

FIRST_BLOCK = 2000
"""Pairs in block 0 of `walk_corpus` (walk seed = the corpus seed)."""
BLOCK = 1000
"""Pairs in each later block k >= 1 (walk seed = seed * 7919 + k)."""
MAX_DRAWS_PER_PAIR = 100
"""Walks drawn per kept pair before a block gives up (nearly every prompt excluded)."""


def random_walk(numbers: Sequence[int], rng: random.Random) -> tuple[list[str], tuple]:
    """(combination steps, final pool) of uniformly random legal steps until one number is left.

    The boxed step is not included (it follows the comparison with the target).
    """
    pool, steps = initial_pool(list(numbers)), []
    while len(pool) > 1:
        step, pool = random_transition(pool, rng)
        steps.append(step)
    return steps, pool


def walk_completion(numbers: Sequence[int], target: int, rng: random.Random, compare: bool = True,
                    phrases: OutcomePhrases | None = None) -> str:
    """A completion of random legal steps, the comparison with `target` (when `compare`; `phrases`
    default: Countdown's own), and the boxed expression, chunks joined by a blank line."""
    return attempts_completion([random_walk(numbers, rng)], target, compare, phrases)


def attempts_completion(attempts: Sequence[tuple[list[str], tuple]], target: int, compare: bool = True,
                        phrases: OutcomePhrases | None = None) -> str:
    """Attempts (`random_walk` results) written one after another, each with its comparison with `target`
    (when `compare`: a single attempt only without it); the completion boxes the first attempt that
    reaches `target`, or the last one."""
    if phrases is None:
        phrases = _outcome_phrases()
    chunks: list[str] = []
    for k, (steps, pool) in enumerate(attempts):
        chunks += steps
        if compare:
            chunks.append(phrases.sentence(format_value(pool[0][1]), str(target)))
        if pool[0][1] == target or k == len(attempts) - 1:
            chunks.append(boxed_step(pool[0][0]))
            break
    return "\n\n".join(chunks)


def random_legal_completion(problem: Problem, rng: random.Random, compare: bool = True) -> str:
    """A completion of random legal steps to the boxed end for `problem` (see `walk_completion`)."""
    numbers, target = problem_numbers(problem)
    return walk_completion(numbers, target, rng, compare=compare)


def _prompt_problem(source: Problem, numbers: Sequence[int], target: int) -> Problem:
    """`source` itself when the target is its own, else a problem with the same numbers and `target`."""
    if target == problem_numbers(source)[1]:
        return source
    return Problem(
        id=f"{source.id}/hindsight-{target}",
        problem=problem_text(numbers, target),
        answer=str(target),
        source="countdown hindsight target",
        task=source.task,
        metadata={"numbers": list(numbers), "target": target},
    )


def walk_pairs(
    problems: Sequence[Problem],
    n_pairs: int,
    seed: int,
    hindsight_ratio: float = 0.0,
    compare: bool = True,
    target_range: tuple[int, int] | None = None,
    phrases: OutcomePhrases | None = None,
    exclude_keys: AbstractSet[str] = frozenset(),
    max_attempts: int = 1,
) -> list[tuple[Problem, str]]:
    """`n_pairs` (problem, completion) pairs: a random problem of `problems` and a random legal walk.

    With probability `hindsight_ratio` the prompt's target is replaced by the walk's own result
    (kept only when inside `target_range`, inclusive, if given), so the walk solves its prompt. A
    pair whose prompt has a `prompt_key` in `exclude_keys` is skipped (the next draw replaces it);
    with nothing excluded, the pairs are those of `n_pairs` draws. With `max_attempts` above 1 a walk has
    1..max_attempts attempts (`attempts_completion`; a hindsight target is the last attempt's
    result). Raises ValueError when
    `MAX_DRAWS_PER_PAIR * n_pairs` draws do not give `n_pairs` pairs.
    """
    if not problems:
        raise ValueError("no problems to draw walks on (every corpus problem is excluded?); raise corpus_problems or widen the number range.")
    rng = random.Random(seed)
    out: list[tuple[Problem, str]] = []
    for _ in range(MAX_DRAWS_PER_PAIR * n_pairs):
        if len(out) == n_pairs:
            break
        source = problems[rng.randrange(len(problems))]
        numbers, target = problem_numbers(source)
        if max_attempts > 1:
            attempts = [random_walk(numbers, rng) for _ in range(rng.randint(1, max_attempts))]
            hindsight = rng.random() < hindsight_ratio
        else:  # the coin before the walk: the recorded corpus's stream
            hindsight = rng.random() < hindsight_ratio
            attempts = [random_walk(numbers, rng)]
        if hindsight:
            value = int(attempts[-1][1][0][1])
            if target_range is None or target_range[0] <= value <= target_range[1]:
                target = value
        problem = _prompt_problem(source, numbers, target)
        if exclude_keys and prompt_key(problem) in exclude_keys:
            continue
        out.append((problem, attempts_completion(attempts, target, compare, phrases)))
    if len(out) < n_pairs:
        raise ValueError(f"{len(out)} of {n_pairs} walks kept after {MAX_DRAWS_PER_PAIR * n_pairs} draws: "
                         "nearly every prompt is excluded; exclude fewer problems or widen the problem space.")
    return out


@functools.lru_cache(maxsize=4)
def _corpus_pool(config: CountdownConfig, seed: int, exclude_keys: frozenset[str]) -> tuple[Problem, ...]:
    """The problems walks are drawn on (cached: a corpus is often asked for in growing prefixes)."""
    return tuple(p for p in generate_problems(config.corpus_problems, seed, config) if prompt_key(p) not in exclude_keys)


def walk_corpus(config: CountdownConfig, n: int, seed: int, exclude_keys: AbstractSet[str] = frozenset(),
                phrases: OutcomePhrases | None = None) -> list[tuple[Problem, str]]:
    """The first `n` pairs of the corpus of `seed` (`CountdownTask.pretrain_corpus`).

    Walks are drawn on `generate_problems(config.corpus_problems, seed, config)` minus the problems
    whose prompt key is in `exclude_keys`, in blocks: block 0 holds `FIRST_BLOCK` pairs drawn with
    seed `seed`, block k >= 1 holds `BLOCK` pairs drawn with seed `seed * 7919 + k`; each block is
    independent of `n`, so a shorter corpus is a prefix of a longer one.
    """
    if config.n_numbers < 2:
        raise ValueError(f"n_numbers={config.n_numbers}: a pre-training walk needs >= 2 numbers to combine.")
    if n < 0:
        raise ValueError(f"n={n}: use >= 0.")
    pool = _corpus_pool(config, seed, frozenset(exclude_keys))
    target_range = (config.min_target, config.max_target)
    out: list[tuple[Problem, str]] = []
    block = 0
    while len(out) < n:
        size = FIRST_BLOCK if block == 0 else BLOCK
        block_seed = seed if block == 0 else seed * 7919 + block
        out += walk_pairs(pool, min(size, n - len(out)), block_seed, config.corpus_hindsight_ratio,
                          config.corpus_compare, target_range, phrases, exclude_keys, config.corpus_max_attempts)
        block += 1
    return out[:n]


# ----------------------------------------------------------------------------- competence probes
#
# `CountdownProbes` is what `CountdownTask.competence_probes()` returns (`astro_env.task.CompetenceProbes`):
# `legal_step_rate` (legal steps / steps written; a step after an illegal one is not legal; the
# first attempt of each completion), `legal_completion_rate` (first attempts legal through the box),
# `arithmetic_accuracy` (combination steps whose stated value is the true value of `A op B`),
# `target_copy_rate` (comparison sentences that are true: the value written, the target copied, the
# verdict consistent with both); the verification probe (a solution's steps up to its final
# combination, then one that reaches the target or one from the same pool that misses it); and
# random legal play (one uniformly random legal walk with its comparison) for the reference rows.

def audit_completion(problem: Problem, text: str, phrases: OutcomePhrases, delimiter: str = "\n\n") -> dict[str, int]:
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


def competence_rates(problems: Sequence[Problem], texts: Sequence[str], phrases: OutcomePhrases) -> dict[str, float]:
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


def verification_prefixes(task: CountdownTask, problems: Sequence[Problem], rng: random.Random,
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

    def __init__(self, task: CountdownTask) -> None:
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
