"""Compute-matched retry baselines: sample one completion at a time, stop by a rule, match a model's tokens.

A model that searches (ASTRO) spends more tokens per problem than one that answers once
(Direct). These baselines give the answering model the same tokens: draw its evaluation
completions of a problem one after another, at most m of them, stop at the first one the stop
rule accepts, and count the problem solved when that completion is correct. Two stop rules:

- `"self_check"`: the task's `self_check(problem, completion)` (`astro_env.task.SelfCheckingTask`),
  a check any model could run at test time because it reads only the prompt (Countdown: the
  boxed expression reaches the stated target with the given numbers). Tasks without one
  (math) have no such baseline.
- `"verifier"`: the verifier's verdict itself (an oracle stop): best-of-n with the verifier. With
  the same attempt cap it solves every problem any stop rule solves in the same ordering (its
  first accepted completion is the first correct one), so it is an upper bound there; matched
  on mean tokens it can fall below a rule that gives up early on problems it cannot solve.

The m completions are a uniformly random ordering of a problem's n evaluation samples (drawing
without replacement from them, as the unbiased pass@k estimator does), and every number is
the exact expectation over orderings, in closed form (`attempt_curve`): no sampling, no rng.
For m <= n it is an unbiased estimate of the same loop run on fresh samples.

Matching: the curve over m = 0..n gives (mean tokens per problem, pass@1); the value at a model's
mean tokens interpolates linearly between the two caps around it, which is exact for the mixed
loop that uses the larger cap with the matching probability. A model spending more than m = n
costs has no value there (evaluate more samples per problem).

Pure functions over `EvalRecord`s and numbers: no I/O, no globals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from benchmarks import metrics
from benchmarks.records import EvalRecord

__all__ = ["StopRule", "STOP_RULES", "RetryPoint", "attempt_curve", "retry_curve", "record_curve", "at_mean_tokens",
           "compute_matched"]

StopRule = Literal["self_check", "verifier"]
STOP_RULES: tuple[StopRule, ...] = ("self_check", "verifier")


@dataclass(frozen=True)
class RetryPoint:
    """A retry baseline with an attempt cap, over a set of problems."""

    max_attempts: float
    """The cap m (fractional where interpolated: a mix of the caps around it)."""
    mean_tokens: float
    """Mean tokens generated per problem."""
    pass_at_1: float
    """Share of problems solved (exact expectation over orderings of each problem's samples)."""


def attempt_curve(tokens: Sequence[float], accepted: Sequence[bool], correct: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """(pass, mean tokens) of one problem for attempt caps m = 0..n, over uniformly random orderings of its n samples.

    `tokens[i]`, `accepted[i]` (the stop rule's verdict) and `correct[i]` describe sample i; a
    accepted and r = n - a rejected. The first accepted sample is uniform over the accepted
    ones and lies beyond position m with probability C(r, m) / C(n, m), so

        pass(m)  = (accepted and correct) / a * (1 - C(r, m) / C(n, m))
        spent(m) = mean accepted tokens * (1 - C(r, m) / C(n, m))
                   + total rejected tokens * (1/n) * sum_{k=1..m} C(r-1, k-1) / C(n-1, k-1)

    (a rejected sample is drawn when it sits at a position k <= m with only rejected samples
    before it). With no accepted sample, pass is 0 and spent(m) = m * mean tokens. Both arrays
    have n + 1 entries, non-decreasing, starting at 0.
    """
    t = np.asarray(tokens, dtype=float)
    acc = np.asarray(accepted, dtype=bool)
    ok = np.asarray(correct, dtype=bool)
    n = len(t)
    if not (len(acc) == len(ok) == n) or n == 0:
        raise ValueError(f"attempt_curve: {n} token counts, {len(acc)} stop verdicts, {len(ok)} verdicts; pass one of each per sample (n >= 1).")
    if (t < 0).any():
        raise ValueError("attempt_curve: token counts must be >= 0.")
    a = int(acc.sum())
    r = n - a
    caps = range(n + 1)
    if a == 0:
        return np.zeros(n + 1), np.array([m * t.mean() for m in caps])
    reached = np.array([1.0 - math.comb(r, m) / math.comb(n, m) for m in caps])  # P(first accepted within m)
    drawn_rejected = np.cumsum([0.0] + [math.comb(r - 1, k - 1) / math.comb(n - 1, k - 1) / n if r else 0.0
                                        for k in range(1, n + 1)])  # P(a given rejected sample is drawn), per m
    pass_m = float((acc & ok).sum()) / a * reached
    spent = float(t[acc].mean()) * reached + float(t[~acc].sum()) * drawn_rejected
    return pass_m, spent


def retry_curve(problems: Sequence[tuple[Sequence[float], Sequence[bool], Sequence[bool]]]) -> list[RetryPoint]:
    """The mean over problems of `attempt_curve`, for caps m = 0..(fewest samples of any problem)."""
    if not problems:
        raise ValueError("retry_curve of no problems.")
    curves = [attempt_curve(*p) for p in problems]
    n_min = min(len(c[0]) for c in curves) - 1
    pass_m = np.mean([c[0][: n_min + 1] for c in curves], axis=0)
    spent = np.mean([c[1][: n_min + 1] for c in curves], axis=0)
    return [RetryPoint(float(m), float(spent[m]), float(pass_m[m])) for m in range(n_min + 1)]


def record_curve(per_problem: Sequence[Sequence[EvalRecord]], stop: StopRule) -> list[RetryPoint] | None:
    """`retry_curve` of each problem's evaluation records under a stop rule; None when a record has no self-check.

    "self_check" stops at `record.self_check`, "verifier" at `record.correct`; tokens are `record.n_tokens`.
    """
    if stop not in STOP_RULES:
        raise ValueError(f"stop={stop!r}: use one of {STOP_RULES}.")
    if stop == "self_check" and any(r.self_check is None for records in per_problem for r in records):
        return None
    return retry_curve([
        ([r.n_tokens for r in records], [bool(r.self_check) if stop == "self_check" else r.correct for r in records],
         [r.correct for r in records])
        for records in per_problem
    ])


def at_mean_tokens(curve: Sequence[RetryPoint], mean_tokens: float) -> RetryPoint | None:
    """The point of `curve` (caps in increasing order) whose mean tokens equal `mean_tokens`, interpolated linearly
    between the caps around it; None beyond the largest cap's tokens."""
    if mean_tokens < 0:
        raise ValueError(f"mean_tokens={mean_tokens}: use >= 0.")
    tol = 1e-9 * max(1.0, mean_tokens)
    for lo, hi in zip(curve, curve[1:]):
        if mean_tokens <= hi.mean_tokens + tol:
            width = hi.mean_tokens - lo.mean_tokens
            w = 1.0 if width <= tol else min(max((mean_tokens - lo.mean_tokens) / width, 0.0), 1.0)
            return RetryPoint(lo.max_attempts + w * (hi.max_attempts - lo.max_attempts), float(mean_tokens),
                              lo.pass_at_1 + w * (hi.pass_at_1 - lo.pass_at_1))
    return None


def compute_matched(
    per_seed: Sequence[Mapping[str, Sequence[Sequence[EvalRecord]]]],
    sources: Sequence[str],
) -> dict[str, Any]:
    """Every model's pass@1 and tokens, and each source model's retry baselines at every model's mean tokens.

    `per_seed[s][model]` holds one seed's evaluation records of a model on one set, grouped per
    problem (each problem's n samples). For each source in `sources` and each stop rule, per
    seed: the `record_curve` of the source's records and its value at each model's own mean
    tokens per completion in that seed (`at_mean_tokens`). Returns a JSON-able dict:

    - "models": {model: {"pass@1", "mean_tokens", "n_seeds"}} (means over seeds);
    - "baselines": {"<source>/<rule>": {"source", "stop", "curve": [{"max_attempts", "mean_tokens",
      "pass@1"}] (means over seeds), "at": {model: None | {"pass@1", "pass@1_ci95", "mean_tokens",
      "max_attempts", "n_seeds"}}}}, "at" None where a seed's n samples spend fewer tokens than
      the model (evaluate more samples). A self-check baseline is left out when the source's
      records carry no self-check verdicts (the task has none).
    """
    models: dict[str, dict[str, Any]] = {}
    names = list(dict.fromkeys(name for seed in per_seed for name in seed))
    for name in names:
        seeds = [seed[name] for seed in per_seed if name in seed]
        models[name] = {
            "pass@1": float(np.mean([metrics.pass_at_1([[r.correct for r in rs] for rs in problems]) for problems in seeds])),
            "mean_tokens": float(np.mean([_mean_tokens(problems) for problems in seeds])),
            "n_seeds": len(seeds),
        }
    baselines: dict[str, Any] = {}
    for source in sources:
        for stop in STOP_RULES:
            curves = [(seed, record_curve(seed[source], stop)) for seed in per_seed if source in seed]
            curves = [(seed, c) for seed, c in curves if c is not None]
            if not curves:
                continue
            n_caps = min(len(c) for _, c in curves)
            curve = [{"max_attempts": m, "mean_tokens": float(np.mean([c[m].mean_tokens for _, c in curves])),
                      "pass@1": float(np.mean([c[m].pass_at_1 for _, c in curves]))} for m in range(n_caps)]
            at: dict[str, Any] = {}
            for name in names:
                points = [at_mean_tokens(c, _mean_tokens(seed[name])) for seed, c in curves if name in seed]
                if not points or any(p is None for p in points):
                    at[name] = None
                    continue
                mean, half = metrics.mean_ci95([p.pass_at_1 for p in points])
                at[name] = {"pass@1": mean, "pass@1_ci95": half, "mean_tokens": float(np.mean([p.mean_tokens for p in points])),
                            "max_attempts": float(np.mean([p.max_attempts for p in points])), "n_seeds": len(points)}
            baselines[f"{source}/{stop}"] = {"source": source, "stop": stop, "curve": curve, "at": at}
    return {"models": models, "baselines": baselines}


def _mean_tokens(per_problem: Sequence[Sequence[EvalRecord]]) -> float:
    """Mean tokens per completion (= per problem for a model that answers once)."""
    return float(np.mean([r.n_tokens for records in per_problem for r in records]))
