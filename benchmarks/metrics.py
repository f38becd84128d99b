"""Evaluation metrics: pass@k, maj@k, first-attempt accuracy, Pearson r, confidence intervals.

Pure functions over plain numbers and answer strings: no I/O, no globals, and an explicit
`rng` wherever a result is random. `benchmarks.evaluate` turns completions into the inputs.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Callable, Sequence

import numpy as np

__all__ = [
    "pass_at_k",
    "mean_pass_at_k",
    "pass_at_1",
    "cluster_answers",
    "majority_vote",
    "maj_at_k",
    "first_attempt_accuracy",
    "mean_or_none",
    "pearson",
    "mean_ci95",
]

MAX_EXACT_SUBSETS = 200_000
"""`maj_at_k` enumerates every k-subset up to this many; beyond it, pass an `rng`."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n is correct.

    The unbiased estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k), computed as a
    stable product. `n` samples of which `c` are correct; requires 0 <= c <= n and 1 <= k <= n.

    >>> pass_at_k(5, 2, 1)
    0.4
    """
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"pass_at_k(n={n}, c={c}): need n >= 1 and 0 <= c <= n.")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k(k={k}) with n={n} samples: use 1 <= k <= n (draw more samples for larger k).")
    if n - c < k:
        return 1.0
    # 1 - prod_{i = n-c+1}^{n} (1 - k / i)
    fail = 1.0
    for i in range(n - c + 1, n + 1):
        fail *= 1.0 - k / i
    return round(1.0 - fail, 12)


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """Mean of `pass_at_k` over problems given as (n, c) pairs; problems with n < k raise."""
    if not counts:
        raise ValueError("mean_pass_at_k of no problems: pass at least one (n, c) pair.")
    return float(np.mean([pass_at_k(n, c, k) for n, c in counts]))


def pass_at_1(correct_per_problem: Sequence[Sequence[bool]]) -> float:
    """Fraction of correct samples per problem, averaged over problems (the paper's pass@1).

    Each problem weighs the same whatever its number of samples; a problem with no sample raises.
    """
    if not correct_per_problem:
        raise ValueError("pass_at_1 of no problems: pass at least one problem's verdicts.")
    rates = []
    for idx, flags in enumerate(correct_per_problem):
        if len(flags) == 0:
            raise ValueError(f"problem #{idx} has no samples; evaluate it before computing pass@1.")
        rates.append(sum(bool(f) for f in flags) / len(flags))
    return float(np.mean(rates))


def cluster_answers(
    answers: Sequence[str | None],
    same: Callable[[str, str], bool] | None = None,
) -> list[int | None]:
    """Cluster label of each answer: equal labels mean equivalent answers; None stays None.

    Labels are 0, 1, 2... in order of first appearance. Answers equal as strings share a
    label without calling `same`; otherwise an answer joins the first cluster whose first
    member is `same` as it (default: string equality), so `same` need not be transitive.
    """
    labels: list[int | None] = []
    by_string: dict[str, int] = {}
    representatives: list[str] = []
    for answer in answers:
        if answer is None:
            labels.append(None)
            continue
        key = answer.strip()
        if key in by_string:
            labels.append(by_string[key])
            continue
        label = None
        if same is not None:
            for idx, rep in enumerate(representatives):
                if same(rep, key):
                    label = idx
                    break
        if label is None:
            label = len(representatives)
            representatives.append(key)
        by_string[key] = label
        labels.append(label)
    return labels


def majority_vote(labels: Sequence[int | None], cluster_correct: Sequence[bool]) -> float:
    """Score of one majority vote: 1/0 when one cluster wins, the correct share on a tie.

    `labels` are cluster labels (None = no answer, which abstains); `cluster_correct[label]`
    says whether that cluster's answer is correct. Ties are broken uniformly at random, and
    we return the expectation, i.e. the fraction of tied clusters that are correct (so a
    two-way tie between a right and a wrong answer scores 0.5). No vote at all scores 0.
    """
    counts: dict[int, int] = {}
    for label in labels:
        if label is not None:
            counts[label] = counts.get(label, 0) + 1
    if not counts:
        return 0.0
    top = max(counts.values())
    winners = [label for label, count in counts.items() if count == top]
    return sum(bool(cluster_correct[label]) for label in winners) / len(winners)


def maj_at_k(
    answers: Sequence[str | None],
    correct: Sequence[bool],
    k: int,
    same: Callable[[str, str], bool] | None = None,
    rng: np.random.Generator | None = None,
    n_draws: int = 1000,
) -> float:
    """Expected score of a majority vote over k of the n sampled answers of one problem.

    `answers[i]` is sample i's extracted answer (None: no answer, abstains) and `correct[i]`
    its verdict; answers are clustered with `cluster_answers(answers, same)` and a cluster is
    correct when its first member (in sample order) is. Ties follow `majority_vote` (the
    expectation of a uniform tie-break). With `rng=None` the result is exact: the mean over
    every k-subset of the n samples (raises when there are more than `MAX_EXACT_SUBSETS`);
    with an `rng` it is the mean over `n_draws` random k-subsets. k == n is one vote over all.
    """
    n = len(answers)
    if len(correct) != n:
        raise ValueError(f"maj_at_k: {n} answers but {len(correct)} verdicts; pass one verdict per answer.")
    if not 1 <= k <= n:
        raise ValueError(f"maj_at_k(k={k}) with n={n} samples: use 1 <= k <= n.")
    labels = cluster_answers(answers, same)
    n_clusters = max((label for label in labels if label is not None), default=-1) + 1
    cluster_correct = [False] * n_clusters
    seen: set[int] = set()
    for label, flag in zip(labels, correct):
        if label is not None and label not in seen:
            seen.add(label)
            cluster_correct[label] = bool(flag)
    if n_clusters == 0:
        return 0.0
    if k == n:
        return majority_vote(labels, cluster_correct)
    if rng is None:
        n_subsets = math.comb(n, k)
        if n_subsets > MAX_EXACT_SUBSETS:
            raise ValueError(
                f"maj_at_k exact: C({n}, {k}) = {n_subsets} subsets exceed {MAX_EXACT_SUBSETS}; pass rng= to sample them."
            )
        subsets = _all_subsets(n, k)  # [n_subsets, k]
    else:
        subsets = np.stack([rng.choice(n, size=k, replace=False) for _ in range(n_draws)])  # [n_draws, k]
    return _mean_vote(subsets, labels, cluster_correct)


@functools.lru_cache(maxsize=16)
def _all_subsets(n: int, k: int) -> np.ndarray:
    """Every k-subset of range(n) as rows of sample indices (cached; read-only)."""
    subsets = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64)
    subsets.setflags(write=False)
    return subsets


def _mean_vote(subsets: np.ndarray, labels: Sequence[int | None], cluster_correct: Sequence[bool]) -> float:
    """Mean `majority_vote` score over the rows of `subsets` (sample indices), vectorised."""
    n_clusters = len(cluster_correct)
    # label n_clusters = abstain, dropped after counting
    label_arr = np.array([n_clusters if label is None else label for label in labels], dtype=np.int64)
    chosen = label_arr[subsets]  # [n_subsets, k]
    width = n_clusters + 1
    flat = (np.arange(len(subsets))[:, None] * width + chosen).ravel()
    counts = np.bincount(flat, minlength=len(subsets) * width).reshape(len(subsets), width)
    counts = counts[:, :n_clusters]  # [n_subsets, n_clusters]
    top = counts.max(axis=1, keepdims=True)
    winners = (counts == top) & (top > 0)
    correct_arr = np.array(cluster_correct, dtype=bool)
    n_winners = winners.sum(axis=1)
    score = np.where(n_winners > 0, (winners & correct_arr).sum(axis=1) / np.maximum(n_winners, 1), 0.0)
    return float(score.mean())


def first_attempt_accuracy(flags: Sequence[bool | None]) -> float | None:
    """Fraction of completions whose first attempt's answer was already correct.

    `flags[i]` is None when completion i could not be parsed into attempts (it is left out);
    returns None when every flag is None. A completion with no answer at all counts as False.
    """
    known = [bool(f) for f in flags if f is not None]
    return sum(known) / len(known) if known else None


def mean_or_none(values: Sequence[float | int | None]) -> float | None:
    """Mean of the non-None values, None when there are none."""
    known = [float(v) for v in values if v is not None]
    return float(np.mean(known)) if known else None


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation coefficient of paired samples; NaN when either side is constant.

    >>> pearson([1, 2, 3], [2, 4, 6])
    1.0
    """
    if len(x) != len(y):
        raise ValueError(f"pearson: {len(x)} x values but {len(y)} y values; pass paired samples.")
    if len(x) < 2:
        raise ValueError("pearson needs at least 2 points.")
    xa = np.asarray(x, dtype=float) - np.mean(x)
    ya = np.asarray(y, dtype=float) - np.mean(y)
    denom = math.sqrt(float((xa**2).sum()) * float((ya**2).sum()))
    if denom == 0.0:
        return float("nan")
    return float(np.clip((xa * ya).sum() / denom, -1.0, 1.0))


# Two-sided 97.5% quantiles of Student's t, degrees of freedom 1..30 (larger: normal, 1.960).
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def mean_ci95(values: Sequence[float]) -> tuple[float, float | None]:
    """(mean, half-width of its 95% Student-t interval) over e.g. seeds; half-width None for one value."""
    if len(values) == 0:
        raise ValueError("mean_ci95 of no values.")
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if len(arr) < 2:
        return mean, None
    df = len(arr) - 1
    t = _T975[df - 1] if df <= len(_T975) else 1.960
    return mean, float(t * arr.std(ddof=1) / math.sqrt(len(arr)))
