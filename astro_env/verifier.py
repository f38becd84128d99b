r"""Final answers of math completions: extraction, equivalence and the 0/1 reward.

Public API (other code and outside checks call exactly these):

- `extract_answer(text, extraction=None) -> str | None`: the last top-level `\boxed{...}` /
  `\fbox{...}` (or `\boxed X`) with balanced braces; a truncated or junk last box gives None; a later
  final statement with a value ("Final Answer: 10,455") replaces the boxes; without any box, per policy
  (`boxed` / `standard` / `lenient`, see `_verifier_extract`): the answer after the last cue ("The answer
  is X", "Final Answer: X", "Answer $X$", "答案是 X", ...; a sentence after a cue gives its one value), a
  bold final value, then the last expression. ("That gives X." is not an answer.) Text after a
  chat-template marker is ignored.
- `is_equivalent(gold, pred, timeout_s=None) -> bool`: mathematical equivalence of two final answers
  (numbers in any spelling, relations and intervals, sets and lists, labelled values and equations,
  matrices, text and choice letters); a gold written as a solution gives its boxed or stated answer.
- `reward(completion, gold, extraction=None) -> float`: 1.0 when the completion's final answer is
  equivalent to gold; several different boxes are one set answer only for a gold set of that size.

docs/verifier.md lists the rules, the choices where graders disagree (`VerifierConfig.list_order`,
`decimal_comma`, `bare_percent`), the limits and the measurements.

Safety: model text is never evaluated as Python. The in-process part is string work and exact
`Fraction` arithmetic; the symbolic part converts LaTeX with latex2sympy2_extended's ANTLR grammar
(no `sympify`/`parse_expr`/`eval` of text) inside a worker process with a memory cap that ends
itself when a call has used its CPU-time budget. CPU time, not wall time, decides, so a verdict is
the same under any load; a wall-clock limit remains only as the last guard, and it spares a worker
that load has starved of CPU (see `_verifier_pool`, which also keeps workers from outliving their user).
Answers are screened for length (`MAX_RAW_CHARS`), nesting, power towers, powers of more than
100,000 digits and big factorials / binomials before any parsing. Errors never escape: anything
unparsable is simply not equivalent.

Speed: identical normalised strings, integers of any length, plain numbers, numerals in a base, choice
letters and text answers are decided in-process; verdicts are cached (LRU); only the symbolic remainder
costs a round trip to the persistent worker pool.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Literal

from astro_env import _verifier_text as T
from astro_env._verifier_eval import numeric_verdict
from astro_env._verifier_extract import (
    EXTRACTIONS,
    NONE,
    Extracted,
    Extraction,
    choice_letter,
    extract,
    extract_choice,
    stated_answer,
)
from astro_env._verifier_pool import WorkerPool

__all__ = [
    "EXTRACTIONS",
    "Verifier",
    "VerifierConfig",
    "default_verifier",
    "extract_answer",
    "final_answer",
    "is_equivalent",
    "reward",
]

MAX_RAW_CHARS = 20_000
"""Answers longer than this are refused as unparseable: not equivalent to anything, themselves included (checked
before any work). Below it, answers are compared by normalised spelling, integers of any length by their digits,
and only answers of at most `MAX_ANSWER_CHARS` (400) characters are parsed as mathematics."""


@dataclass(frozen=True)
class VerifierConfig:
    """How the verifier reads final answers and bounds and parallelises its symbolic checks."""

    extraction: Extraction = "standard"
    """Where the final answer is: `boxed` (only a box), `standard` (a box, else an answer phrase or
    cue such as "The answer is", "Answer:", "答案"), `lenient` (then the last mathematical expression
    of the last paragraph). The hack rules (junk box, hedges, conflicting boxes) hold in every policy."""
    timeout_s: float = 0.5
    """CPU-time budget (seconds of the worker's own CPU time, not wall time) of the symbolic part of
    one `is_equivalent` call; a worker that spends it ends and the pair is not equivalent. Load-independent.
    With 0.5 s every verdict on the labelled sets and MATH-500 pairs is the one a 4 s budget gives (see
    docs/verifier.md), and no call costs much more than this budget of CPU."""
    wall_slack_s: float = 1.5
    """The last guard: a worker that has not answered `timeout_s + wall_slack_s` wall-clock seconds
    after a request is killed (the pair is not equivalent) once its CPU time stops growing for 2 s, i.e.
    it is stuck; one that load starves of CPU is waited for, so every check within the CPU budget gets the
    same verdict on a loaded machine."""
    decimal_rel_tol: float = 1e-3
    """A decimal with at least 3 significant digits equals a non-integer fraction when they differ
    by at most this relative amount (`0.4286` vs `3/7`); 0 demands exact equality. Rounded decimals
    with fewer digits (`0.33` vs `1/3`) never match."""
    n_workers: int = 1
    """Persistent worker processes for symbolic checks (each ~100 MB resident)."""
    memory_mb: int = 2048
    """Address-space cap of each worker (RLIMIT_AS), in MiB; raised to 256 MiB above its start-up size if lower."""
    cache_size: int = 65536
    """Verdicts kept in the LRU cache (0 disables caching)."""
    max_boxes: int = 8
    """A completion with more distinct boxed answers than this earns 0 (answer spraying)."""
    start_timeout_s: float = 60.0
    """How long a call may wait for a worker to start or become free (not part of `timeout_s`)."""
    list_order: Literal["any", "exact"] = "any"
    """Lists written without brackets (`1, -2`, `4 \\text{ and } 9`): `any` compares them as sets (solution lists,
    as MATH and Math-Verify grade them); `exact` demands the same order (Hendrycks' MATH grader). Tuples and
    intervals are ordered either way."""
    decimal_comma: bool = True
    """A number with one comma and not a thousands grouping (`1,22`, `1000,99`, `0,111`) equals the decimal with a
    point (`1.22`) when compared with a plain number; `12,345` stays twelve thousand. False: commas never mean a
    decimal point."""
    bare_percent: bool = True
    """A number with a percent sign also equals the bare number (`25\\%` = `25`, as well as `0.25`): models drop the
    sign and golds of "what percent" problems omit it. False: `25\\%` equals only `0.25` and `1/4`."""

    def __post_init__(self) -> None:
        if self.extraction not in EXTRACTIONS:
            raise ValueError(f"extraction={self.extraction!r} is not a policy; use one of {', '.join(EXTRACTIONS)}.")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s={self.timeout_s} leaves no time for symbolic checks; use e.g. 1.0.")
        if not self.wall_slack_s > 0:
            raise ValueError(f"wall_slack_s={self.wall_slack_s} leaves the worker no time to answer; use e.g. 1.5.")
        if not 0 <= self.decimal_rel_tol < 0.1:
            raise ValueError(f"decimal_rel_tol={self.decimal_rel_tol}: use a value in [0, 0.1), e.g. 1e-3.")
        if self.n_workers < 1:
            raise ValueError(f"n_workers={self.n_workers}: the symbolic check needs at least 1 worker.")
        if self.memory_mb < 256:
            raise ValueError(f"memory_mb={self.memory_mb} is too small for sympy; use >= 256 (default 2048).")
        if self.list_order not in ("any", "exact"):
            raise ValueError(f"list_order={self.list_order!r}: use 'any' (lists are sets) or 'exact' (ordered).")
        if self.cache_size < 0 or self.max_boxes < 1:
            raise ValueError("cache_size must be >= 0 and max_boxes >= 1.")


class Verifier:
    """The verifier behind the module-level functions; one per config. Thread-safe."""

    def __init__(self, config: VerifierConfig | None = None) -> None:
        self.config = config or VerifierConfig()
        self.pool = WorkerPool(self.config.n_workers, self.config.memory_mb, self.config.start_timeout_s)
        self._cache: OrderedDict[tuple[str, str, float], bool] = OrderedDict()
        self._lock = threading.Lock()

    # -- extraction ------------------------------------------------------------------------------

    def extract(self, text: str, extraction: str | None = None) -> Extracted:
        """Return the answer candidates of `text` under `extraction` (default `config.extraction`);
        see `_verifier_extract`. Never raises on a string; an unknown policy raises ValueError."""
        policy = self.config.extraction if extraction is None else extraction
        if not isinstance(text, str):
            return NONE
        if policy not in EXTRACTIONS:
            raise ValueError(f"extraction={policy!r} is not a policy; use one of {', '.join(EXTRACTIONS)}.")
        try:
            return extract(text, policy, self.config.max_boxes)
        except Exception:  # noqa: BLE001 - the contract is "never raises"
            return NONE

    def extract_answer(self, text: str, extraction: str | None = None) -> str | None:
        """Return the last boxed answer (None if that box is truncated or junk), else (per policy)
        the answer after the last cue, else the last expression; None when there is none."""
        return self.extract(text, extraction).answer

    def final_answer(self, text: str, extraction: str | None = None) -> str | None:
        """Return the answer `reward` grades against a single-answer gold: like `extract_answer`, but
        None when the completion holds boxed answers that are not all equivalent to the last one."""
        found = self.extract(text, extraction)
        if not found.answers:
            return None
        last = found.answers[-1]
        if all(self.is_equivalent(last, other) for other in found.answers[:-1]):
            return last
        return None

    # -- equivalence -----------------------------------------------------------------------------

    def is_equivalent(self, gold: str, pred: str, timeout_s: float | None = None) -> bool:
        """Return whether `pred` is the same final answer as `gold`. Never raises, never evaluates
        text as Python; the symbolic part gets `timeout_s` seconds of worker CPU time (default
        `config.timeout_s`) and is not equivalent once it spends them, however busy the machine is.

        >>> is_equivalent(r"\\frac{1}{2}", "0.5")
        True
        """
        if not isinstance(gold, str) or not isinstance(pred, str):
            return False
        if len(gold) > MAX_RAW_CHARS or len(pred) > MAX_RAW_CHARS:
            return False
        gold = self.gold_answer(gold)
        self.pool.start()  # workers warm up in the background while in-process verdicts are served
        timeout = self.config.timeout_s if timeout_s is None else float(timeout_s)
        key = (gold, pred, timeout)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            verdict = self._decide(gold, pred, timeout)
        except Exception:  # noqa: BLE001 - the contract is "never raises"
            verdict = False
        if self.config.cache_size and len(gold) + len(pred) <= _CACHED_CHARS:
            with self._lock:
                self._cache[key] = verdict
                while len(self._cache) > self.config.cache_size:
                    self._cache.popitem(last=False)
        return verdict

    def gold_answer(self, gold: str) -> str:
        """Return the final answer a gold states: the gold itself, or, for a gold written as a solution, its boxed
        answer (several different boxes: their set) or the answer after its last cue ("The final answer is ...")."""
        if not isinstance(gold, str) or len(gold) > MAX_RAW_CHARS:
            return gold
        if "\\boxed" in gold or "\\fbox" in gold:
            boxes = T.find_boxes(gold)
            if boxes.contents and not boxes.truncated:
                distinct: dict[str, str] = {}
                for content in boxes.contents:
                    if content.strip():
                        distinct.setdefault(T.compact(T.normalize(content)), content.strip())
                values = list(distinct.values())
                if len(values) == 1:
                    return values[0]
                if 1 < len(values) <= T.MAX_ITEMS:
                    return "\\{" + ", ".join(T.normalize(v) for v in values) + "\\}"
        elif len(gold) > 40 and ("nswer" in gold or "答" in gold or "ponse" in gold):
            stated, _ = stated_answer(gold)
            if stated is not None:
                return stated
        return gold

    def _decide(self, gold: str, pred: str, timeout_s: float) -> bool:
        letter_g, letter_p = _exact_choice(gold), _exact_choice(pred)
        if letter_g or letter_p:
            other = choice_letter(pred) if letter_g else choice_letter(gold)
            if other is not None:
                return other == (letter_g or letter_p)  # "(D) Alina" names D; "C. x = 42" answers C
        g_full, p_full = T.normalize(gold, keep_label=True), T.normalize(pred, keep_label=True)
        if not g_full or not p_full:
            return False
        g, p = T.value_of(g_full), T.value_of(p_full)
        if T.compact(g) == T.compact(p):
            return True
        int_g, int_p = T.canonical_integer(g), T.canonical_integer(p)
        if int_g is not None and int_p is not None:
            return int_g == int_p  # integers of any length, digit by digit (no int() of thousands of digits)
        if self.config.decimal_comma and _decimal_comma_equal(g, p):
            return True
        hedges_g, hedges_p = T.hedge_markers(g), T.hedge_markers(p)
        if "or" in hedges_g and T.relation_intervals(g) is None:
            g = T.or_as_list(g)  # "-5 or 2": the gold is a list
        must_list = False
        if "or" in hedges_p and T.relation_intervals(p) is None:
            p, must_list = T.or_as_list(p), True  # a list only where the gold is one, else a hedge
        if "pm" in hedges_p - hedges_g:
            must_list = True  # "1 \\pm \\sqrt 5" names two answers: fine for a two-element gold set only
        if not (T.screen(g) and T.screen(p)):
            return False
        g_node, p_node = T.parse_structure(g), T.parse_structure(p)
        if len(g_node.items) > T.MAX_ITEMS or len(p_node.items) > T.MAX_ITEMS:
            return False
        if must_list and not (g_node.kind == "set" and p_node.kind == "set" and len(g_node.items) == len(p_node.items)):
            return False
        tol, percent, ordered = self.config.decimal_rel_tol, self.config.bare_percent, self.config.list_order == "exact"
        pending: dict[tuple[str, str], None] = {}

        def optimistic(a: str, b: str) -> bool:
            verdict = _fast_scalar(a, b, tol, percent)
            if verdict is None:
                pending[(a, b)] = None
                return True
            return verdict

        equations = _equation_pair(g_full, p_full, g, p)
        if (g_node.kind == "matrix") != (p_node.kind == "matrix") and "\\begin{" in g and "\\begin{" in p:
            equations = (g, p)  # a matrix against a sum or product of matrices: the symbolic check evaluates it
        if not _match(g_node, p_node, optimistic, ordered) and equations is None:
            return False
        if equations is not None:
            pending[equations] = None
        if not pending:
            return True
        pairs = list(pending)
        verdicts = self.pool.compare_pairs(pairs, timeout_s, timeout_s + self.config.wall_slack_s)
        if verdicts is None:
            return False  # CPU budget spent, the worker died, or the last guard passed: not shown equivalent
        known = dict(zip(pairs, verdicts))

        def decided(a: str, b: str) -> bool:
            verdict = _fast_scalar(a, b, tol, percent)
            return known.get((a, b), False) if verdict is None else verdict

        return _match(g_node, p_node, decided, ordered) or (equations is not None and known.get(equations, False))

    # -- reward ----------------------------------------------------------------------------------

    def reward(self, completion: str, gold: str, extraction: str | None = None) -> float:
        """Return 1.0 when the completion's final answer is equivalent to `gold`, else 0.0.

        Several boxes that are not all the same answer count as one set answer only when the gold is
        itself a set or list with exactly that many elements (`\\boxed{2}`, `\\boxed{-5}` vs `\\{-5, 2\\}`);
        otherwise they are conflicting answers and earn 0. Never raises on strings."""
        if not isinstance(gold, str):
            return 0.0
        gold = self.gold_answer(gold)
        letter = _exact_choice(gold)
        if letter is not None and isinstance(completion, str):
            policy = self.config.extraction if extraction is None else extraction
            if policy not in EXTRACTIONS:
                raise ValueError(f"extraction={policy!r} is not a policy; use one of {', '.join(EXTRACTIONS)}.")
            try:
                chosen = extract_choice(completion, policy, self.config.max_boxes)
            except Exception:  # noqa: BLE001 - the contract is "never raises"
                chosen = None
            if chosen is not None:
                return 1.0 if chosen == letter else 0.0
        found = self.extract(completion, extraction)
        if not found.answers:
            return 0.0
        last = found.answers[-1]
        if len(found.answers) == 1 or all(self.is_equivalent(last, other) for other in found.answers[:-1]):
            return 1.0 if self.is_equivalent(gold, last) else 0.0
        if _n_gold_items(gold) != len(found.answers):
            return 0.0
        joined = "\\{" + ", ".join(T.normalize(a) for a in found.answers) + "\\}"
        return 1.0 if self.is_equivalent(gold, joined) else 0.0

    def clear_caches(self) -> None:
        """Forget cached verdicts and normalisations (benchmarks measure cold calls)."""
        with self._lock:
            self._cache.clear()
        T.clear_caches()

    def close(self) -> None:
        """Stop the worker processes (they restart on the next symbolic check)."""
        self.pool.close()
        self.pool = WorkerPool(self.config.n_workers, self.config.memory_mb, self.config.start_timeout_s)


_CACHED_CHARS = 4096
"""Verdicts of pairs longer than this (together) are not cached, so the cache stays small."""


def _n_gold_items(gold: str) -> int:
    """Return how many answers a gold set or list holds (0 for a single answer or a tuple)."""
    g = T.value_of(T.normalize(gold, keep_label=True))
    if "or" in T.hedge_markers(g) and T.relation_intervals(g) is None:
        g = T.or_as_list(g)
    node = T.parse_structure(g)
    return len(node.items) if node.kind == "set" else 0


def _equation_pair(g_full: str, p_full: str, g: str, p: str) -> tuple[str, str] | None:
    """The (gold, pred) equations to compare as equations when a label was dropped from either side
    (`y = 2x + 3` vs `2x - y + 3 = 0`), else None."""
    if (g_full, p_full) == (g, p):
        return None
    g_sides, p_sides = T.split_top_equals(g_full), T.split_top_equals(p_full)
    if len(g_sides) == 2 and len(p_sides) == 2:
        if T.compact(g_sides[0]) == T.compact(p_sides[0]) and (g, p) == (g_sides[1], p_sides[1]):
            return None  # the same label on both sides: comparing the values is comparing the equations
        return (g_full, p_full)
    return None


def _exact_choice(answer: str) -> str | None:
    """The choice letter an answer is exactly (`C`, `(C)`, `\\text{(C)}`), else None."""
    if not isinstance(answer, str) or len(answer) > 64 or not re.search(r"[A-E]", answer):
        return None
    m = re.fullmatch(r"\(?([A-E])\)?", T.normalize(answer))
    return m.group(1) if m else None


_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d{2,}")
_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+")


def _decimal_comma_equal(a: str, b: str) -> bool:
    """Whether one side is a decimal written with a comma (`1,22`, `0,111`; not a thousands grouping such as
    `12,345`) and the other the same plain number written with a point or as a fraction."""
    ka, kb = T.compact(a), T.compact(b)
    for x, y in ((ka, kb), (kb, ka)):
        if _DECIMAL_COMMA.fullmatch(x) and not _THOUSANDS.fullmatch(x) and "," not in y:
            value, other = T.plain_number(x.replace(",", ".")), T.plain_number(y)
            if value is not None and other is not None and value[0] == other[0] and not other[1]:
                return True
    return False


def _numbers_equal(a: tuple[Fraction, bool], b: tuple[Fraction, bool], bare_percent: bool = True) -> bool:
    """Whether two plain numbers are equal; a percent `p%` is p/100, and also p itself when `bare_percent`."""
    values_a = ({a[0] / 100} | ({a[0]} if bare_percent else set())) if a[1] else {a[0]}
    values_b = ({b[0] / 100} | ({b[0]} if bare_percent else set())) if b[1] else {b[0]}
    return bool(values_a & values_b)


def _decimal_matches_fraction(a: str, b: str, va: Fraction, vb: Fraction, rel_tol: float) -> bool:
    """Whether one side is a decimal of >= 3 significant digits and the other a non-integer fraction
    (not a decimal) within `rel_tol` of it (relative to the fraction)."""
    for dec, frac, vd, vf in ((a, b, va, vb), (b, a, vb, va)):
        if "." in dec and "." not in frac and vf.denominator != 1 and vf != 0:
            digits = T.compact(dec).lstrip("+-").replace(".", "").lstrip("0").rstrip("%")
            if len(digits) >= 3 and abs(vd - vf) <= Fraction(rel_tol) * abs(vf):
                return True
    return False


def _fast_scalar(a: str, b: str, rel_tol: float = 0.0, bare_percent: bool = True) -> bool | None:
    """Decide a scalar pair in-process when possible: True/False, or None for the symbolic check."""
    ka, kb = T.compact(a), T.compact(b)
    if ka == kb:
        return True
    na, nb = T.plain_number(a), T.plain_number(b)
    if na is not None and nb is not None:
        if _numbers_equal(na, nb, bare_percent):
            return True
        return rel_tol > 0 and na[1] == nb[1] and _decimal_matches_fraction(a, b, na[0], nb[0], rel_tol)
    if (na is None and T.is_mixed_number(a)) or (nb is None and T.is_mixed_number(b)):
        return False  # "11 6/6", "4 4/0": written as a mixed number, but not one
    if (len(T.split_top_equals(a)) > 1) != (len(T.split_top_equals(b)) > 1):
        return False  # an equation is not a value (a dropped label was handled before)
    base_a, base_b = T.base_number(a), T.base_number(b)
    if base_a is not None or base_b is not None:
        if base_a is not None and base_b is not None:
            return base_a == base_b
        digits, other = (base_a[0], kb) if base_a is not None else (base_b[0], ka)
        return other.upper() == digits
    if T.is_words(a) or T.is_words(b):
        return ka.lower() == kb.lower()
    if len(ka) == 1 and len(kb) == 1 and ka.isalpha() and kb.isalpha():
        return False  # x is not X: variables and choice letters are case-sensitive ("(c)" is normalised to C)
    return numeric_verdict(a, b)


def _match(g: T.Node, p: T.Node, scalar: Callable[[str, str], bool], ordered: bool = False) -> bool:
    """Whether two answer shapes match, comparing scalars with `scalar`; `ordered`: lists written without brackets
    must be in the same order (see `VerifierConfig.list_order`)."""
    if g.kind == "scalar" or p.kind == "scalar":
        return g.kind == p.kind and scalar(g.value, p.value)
    if len(g.items) != len(p.items):
        return False
    if g.kind == "union" or p.kind == "union":
        return g.kind == p.kind and _perfect_matching(g.items, p.items, scalar)
    if ordered and g.kind == p.kind == "set" and not g.open and not p.open:
        return all(_match(x, y, scalar, ordered) for x, y in zip(g.items, p.items))
    if g.kind == "seq" and p.kind == "seq":
        if (g.open, g.close) != (p.open, p.close):
            return False  # (3,4] is not (3,4)
        return all(_match(x, y, scalar, ordered) for x, y in zip(g.items, p.items))
    if g.kind == "matrix" and p.kind == "matrix" and g.rows != p.rows:
        return False
    if g.kind == "set" and p.kind in ("set", "seq"):
        return _perfect_matching(g.items, p.items, scalar, ordered)
    if g.kind in ("seq", "matrix") and p.kind in ("seq", "matrix", "set"):
        if g.kind == "seq" and g.open + g.close != "()" or p.kind == "seq" and p.open + p.close != "()":
            return False
        return all(_match(x, y, scalar, ordered) for x, y in zip(g.items, p.items))
    return False


def _perfect_matching(
    gs: tuple[T.Node, ...], ps: tuple[T.Node, ...], scalar: Callable[[str, str], bool], ordered: bool = False
) -> bool:
    """Whether the items can be paired one-to-one with matching shapes (augmenting paths, n <= 16)."""
    ok = [[_match(x, y, scalar, ordered) for y in ps] for x in gs]
    owner: list[int | None] = [None] * len(ps)

    def augment(i: int, seen: list[bool]) -> bool:
        for j in range(len(ps)):
            if ok[i][j] and not seen[j]:
                seen[j] = True
                if owner[j] is None or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return all(augment(i, [False] * len(ps)) for i in range(len(gs)))


_default: Verifier | None = None
_default_lock = threading.Lock()


def default_verifier() -> Verifier:
    """Return the process-wide `Verifier` (default config) behind the module-level functions."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Verifier()
        return _default


def extract_answer(text: str, extraction: str | None = None) -> str | None:
    """Return the final answer stated in `text` (see `Verifier.extract_answer`), or None."""
    return default_verifier().extract_answer(text, extraction)


def final_answer(text: str, extraction: str | None = None) -> str | None:
    """Return the answer `reward` grades (None for truncated or conflicting boxes); see `Verifier.final_answer`."""
    return default_verifier().final_answer(text, extraction)


def is_equivalent(gold: str, pred: str, timeout_s: float | None = None) -> bool:
    r"""Return whether two final answers are mathematically the same. Never raises, never evaluates
    text as Python; the symbolic part gets `timeout_s` (default 0.5) seconds of worker CPU time, so
    the verdict does not depend on machine load.

    >>> is_equivalent(r"\frac{1}{2}", "0.5")
    True
    """
    return default_verifier().is_equivalent(gold, pred, timeout_s)


def reward(completion: str, gold: str, extraction: str | None = None) -> float:
    """Return 1.0 when the completion's final answer is equivalent to `gold`, else 0.0, reading the
    answer with `extraction` (default "standard"). Never raises."""
    try:
        return default_verifier().reward(completion, gold, extraction)
    except Exception:  # noqa: BLE001
        return 0.0
