"""Evaluation metrics: pass@k, maj@k, first-attempt accuracy, shares, Pearson r, intervals over seeds and problems.

Pure functions over plain numbers and answer strings: no I/O, no globals, and an explicit
`rng` wherever a result is random. `benchmarks.evaluate` turns completions into the inputs.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

__all__ = [
    "pass_at_k",
    "mean_pass_at_k",
    "pass_at_1",
    "cluster_answers",
    "majority_vote",
    "majority_vote_abstain",
    "maj_at_k",
    "maj_at_k_abstain",
    "first_attempt_accuracy",
    "mean_or_none",
    "pearson",
    "mean_ci95",
    "t_quantile_975",
    "Interval",
    "paired_t_interval",
    "paired_bootstrap_interval",
    "seeds_for_half_width",
    "share",
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
    """Score of one majority vote: 1/0 when one option wins, the correct share on a tie.

    `labels` are cluster labels and `cluster_correct[label]` says whether that cluster's answer
    is correct. None (no answer) is a vote for the option "no answer", which is never correct:
    when most completions end without an answer, the vote gives none. Ties are broken uniformly
    at random, and we return the expectation, i.e. the fraction of tied options that are
    correct (a two-way tie between a right answer and "no answer" scores 0.5).
    `majority_vote_abstain` is the variant in which no answer abstains.

    >>> majority_vote([0, None, None], [True])
    0.0
    """
    return majority_vote_abstain(*_no_answer_as_wrong_cluster(labels, cluster_correct))


def majority_vote_abstain(labels: Sequence[int | None], cluster_correct: Sequence[bool]) -> float:
    """Score of one majority vote in which completions without an answer abstain (None is not counted).

    Overstates a model that often ends without an answer: its few answered completions decide
    the vote. No vote at all scores 0. Ties as in `majority_vote`.

    >>> majority_vote_abstain([0, None, None], [True])
    1.0
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


def _no_answer_as_wrong_cluster(
    labels: Sequence[int | None], cluster_correct: Sequence[bool]
) -> tuple[list[int | None], list[bool]]:
    """(labels, cluster_correct) with None mapped to one extra cluster that is never correct."""
    extra = len(cluster_correct)
    return [extra if label is None else label for label in labels], [*map(bool, cluster_correct), False]


def maj_at_k(
    answers: Sequence[str | None],
    correct: Sequence[bool],
    k: int,
    same: Callable[[str, str], bool] | None = None,
    rng: np.random.Generator | None = None,
    n_draws: int = 1000,
) -> float:
    """Expected score of a majority vote over k of the n sampled answers of one problem.

    `answers[i]` is sample i's extracted answer (None: no answer) and `correct[i]` its verdict;
    answers are clustered with `cluster_answers(answers, same)` and a cluster is correct when
    its first member (in sample order) is. A completion without an answer votes for "no
    answer", an option that is never correct (`majority_vote`); `maj_at_k_abstain` lets it
    abstain instead. With `rng=None` the result is exact: the mean over every k-subset of the
    n samples (raises when there are more than `MAX_EXACT_SUBSETS`); with an `rng` it is the
    mean over `n_draws` random k-subsets. k == n is one vote over all.

    >>> maj_at_k(["4", None, None], [True, False, False], 3)
    0.0
    """
    labels, cluster_correct = _labels_and_verdicts(answers, correct, k, same)
    labels, cluster_correct = _no_answer_as_wrong_cluster(labels, cluster_correct)
    return _expected_vote(labels, cluster_correct, k, rng, n_draws)


def maj_at_k_abstain(
    answers: Sequence[str | None],
    correct: Sequence[bool],
    k: int,
    same: Callable[[str, str], bool] | None = None,
    rng: np.random.Generator | None = None,
    n_draws: int = 1000,
) -> float:
    """`maj_at_k` in which completions without an answer abstain from the vote (reported as `maj@k_abstain`).

    Kept to show how much abstentions would inflate the vote: with 2 of 3 samples unanswered
    and the third right, maj@3 is 0 and maj@3_abstain is 1. A k-subset with no answer scores 0.

    >>> maj_at_k_abstain(["4", None, None], [True, False, False], 3)
    1.0
    """
    labels, cluster_correct = _labels_and_verdicts(answers, correct, k, same)
    return _expected_vote(labels, cluster_correct, k, rng, n_draws)


def _labels_and_verdicts(
    answers: Sequence[str | None], correct: Sequence[bool], k: int, same: Callable[[str, str], bool] | None
) -> tuple[list[int | None], list[bool]]:
    """(cluster label per sample, verdict per cluster: that of its first member); checks the arguments."""
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
    return labels, cluster_correct


def _expected_vote(
    labels: Sequence[int | None], cluster_correct: Sequence[bool], k: int, rng: np.random.Generator | None, n_draws: int
) -> float:
    """Mean `majority_vote_abstain` over the k-subsets of the samples (all of them, or `n_draws` drawn with `rng`)."""
    n = len(labels)
    if all(label is None for label in labels):
        return 0.0
    if k == n:
        return majority_vote_abstain(labels, cluster_correct)
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
    """Mean `majority_vote_abstain` score over the rows of `subsets` (sample indices), vectorised."""
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


def share(flags: Sequence[bool]) -> float | None:
    """Fraction of True flags (e.g. completions without an answer, or cut at the token budget); None for none.

    >>> share([True, False, False, False])
    0.25
    """
    return sum(bool(f) for f in flags) / len(flags) if len(flags) else None


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


