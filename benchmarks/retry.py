"""Compute-matched retry baselines: sample one completion at a time and stop by a rule, within a token budget.

A model that searches (ASTRO) spends more tokens per problem than one that answers once
(Direct). These baselines give the answering model the same tokens: draw its evaluation
completions of a problem one after another, stop at the first one the stop rule accepts,
and count the problem solved when that completion is correct and the tokens spent up to its
end fit the budget. Two stop rules:

- `"self_check"`: the task's `self_check(problem, completion)` (`astro_env.task.SelfCheckingTask`),
  a check any model could run at test time because it reads only the prompt (Countdown: the
  boxed expression reaches the stated target with the given numbers). Tasks without one
  (math) have no such baseline.
- `"verifier"`: the verifier's verdict itself (an oracle stop): best-of-n with the verifier. At
  any one budget it solves every problem any stop rule solves in the same ordering (its first
  accepted completion is the first correct one), so it is an upper bound there; matched on mean
  tokens spent it can fall below a rule that gives up early on problems it cannot solve.

The budget `B` is the same for every problem: a completion that would end past `B` is cut
there (it solves nothing), so a problem spends min(B, tokens through the stopping completion).
The order of the completions is a uniformly random ordering of a problem's n evaluation
samples (drawing without replacement from them); every result is the exact expectation over
orderings (`outcomes`), computed from the subsets of rejected samples that can precede the
first accepted one. A sequence that uses all n samples without an accepted one before the
budget runs out is *exhausted*: a longer real sequence might still succeed, so a point with
exhausted sequences is a lower bound on the baseline (`BudgetPoint.exhausted`).

Pure functions over `EvalRecord`s and arrays: no I/O, no globals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from benchmarks import metrics
from benchmarks.records import EvalRecord

__all__ = ["StopRule", "STOP_RULES", "Outcomes", "BudgetPoint", "outcomes", "record_outcomes", "at_budget", "budget_curve",
           "at_mean_tokens", "compute_matched"]

StopRule = Literal["self_check", "verifier"]
STOP_RULES: tuple[StopRule, ...] = ("self_check", "verifier")
MAX_EXACT_REJECTED = 12
"""Problems with more rejected samples than this use `n_orderings` random orderings (needs an `rng`): the exact
sum has a * 2^r terms for a accepted and r rejected samples, more than 2,000 orderings beyond r = 11."""


@dataclass(frozen=True)
class Outcomes:
    """The distribution of one problem's stopping outcome over orderings of its samples.

    Entry i happens with probability `weight[i]` (the weights sum to 1): the sequence stops after
    `stop_tokens[i]` tokens (through the first accepted completion, or all n samples' total
    when none is accepted), `stopped[i]` says whether a completion was accepted and `solved[i]`
    whether that completion is correct.
    """

    stop_tokens: np.ndarray  # [n_outcomes] float
    solved: np.ndarray  # [n_outcomes] bool
    stopped: np.ndarray  # [n_outcomes] bool
    weight: np.ndarray  # [n_outcomes] float, sums to 1


@dataclass(frozen=True)
class BudgetPoint:
    """A retry baseline at one per-problem token budget, over a set of problems."""

    budget: float
    """Tokens allowed per problem."""
    mean_tokens: float
    """Mean tokens spent per problem (<= budget)."""
    pass_at_1: float
    """Share of problems solved (expectation over orderings of each problem's samples)."""
    exhausted: float
    """Share of (problem, ordering) sequences that ran out of samples with budget left (pass_at_1 is then a lower bound)."""


def outcomes(
    tokens: Sequence[float],
    accepted: Sequence[bool],
    correct: Sequence[bool],
    rng: np.random.Generator | None = None,
    n_orderings: int = 2000,
) -> Outcomes:
    """The stopping outcomes of one problem's n samples over uniformly random orderings (exact when possible).

    `tokens[i]`, `accepted[i]` (the stop rule's verdict) and `correct[i]` describe sample i. For a
    random ordering, the probability that the first accepted sample is j and exactly the rejected
    samples in S precede it is |S|! (n - |S| - 1)! / n!; the outcome is then (sum of S's tokens +
    tokens[j], correct[j]). With more than `MAX_EXACT_REJECTED` rejected samples (2^r subsets),
    `n_orderings` orderings drawn with `rng` stand in for the exact sum (each weight 1/n_orderings);
    without an `rng` that raises. With no accepted sample: one outcome, all tokens, not stopped.
    """
    t = np.asarray(tokens, dtype=float)
    acc = np.asarray(accepted, dtype=bool)
    ok = np.asarray(correct, dtype=bool)
    n = len(t)
    if not (len(acc) == len(ok) == n) or n == 0:
        raise ValueError(f"outcomes: {n} token counts, {len(acc)} stop verdicts, {len(ok)} verdicts; pass one of each per sample (n >= 1).")
    if (t < 0).any():
        raise ValueError("outcomes: token counts must be >= 0.")
    if not acc.any():
        return Outcomes(np.array([t.sum()]), np.array([False]), np.array([False]), np.array([1.0]))
    rejected = t[~acc]  # [r]
    r = len(rejected)
    if r > MAX_EXACT_REJECTED:
        if rng is None:
            raise ValueError(f"outcomes: {r} rejected samples (2^{r} subsets); pass rng= to average over {n_orderings} random orderings.")
        return _sampled_outcomes(t, acc, ok, rng, n_orderings)
    masks = np.arange(2**r, dtype=np.int64)
    members = (masks[:, None] >> np.arange(r)) & 1  # [2^r, r]
    subset_tokens = members @ rejected  # [2^r]
    sizes = members.sum(axis=1)  # [2^r]
    log_p = np.array([math.lgamma(s + 1) + math.lgamma(n - s) - math.lgamma(n + 1) for s in range(r + 1)])
    subset_p = np.exp(log_p[sizes])  # [2^r]
    firsts = np.flatnonzero(acc)  # [a]
    stop = (subset_tokens[None, :] + t[firsts][:, None]).ravel()  # [a * 2^r]
    solved = np.repeat(ok[firsts], len(masks))
    weight = np.tile(subset_p, len(firsts))
    return Outcomes(stop, solved, np.ones(len(stop), dtype=bool), weight / weight.sum())


def _sampled_outcomes(t: np.ndarray, acc: np.ndarray, ok: np.ndarray, rng: np.random.Generator, n_orderings: int) -> Outcomes:
    orders = np.stack([rng.permutation(len(t)) for _ in range(n_orderings)])  # [n_orderings, n]
    cum = np.cumsum(t[orders], axis=1)  # [n_orderings, n]
    hit = acc[orders]
    first = hit.argmax(axis=1)  # every row has one: acc.any()
    rows = np.arange(n_orderings)
    return Outcomes(cum[rows, first], ok[orders][rows, first], np.ones(n_orderings, dtype=bool),
                    np.full(n_orderings, 1.0 / n_orderings))


def record_outcomes(
    per_problem: Sequence[Sequence[EvalRecord]],
    stop: StopRule,
    rng: np.random.Generator | None = None,
    n_orderings: int = 2000,
) -> list[Outcomes] | None:
    """`outcomes` of each problem's evaluation records under a stop rule; None when a record has no self-check.

    `per_problem[i]` are problem i's records (its n samples); "self_check" stops at
    `record.self_check`, "verifier" at `record.correct`. Tokens are `record.n_tokens`.
    """
    if stop not in STOP_RULES:
        raise ValueError(f"stop={stop!r}: use one of {STOP_RULES}.")
    out = []
    for records in per_problem:
        if stop == "self_check":
            if any(r.self_check is None for r in records):
                return None
            accepted = [bool(r.self_check) for r in records]
        else:
            accepted = [r.correct for r in records]
        out.append(outcomes([r.n_tokens for r in records], accepted, [r.correct for r in records], rng, n_orderings))
    return out


def _flat(problems: Sequence[Outcomes]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(stop_tokens, solved, stopped, weight) over all problems, weights summing to 1 (each problem 1/n_problems)."""
    if not problems:
        raise ValueError("retry baseline of no problems.")
    stop = np.concatenate([o.stop_tokens for o in problems])
    solved = np.concatenate([o.solved for o in problems])
    stopped = np.concatenate([o.stopped for o in problems])
    weight = np.concatenate([o.weight for o in problems]) / len(problems)
    return stop, solved, stopped, weight


def at_budget(problems: Sequence[Outcomes], budget: float) -> BudgetPoint:
    """The baseline with `budget` tokens per problem: a sequence solves its problem when it stops at a correct
    completion that ends within the budget, and spends min(budget, its stop tokens)."""
    if budget < 0:
        raise ValueError(f"budget={budget}: use >= 0 tokens.")
    stop, solved, stopped, weight = _flat(problems)
    within = stop <= budget
    return BudgetPoint(
        budget=float(budget),
        mean_tokens=float((weight * np.minimum(stop, budget)).sum()),
        pass_at_1=float(weight[solved & within].sum()),
        exhausted=float(weight[~stopped & within].sum()),
    )


def budget_curve(problems: Sequence[Outcomes], budgets: Sequence[float]) -> list[BudgetPoint]:
    """`at_budget` at each budget, in the given order."""
    return [at_budget(problems, b) for b in budgets]


def at_mean_tokens(problems: Sequence[Outcomes], mean_tokens: float) -> BudgetPoint | None:
    """The baseline at the budget whose mean tokens spent per problem equals `mean_tokens`; None when even an
    unlimited budget spends fewer (the samples run out first: evaluate more samples per problem).

    Mean tokens spent, sum_i w_i min(B, stop_i), is continuous and non-decreasing in B, linear
    between sorted stop values, so the budget is solved exactly; pass@1 is taken at that budget.
    """
    if mean_tokens < 0:
        raise ValueError(f"mean_tokens={mean_tokens}: use >= 0.")
    stop, _, _, weight = _flat(problems)
    order = np.argsort(stop, kind="stable")
    s, w = stop[order], weight[order]
    done_w = np.cumsum(w)  # weight with stop <= s[k]
    done_ws = np.cumsum(w * s)
    spent = done_ws + s * np.clip(1.0 - done_w, 0.0, None)  # [n] mean spent at budget s[k]
    tol = 1e-9 * max(1.0, mean_tokens)
    if mean_tokens > spent[-1] + tol:
        return None
    k = int(np.searchsorted(spent, mean_tokens - tol, side="left"))
    prev_b = 0.0 if k == 0 else float(s[k - 1])
    prev_spent = 0.0 if k == 0 else float(spent[k - 1])
    slope = 1.0 if k == 0 else float(max(1.0 - done_w[k - 1], 0.0))
    budget = float(s[k]) if slope <= 0 else min(float(s[k]), prev_b + max(mean_tokens - prev_spent, 0.0) / slope)
    return at_budget(problems, budget)


def compute_matched(
    per_seed: Sequence[Mapping[str, Sequence[Sequence[EvalRecord]]]],
    sources: Sequence[str],
    rng: np.random.Generator | None = None,
    n_points: int = 41,
) -> dict[str, Any]:
    """Every model's pass@1 and tokens, and each source model's retry baselines at every model's mean tokens.

    `per_seed[s][model]` holds one seed's evaluation records of a model on one set, grouped per
    problem (each problem's n samples). For each source in `sources` and each stop rule, per
    seed: the `outcomes` of the source's records, the value at each model's own mean tokens
    per completion in that seed (`at_mean_tokens`), and a `budget_curve` on a grid shared by
    the seeds. Returns a JSON-able dict:

    - "models": {model: {"pass@1", "mean_tokens", "n_seeds"}} (means over seeds);
    - "baselines": {"<source>/<rule>": {"source", "stop", "curve": [{"budget", "mean_tokens",
      "pass@1", "exhausted"}] (means over seeds), "at": {model: None | {"pass@1", "pass@1_ci95",
      "mean_tokens", "budget", "exhausted", "n_seeds"}}}}. "at" is None where a seed's samples
      run out before the model's mean tokens (evaluate more samples); "exhausted" is the largest
      share over seeds (> 0: pass@1 is a lower bound). A self-check baseline is left out when
      the source's records carry no self-check verdicts (the task has none).
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
            per_seed_outcomes = [
                (seed, record_outcomes(seed[source], stop, rng)) for seed in per_seed if source in seed
            ]
            per_seed_outcomes = [(seed, o) for seed, o in per_seed_outcomes if o is not None]
            if not per_seed_outcomes:
                continue
            top = max(max(float(o.stop_tokens.max()) for o in outs) for _, outs in per_seed_outcomes)
            grid = [float(b) for b in np.linspace(0.0, top, n_points)]
            curves = [budget_curve(outs, grid) for _, outs in per_seed_outcomes]
            curve = [
                {"budget": b, "mean_tokens": float(np.mean([c[i].mean_tokens for c in curves])),
                 "pass@1": float(np.mean([c[i].pass_at_1 for c in curves])),
                 "exhausted": float(np.mean([c[i].exhausted for c in curves]))}
                for i, b in enumerate(grid)
            ]
            at: dict[str, Any] = {}
            for name in names:
                points = [at_mean_tokens(outs, _mean_tokens(seed[name])) for seed, outs in per_seed_outcomes if name in seed]
                if not points or any(p is None for p in points):
                    at[name] = None
                    continue
                mean, half = metrics.mean_ci95([p.pass_at_1 for p in points])
                at[name] = {"pass@1": mean, "pass@1_ci95": half, "mean_tokens": float(np.mean([p.mean_tokens for p in points])),
                            "budget": float(np.mean([p.budget for p in points])),
                            "exhausted": max(p.exhausted for p in points), "n_seeds": len(points)}
            baselines[f"{source}/{stop}"] = {"source": source, "stop": stop, "curve": curve, "at": at}
    return {"models": models, "baselines": baselines}


def _mean_tokens(per_problem: Sequence[Sequence[EvalRecord]]) -> float:
    """Mean tokens per completion (= per problem for a model that answers once)."""
    return float(np.mean([r.n_tokens for records in per_problem for r in records]))
