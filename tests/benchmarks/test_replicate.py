"""Paired differences across seeds: paired t, bootstrap over problems, and the seeds an interval needs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.records import EvalRecord
from benchmarks.replicate import paired_difference, problem_rates


def _rec(pid, idx, correct):
    return EvalRecord(problem_id=pid, bench="test", sample_idx=idx, completion="", answer=None, correct=correct, n_tokens=1,
                      n_backtracks=None, n_restarts=None, first_attempt_correct=None)


def test_problem_rates():
    assert problem_rates([[_rec("a", 0, True), _rec("a", 1, False)], [_rec("b", 0, False)]]) == {"a": 0.5, "b": 0.0}


def test_paired_difference_hand_computed():
    # ASTRO-RL minus Direct-RL in seeds 0, 1, 2: 0.10, 0.03, 0.08 (seed 3 has only one model: left out)
    pass1 = {"astro-rl": {0: 0.30, 1: 0.25, 2: 0.29, 3: 0.5}, "direct-rl": {0: 0.20, 1: 0.22, 2: 0.21}}
    # per-problem rates: seed 0 differs by +0.2 on both problems, seeds 1 and 2 by 0 -> bootstrap mean 0.2 / 3
    rates = {"astro-rl": {s: {"p": 0.2 if s == 0 else 0.0, "q": 0.2 if s == 0 else 0.0} for s in (0, 1, 2)},
             "direct-rl": {s: {"p": 0.0, "q": 0.0, "r": 1.0} for s in (0, 1, 2)}}
    d = paired_difference("astro-rl", "direct-rl", "test", pass1, rates, np.random.default_rng(0))
    assert d.seeds == (0, 1, 2)
    assert d.per_seed == pytest.approx((0.10, 0.03, 0.08))
    half = 4.303 * math.sqrt(0.0013) / math.sqrt(3)  # sd of the differences sqrt(0.0026 / 2); t(0.975, 2) = 4.303
    assert (d.t.mean, d.t.low, d.t.high) == (pytest.approx(0.07), pytest.approx(0.07 - half), pytest.approx(0.07 + half))
    assert d.t.method == "paired t over seeds"
    # the bootstrap pairs the problems both models have (p, q): constant differences per seed -> a point
    assert (d.bootstrap.mean, d.bootstrap.low, d.bootstrap.high) == (pytest.approx(0.2 / 3),) * 3
    assert d.bootstrap.n == 6
    # to exclude 0 at mean 0.07, sd 0.036056: n=4 gives 3.182 * 0.036056 / 2 = 0.0574 < 0.07, n=3 gives 0.0896
    assert d.seeds_to_exclude_zero == 4
    assert d.to_dict()["t"]["sd"] == pytest.approx(math.sqrt(0.0013))


def test_paired_difference_with_one_seed_or_none():
    one = paired_difference("a", "b", "test", {"a": {0: 0.3}, "b": {0: 0.1}})
    assert one.t.mean == pytest.approx(0.2) and one.t.low is None and one.bootstrap is None and one.seeds_to_exclude_zero is None
    assert paired_difference("a", "b", "test", {"a": {0: 0.3}, "b": {1: 0.1}}) is None
    assert paired_difference("a", "missing", "test", {"a": {0: 0.3}}) is None
