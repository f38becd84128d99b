r"""Final answers of math completions: extraction, equivalence and the 0/1 reward.

Public API (other code and outside checks call exactly these):

- `extract_answer(text) -> str | None`: the last top-level `\boxed{...}` / `\fbox{...}` (or `\boxed X`)
  with balanced braces; a truncated last box gives None; without any box, the last
  "The answer is X" / "final answer is X" / "Final Answer: X". ("That gives X." is not an answer.)
- `is_equivalent(gold, pred, timeout_s=None) -> bool`: mathematical equivalence of two final answers.
- `reward(completion, gold) -> float`: 1.0 when the completion's final answer is equivalent to gold.

Safety: model text is never evaluated as Python. The in-process part is string work and exact
`Fraction` arithmetic; the symbolic part converts LaTeX with latex2sympy2_extended's ANTLR grammar
(no `sympify`/`parse_expr`/`eval` of text) inside a worker process with a memory cap that is killed
at the deadline. Answers are screened for length, nesting, power towers and big exponents /
factorials before any parsing. Errors never escape: anything unparsable is simply not equivalent.

Speed: identical normalised strings, plain numbers, numerals in a base and text answers are
decided in-process; verdicts are cached (LRU); only the symbolic remainder costs a round trip to
the persistent worker pool.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from astro_env import _verifier_text as T
from astro_env._verifier_eval import numeric_verdict
from astro_env._verifier_pool import WorkerPool

__all__ = ["VerifierConfig", "Verifier", "default_verifier", "extract_answer", "final_answer", "is_equivalent", "reward"]

MAX_RAW_CHARS = 4 * T.MAX_ANSWER_CHARS
"""Raw answers longer than this are not equivalent to anything (checked before any work)."""


@dataclass(frozen=True)
class VerifierConfig:
    """How the verifier bounds and parallelises its symbolic checks."""

    timeout_s: float = 1.0
    """Deadline for the symbolic part of one `is_equivalent` call; the worker is killed when it passes."""
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

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s={self.timeout_s} leaves no time for symbolic checks; use e.g. 1.0.")
        if self.n_workers < 1:
            raise ValueError(f"n_workers={self.n_workers}: the symbolic check needs at least 1 worker.")
        if self.memory_mb < 256:
            raise ValueError(f"memory_mb={self.memory_mb} is too small for sympy; use >= 256 (default 2048).")
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

    def extract_answer(self, text: str) -> str | None:
        """Return the last boxed answer (None if that box is truncated), else the last stated answer."""
        if not isinstance(text, str):
            return None
        try:
            boxes = T.find_boxes(text)
            if boxes.truncated:
                return None
            if boxes.contents:
                return boxes.contents[-1].strip()
            return T.find_stated_answer(text)
        except Exception:  # noqa: BLE001 - the contract is "never raises"
            return None

    def final_answer(self, text: str) -> str | None:
        """Return the answer `reward` grades: like `extract_answer`, but None when the completion is
        truncated inside a box or holds boxed answers that are not all equivalent to the last one."""
        if not isinstance(text, str):
            return None
        try:
            boxes = T.find_boxes(text)
            if boxes.truncated:
                return None
            if not boxes.contents:
                return T.find_stated_answer(text)
            last = boxes.contents[-1].strip()
            distinct: dict[str, str] = {}
            for content in boxes.contents[:-1]:
                distinct.setdefault(T.compact(T.normalize(content)), content)
                if len(distinct) >= self.config.max_boxes:
                    return None
            last_key = T.compact(T.normalize(last))
            for key, content in distinct.items():
                if key != last_key and not self.is_equivalent(last, content):
                    return None
            return last
        except Exception:  # noqa: BLE001
            return None

    # -- equivalence -----------------------------------------------------------------------------

    def is_equivalent(self, gold: str, pred: str, timeout_s: float | None = None) -> bool:
        """Return whether `pred` is the same final answer as `gold`. Never raises, never evaluates
        text as Python, and returns False once `timeout_s` (default `config.timeout_s`) passes.

        >>> is_equivalent(r"\\frac{1}{2}", "0.5")
        True
        """
        if not isinstance(gold, str) or not isinstance(pred, str):
            return False
        if len(gold) > MAX_RAW_CHARS or len(pred) > MAX_RAW_CHARS:
            return False
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
        if self.config.cache_size:
            with self._lock:
                self._cache[key] = verdict
                while len(self._cache) > self.config.cache_size:
                    self._cache.popitem(last=False)
        return verdict

    def _decide(self, gold: str, pred: str, timeout_s: float) -> bool:
        g, p = T.normalize(gold), T.normalize(pred)
        if not g or not p:
            return False
        if T.compact(g) == T.compact(p):
            return True
        hedges_g, hedges_p = T.hedge_markers(g), T.hedge_markers(p)
        if hedges_p - hedges_g or "or" in hedges_p:
            return False  # hedging ("2 \lor 3", "\pm") where the gold answer does not
        if not (T.screen(g) and T.screen(p)):
            return False
        g_node, p_node = T.parse_structure(g), T.parse_structure(p)
        if len(g_node.items) > T.MAX_ITEMS or len(p_node.items) > T.MAX_ITEMS:
            return False
        pending: dict[tuple[str, str], None] = {}

        def optimistic(a: str, b: str) -> bool:
            verdict = _fast_scalar(a, b)
            if verdict is None:
                pending[(a, b)] = None
                return True
            return verdict

        if not _match(g_node, p_node, optimistic):
            return False
        if not pending:
            return True
        pairs = list(pending)
        verdicts = self.pool.compare_pairs(pairs, timeout_s)
        if verdicts is None:
            return False  # deadline passed or the worker died: not shown equivalent
        known = dict(zip(pairs, verdicts))

        def decided(a: str, b: str) -> bool:
            verdict = _fast_scalar(a, b)
            return known.get((a, b), False) if verdict is None else verdict

        return _match(g_node, p_node, decided)

    # -- reward ----------------------------------------------------------------------------------

    def reward(self, completion: str, gold: str) -> float:
        """Return 1.0 when the completion's final answer (see `final_answer`) is equivalent to `gold`, else 0.0."""
        answer = self.final_answer(completion)
        return 1.0 if answer is not None and self.is_equivalent(gold, answer) else 0.0

    def close(self) -> None:
        """Stop the worker processes (they restart on the next symbolic check)."""
        self.pool.close()
        self.pool = WorkerPool(self.config.n_workers, self.config.memory_mb, self.config.start_timeout_s)


