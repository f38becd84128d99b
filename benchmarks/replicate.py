"""Paired comparisons of two models across seeds: the differences a replicate can decide on.

Each seed trains and evaluates both models of a pair (e.g. ASTRO-RL and Direct-RL) on the same
problems, so the difference is formed within a seed and its spread over seeds is what
training varies. Two 95% intervals:

- paired Student t over seeds (`metrics.paired_t_interval`): the seeds' variation, training
  and evaluation together; needs >= 2 seeds;
- paired bootstrap over problems within each seed (`metrics.paired_bootstrap_interval`): the
  evaluation problems' variation only, for the models these seeds trained.

`seeds_to_exclude_zero` says, from the observed spread of the differences, how many seeds a
paired-t interval would need to lie on one side of 0 at the observed mean difference
(`metrics.seeds_for_half_width`).

Pure functions over numbers and `EvalRecord`s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from benchmarks import metrics
from benchmarks.records import EvalRecord

__all__ = ["PairedDifference", "paired_difference", "problem_rates"]


@dataclass(frozen=True)
class PairedDifference:
    """pass@1 of `minuend` minus that of `subtrahend` on one evaluation set, over the seeds both have."""

    minuend: str
    subtrahend: str
    bench: str
    seeds: tuple[int, ...]
    per_seed: tuple[float, ...]
    """The difference in each seed (same order as `seeds`)."""
    t: metrics.Interval
    """Paired t over seeds (low/high None with one seed)."""
    bootstrap: metrics.Interval | None
    """Paired bootstrap over problems within seeds; None without per-problem rates."""
    seeds_to_exclude_zero: int | None
    """Seeds a paired-t interval needs to exclude 0 at the observed mean and sd (None below 2 seeds or at mean 0)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def problem_rates(per_problem: Sequence[Sequence[EvalRecord]]) -> dict[str, float]:
    """{problem_id: share of its samples that are correct} (a problem's pass@1)."""
    out: dict[str, float] = {}
    for records in per_problem:
        if not records:
            raise ValueError("problem_rates: a problem without records; pass each problem's evaluation records.")
        out[records[0].problem_id] = sum(r.correct for r in records) / len(records)
    return out


def paired_difference(
    minuend: str,
    subtrahend: str,
    bench: str,
    pass_at_1: Mapping[str, Mapping[int, float]],
    rates: Mapping[str, Mapping[int, Mapping[str, float]]] | None = None,
    rng: np.random.Generator | None = None,
    n_resamples: int = 2000,
) -> PairedDifference | None:
    """The paired difference of two models' pass@1 over their common seeds; None when they share no seed.

    `pass_at_1[model][seed]` is a model's pass@1 in one seed; `rates[model][seed][problem_id]`
    its per-problem pass rates (`problem_rates`), for the bootstrap (over the problems both
    models have in each common seed; needs `rng`).
    """
    a, b = pass_at_1.get(minuend, {}), pass_at_1.get(subtrahend, {})
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        return None
    per_seed = tuple(float(a[s]) - float(b[s]) for s in seeds)
    t = metrics.paired_t_interval([a[s] for s in seeds], [b[s] for s in seeds])
    bootstrap = None
    if rates is not None and rng is not None:
        ra, rb = rates.get(minuend, {}), rates.get(subtrahend, {})
        strata_a, strata_b = [], []
        for s in seeds:
            if s in ra and s in rb:
                ids = sorted(set(ra[s]) & set(rb[s]))
                if ids:
                    strata_a.append([ra[s][i] for i in ids])
                    strata_b.append([rb[s][i] for i in ids])
        if strata_a:
            bootstrap = metrics.paired_bootstrap_interval(strata_a, strata_b, rng, n_resamples)
    needed = None
    if t.sd is not None and t.mean != 0:
        needed = metrics.seeds_for_half_width(t.sd, abs(t.mean) * (1 - 1e-9))
    return PairedDifference(minuend, subtrahend, bench, seeds, per_seed, t, bootstrap, needed)
