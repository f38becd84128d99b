"""Final-answer extraction, equivalence and 0/1 reward for math completions (minimal first version)."""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["extract_answer", "is_equivalent", "reward"]

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_IS_RE = re.compile(r"(?:final answer is|the answer is|final answer:)\s*\$?([^\n$]+?)\$?\s*\.?\s*$", re.I | re.M)


def _last_box(text: str) -> str | None:
    found = None
    for m in _BOX_RE.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        found = text[m.end() : i - 1] if depth == 0 else None
    return found


def extract_answer(text: str) -> str | None:
    """Return the last boxed answer of `text`, else a "The answer is X" answer, else None."""
    if not isinstance(text, str):
        return None
    if _BOX_RE.search(text):
        return _last_box(text)
    matches = _ANSWER_IS_RE.findall(text)
    return matches[-1].strip() if matches else None


def _normalise(answer: str) -> str:
    s = answer.strip().strip("$").replace("\\left", "").replace("\\right", "")
    s = re.sub(r"\\[,;:! ]", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\s+", "", s)
    return s.rstrip(".")


def _number(s: str) -> Fraction | None:
    m = re.fullmatch(r"\\frac\{(-?\d+)\}\{(\d+)\}", s)
    try:
        if m:
            return Fraction(int(m.group(1)), int(m.group(2)))
        if re.fullmatch(r"-?\d+(?:\.\d+)?(?:/\d+)?", s.replace(",", "")):
            return Fraction(s.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None
    return None


def is_equivalent(gold: str, pred: str, timeout_s: float = 1.0) -> bool:
    """Return True when `pred` is the same final answer as `gold`. Never raises."""
    try:
        g, p = _normalise(gold), _normalise(pred)
        if g == p:
            return True
        a, b = _number(g), _number(p)
        return a is not None and a == b
    except Exception:
        return False


def reward(completion: str, gold: str) -> float:
    """Return 1.0 when the completion's extracted answer is equivalent to `gold`, else 0.0."""
    answer = extract_answer(completion)
    return 1.0 if answer is not None and is_equivalent(gold, answer) else 0.0