def _numbers_equal(a: tuple[Fraction, bool], b: tuple[Fraction, bool]) -> bool:
    values_a = {a[0]} | ({a[0] / 100} if a[1] else set())
    values_b = {b[0]} | ({b[0] / 100} if b[1] else set())
    return bool(values_a & values_b)


def _fast_scalar(a: str, b: str) -> bool | None:
    """Decide a scalar pair in-process when possible: True/False, or None for the symbolic check."""
    ka, kb = T.compact(a), T.compact(b)
    if ka == kb:
        return True
    na, nb = T.plain_number(a), T.plain_number(b)
    if na is not None and nb is not None:
        return _numbers_equal(na, nb)
    base_a, base_b = T.base_number(a), T.base_number(b)
    if base_a is not None or base_b is not None:
        if base_a is not None and base_b is not None:
            return base_a == base_b
        digits, other = (base_a[0], kb) if base_a is not None else (base_b[0], ka)
        return other.upper() == digits
    if T.is_words(a) or T.is_words(b):
        return ka.lower() == kb.lower()
    if len(ka) == 1 and len(kb) == 1 and ka.isalpha() and kb.isalpha():
        return ka.lower() == kb.lower()
    return numeric_verdict(a, b)


def _match(g: T.Node, p: T.Node, scalar: Callable[[str, str], bool]) -> bool:
    """Whether two answer shapes match, comparing scalars with `scalar`."""
    if g.kind == "scalar" or p.kind == "scalar":
        return g.kind == p.kind and scalar(g.value, p.value)
    if len(g.items) != len(p.items):
        return False
    if g.kind == "union" or p.kind == "union":
        return g.kind == p.kind and _perfect_matching(g.items, p.items, scalar)
    if g.kind == "seq" and p.kind == "seq":
        if (g.open, g.close) != (p.open, p.close):
            return False  # (3,4] is not (3,4)
        return all(_match(x, y, scalar) for x, y in zip(g.items, p.items))
    if g.kind == "matrix" and p.kind == "matrix" and g.rows != p.rows:
        return False
    if g.kind == "set" and p.kind in ("set", "seq"):
        return _perfect_matching(g.items, p.items, scalar)
    if g.kind in ("seq", "matrix") and p.kind in ("seq", "matrix", "set"):
        if g.kind == "seq" and g.open + g.close != "()" or p.kind == "seq" and p.open + p.close != "()":
            return False
        return all(_match(x, y, scalar) for x, y in zip(g.items, p.items))
    return False


def _perfect_matching(gs: tuple[T.Node, ...], ps: tuple[T.Node, ...], scalar: Callable[[str, str], bool]) -> bool:
    """Whether the items can be paired one-to-one with matching shapes (augmenting paths, n <= 16)."""
    ok = [[_match(x, y, scalar) for y in ps] for x in gs]
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


def extract_answer(text: str) -> str | None:
    """Return the final answer stated in `text` (see `Verifier.extract_answer`), or None."""
    return default_verifier().extract_answer(text)


def final_answer(text: str) -> str | None:
    """Return the answer `reward` grades (None for truncated or conflicting boxes); see `Verifier.final_answer`."""
    return default_verifier().final_answer(text)


def is_equivalent(gold: str, pred: str, timeout_s: float | None = None) -> bool:
    r"""Return whether two final answers are mathematically the same. Never raises, never evaluates
    text as Python, and returns False once `timeout_s` (default 1.0 s) passes.

    >>> is_equivalent(r"\frac{1}{2}", "0.5")
    True
    """
    return default_verifier().is_equivalent(gold, pred, timeout_s)


def reward(completion: str, gold: str) -> float:
    """Return 1.0 when the completion's final answer is equivalent to `gold`, else 0.0. Never raises."""
    try:
        return default_verifier().reward(completion, gold)
    except Exception:  # noqa: BLE001
        return 0.0