# 97.5% quantiles of Student's t, degrees of freedom 1..30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z975 = 1.959964


def t_quantile_975(df: int) -> float:
    """97.5% quantile of Student's t with `df` degrees of freedom (the factor of a two-sided 95% interval).

    A table to 3 decimals for df <= 30; beyond, the Cornish-Fisher expansion in 1/df around the
    normal quantile (error below 1e-3 there), tending to 1.960.

    >>> t_quantile_975(4)
    2.776
    """
    if df < 1:
        raise ValueError(f"t_quantile_975(df={df}): need df >= 1 (at least 2 values).")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return round(z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2), 4)


def mean_ci95(values: Sequence[float]) -> tuple[float, float | None]:
    """(mean, half-width of its 95% Student-t interval) over e.g. seeds; half-width None for one value."""
    if len(values) == 0:
        raise ValueError("mean_ci95 of no values.")
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if len(arr) < 2:
        return mean, None
    return mean, float(t_quantile_975(len(arr) - 1) * arr.std(ddof=1) / math.sqrt(len(arr)))


@dataclass(frozen=True)
class Interval:
    """A mean difference and its 95% interval (`low`, `high`); `low`/`high` None when it cannot be formed."""

    mean: float
    low: float | None
    high: float | None
    n: int
    """Pairs (seeds) or units (problems) the interval is over."""
    method: str
    """How it was formed: "paired t over seeds" or "paired bootstrap over problems"."""
    sd: float | None = None
    """Standard deviation of the paired differences (paired t only; None below 2 pairs)."""

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of 0."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def paired_t_interval(a: Sequence[float], b: Sequence[float]) -> Interval:
    """Mean of a[i] - b[i] with its 95% paired Student-t interval (pairs = seeds; df = n - 1).

    mean(d) -+ t_{0.975, n-1} * sd(d) / sqrt(n), sd with ddof=1; with one pair the interval is
    (None, None). Raises on unequal lengths or no pairs.

    >>> paired_t_interval([0.3, 0.5], [0.1, 0.2]).mean
    0.25
    """
    if len(a) != len(b):
        raise ValueError(f"paired_t_interval: {len(a)} values against {len(b)}; pass one value per seed on each side.")
    if len(a) == 0:
        raise ValueError("paired_t_interval of no pairs.")
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    mean = float(d.mean())
    if len(d) < 2:
        return Interval(mean, None, None, 1, "paired t over seeds")
    sd = float(d.std(ddof=1))
    half = t_quantile_975(len(d) - 1) * sd / math.sqrt(len(d))
    return Interval(mean, mean - half, mean + half, len(d), "paired t over seeds", sd)


def paired_bootstrap_interval(
    a: Sequence[Sequence[float]],
    b: Sequence[Sequence[float]],
    rng: np.random.Generator,
    n_resamples: int = 2000,
) -> Interval:
    """Mean over strata of the mean per-problem difference a - b, with a 95% percentile bootstrap interval.

    `a[s][i]` and `b[s][i]` are two models' scores (e.g. pass rates over samples) on problem i of
    stratum s (a seed: each seed may have its own problems; both models saw the same ones).
    Each resample draws, within every stratum, its problems with replacement (the same draw
    for both models: paired) and takes the mean over strata of the mean difference; the
    interval is the 2.5th and 97.5th percentiles of `n_resamples` resamples. It holds the
    problems' (evaluation) variation only, not that of training.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"paired_bootstrap_interval: {len(a)} strata against {len(b)}; pass the same non-empty strata on both sides.")
    diffs = []
    for s, (sa, sb) in enumerate(zip(a, b)):
        if len(sa) != len(sb) or len(sa) == 0:
            raise ValueError(f"stratum {s}: {len(sa)} problems against {len(sb)}; pass the same problems for both models.")
        diffs.append(np.asarray(sa, dtype=float) - np.asarray(sb, dtype=float))
    mean = float(np.mean([d.mean() for d in diffs]))
    stats = np.zeros(n_resamples)
    for d in diffs:
        idx = rng.integers(0, len(d), size=(n_resamples, len(d)))  # [n_resamples, n_problems]
        stats += d[idx].mean(axis=1)
    stats /= len(diffs)
    low, high = np.percentile(stats, [2.5, 97.5])
    return Interval(mean, float(low), float(high), sum(len(d) for d in diffs), "paired bootstrap over problems")


def seeds_for_half_width(sd: float, half_width: float, max_seeds: int = 10_000) -> int | None:
    """Fewest seeds n >= 2 whose paired-t 95% half-width t_{0.975, n-1} * sd / sqrt(n) is at most `half_width`.

    `sd` is the observed standard deviation of the paired differences across seeds. None when
    even `max_seeds` do not reach it (or half_width <= 0 with sd > 0). sd == 0 needs 2.

    >>> seeds_for_half_width(0.036, 0.03)
    9
    """
    if sd < 0 or not math.isfinite(sd):
        raise ValueError(f"seeds_for_half_width(sd={sd}): pass a finite sd >= 0.")
    if sd == 0:
        return 2
    if half_width <= 0:
        return None
    for n in range(2, max_seeds + 1):
        if t_quantile_975(n - 1) * sd / math.sqrt(n) <= half_width:
            return n
    return None
