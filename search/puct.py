"""PUCT selection, sibling priors and ASTRO's back-up rule: small pure functions.

MCTS (`search/mcts.py`) and the tests call these; nothing here does I/O or keeps state.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

PriorKind = Literal["logprob_softmax", "uniform"]


def puct_score(value: float, prior: float, parent_visits: int, visits: int, c_puct: float) -> float:
    """Q + c_puct * P * sqrt(N_parent) / (1 + N). Callers pass value=0.0 when visits == 0.

    >>> puct_score(0.5, 0.25, 16, 3, 1.0)
    0.75
    """
    return value + c_puct * prior * math.sqrt(parent_visits) / (1 + visits)


def sibling_priors(mean_logprobs: Sequence[float], kind: PriorKind = "logprob_softmax", temperature: float = 1.0) -> list[float]:
    """P(a|S) for each sibling, summing to 1 (an empty list for no siblings).

    `mean_logprobs` are the siblings' length-normalised log-probabilities (summed log-prob
    divided by token count). `kind="logprob_softmax"` (ASTRO, ours: the paper leaves the
    prior's form open) is softmax(mean_logprob / temperature); `"uniform"` ignores them.
    Non-finite log-probs (-inf) get zero mass; if every one is -inf the prior is uniform.

    >>> [round(p, 4) for p in sibling_priors([0.0, -math.log(3)])]
    [0.75, 0.25]
    """
    n = len(mean_logprobs)
    if n == 0:
        return []
    if kind == "uniform":
        return [1.0 / n] * n
    if kind != "logprob_softmax":
        raise ValueError(f"prior kind {kind!r}: use 'logprob_softmax' or 'uniform'.")
    if temperature <= 0:
        raise ValueError(f"prior temperature={temperature}: use > 0.")
    finite = [x for x in mean_logprobs if math.isfinite(x)]
    if not finite:
        return [1.0 / n] * n
    top = max(finite)
    weights = [math.exp((x - top) / temperature) if math.isfinite(x) else 0.0 for x in mean_logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def merge_duplicate_priors(texts: Sequence[str], priors: Sequence[float]) -> list[tuple[str, float, list[int]]]:
    """Unique texts in first-seen order, each with its summed prior and the indices it merged.

    Identical candidate steps are one action: their prior masses add up, so the merged
    priors still sum to 1.

    >>> merge_duplicate_priors(["a", "b", "a"], [0.5, 0.3, 0.2])
    [('a', 0.7, [0, 2]), ('b', 0.3, [1])]
    """
    order: dict[str, int] = {}
    out: list[tuple[str, float, list[int]]] = []
    for idx, (text, prior) in enumerate(zip(texts, priors)):
        if text in order:
            slot = order[text]
            prev_text, prev_prior, members = out[slot]
            out[slot] = (prev_text, prev_prior + prior, members + [idx])
        else:
            order[text] = len(out)
            out.append((text, prior, [idx]))
    return out


def backup_value(child_values: Sequence[float], child_visits: Sequence[int], own_value: float | None) -> float:
    """Q(S, a) = (sum_i Q(S', a_i) N(S', a_i) + R(S')) / (sum_i N(S', a_i) + 1) (ASTRO's back-up).

    `child_values`/`child_visits` are the Q and N of the node's children, `own_value` its
    rollout value R(S'). A node without a rollout value (the root) returns the
    visit-weighted mean of its children, or 0.0 when none was visited.

    >>> backup_value([1.0, 0.0], [2, 1], 0.5)
    0.625
    """
    if len(child_values) != len(child_visits):
        raise ValueError("child_values and child_visits must have the same length.")
    weighted = sum(q * n for q, n in zip(child_values, child_visits))
    visits = sum(child_visits)
    if own_value is None:
        return weighted / visits if visits else 0.0
    return (weighted + own_value) / (visits + 1)


def select_child(
    values: Sequence[float],
    priors: Sequence[float],
    visits: Sequence[int],
    parent_visits: int,
    c_puct: float,
    unvisited_value: Sequence[float] | None = None,
) -> int:
    """Index of the child with the highest PUCT score (ties: the earliest child).

    A child with zero visits scores with value 0.0, or with `unvisited_value[i]` when
    given (e.g. its rollout value). Raises ValueError when there are no children.
    """
    if not values:
        raise ValueError("select_child() needs at least one child.")
    best_idx, best_score = 0, -math.inf
    for idx, (q, p, n) in enumerate(zip(values, priors, visits)):
        if n == 0:
            q = unvisited_value[idx] if unvisited_value is not None else 0.0
        score = puct_score(q, p, parent_visits, n, c_puct)
        if score > best_score:
            best_idx, best_score = idx, score
    return best_idx
