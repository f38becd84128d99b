"""Compute-matched retry baselines: attempt caps in closed form, matching a model's mean tokens."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.records import EvalRecord
from benchmarks.retry import RetryPoint, at_mean_tokens, attempt_curve, compute_matched, record_curve, retry_curve


def test_attempt_curve_hand_computed_over_the_six_orderings():
    # samples: 10 tokens rejected; 20 tokens accepted and right; 30 tokens accepted but wrong
    pass_m, spent = attempt_curve([10, 20, 30], [False, True, True], [False, True, False])
    # m = 1: the first sample is the right one with prob 1/3; tokens (10 + 20 + 30) / 3
    # m = 2: orderings 1.. (right, 20), 2.. (wrong, 30), 0,1 (right, 30), 0,2 (wrong, 40): 2 + 2 + 1 + 1 of 6
    #        -> pass 1/3 + 1/6, tokens (2*20 + 2*30 + 30 + 40) / 6 = 170 / 6; m = 3 changes nothing
    assert pass_m.tolist() == pytest.approx([0.0, 1 / 3, 0.5, 0.5])
    assert spent.tolist() == pytest.approx([0.0, 20.0, 170 / 6, 170 / 6])


def test_attempt_curve_without_an_accepted_sample_draws_them_all():
    pass_m, spent = attempt_curve([10, 30], [False, False], [False, False])
    assert pass_m.tolist() == [0.0, 0.0, 0.0] and spent.tolist() == [0.0, 20.0, 40.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.booleans(), st.booleans()), min_size=1, max_size=5))
def test_attempt_curve_equals_the_mean_over_every_ordering(samples):
    tokens, accepted, correct = (list(x) for x in zip(*samples))
    pass_m, spent = attempt_curve(tokens, accepted, correct)
    for m in range(len(samples) + 1):
        solved, used = [], []
        for order in itertools.permutations(range(len(samples))):
            cum, ok = 0, False
            for i in order[:m]:
                cum += tokens[i]
                if accepted[i]:
                    ok = correct[i]
                    break
            solved.append(ok)
            used.append(cum)
        assert pass_m[m] == pytest.approx(np.mean(solved))
        assert spent[m] == pytest.approx(np.mean(used))


def test_retry_curve_and_matching_a_mean_token_count():
    # problem A: 10 tokens rejected, 20 accepted right; problem B: 10 tokens, never accepted
    curve = retry_curve([([10, 20], [False, True], [False, True]), ([10, 10], [False, False], [False, False])])
    # m = 1: pass (1/2 + 0) / 2, tokens (15 + 10) / 2; m = 2: A always solved, tokens (25 + 20) / 2
    assert curve == [RetryPoint(0.0, 0.0, 0.0), RetryPoint(1.0, 12.5, 0.25), RetryPoint(2.0, 22.5, 0.5)]
    # 17.5 tokens: halfway between the caps 1 and 2
    assert at_mean_tokens(curve, 17.5) == RetryPoint(1.5, 17.5, pytest.approx(0.375))
    assert at_mean_tokens(curve, 12.5) == RetryPoint(1.0, 12.5, 0.25)  # the source's own tokens: its own pass@1
    assert at_mean_tokens(curve, 5.0) == RetryPoint(0.4, 5.0, pytest.approx(0.1))  # below one attempt: sometimes none
    assert at_mean_tokens(curve, 23.0) is None  # two samples never spend more than 22.5
    # problems with more samples are cut to the fewest
    assert len(retry_curve([([1, 2, 3], [True] * 3, [True] * 3), ([1], [True], [True])])) == 2


def _rec(pid, idx, tokens, correct, self_check):
    return EvalRecord(problem_id=pid, bench="test", sample_idx=idx, completion="", answer=None, correct=correct, n_tokens=tokens,
                      n_backtracks=None, n_restarts=None, first_attempt_correct=None, self_check=self_check)


def test_record_curve_stop_rules():
    per_problem = [[_rec("p", 0, 10, False, True), _rec("p", 1, 20, True, False)]]
    # self-check accepts the wrong 10-token sample: it stops there, or after both when the right one comes first
    assert record_curve(per_problem, "self_check")[2] == RetryPoint(2.0, 20.0, 0.0)
    # the verifier stops at the right one: 20 tokens first (1/2) or 10 + 20
    assert record_curve(per_problem, "verifier")[2] == RetryPoint(2.0, 25.0, 1.0)
    assert record_curve([[_rec("p", 0, 10, True, None)]], "self_check") is None  # a task without a self-check
    with pytest.raises(ValueError, match="stop="):
        record_curve(per_problem, "oracle")


def _seed():
    # direct: P 10 tokens wrong (rejected), 20 tokens right (accepted); Q 10 tokens wrong but accepted, 10 tokens wrong
    direct = [[_rec("P", 0, 10, False, False), _rec("P", 1, 20, True, True)],
              [_rec("Q", 0, 10, False, True), _rec("Q", 1, 10, False, False)]]
    astro = [[_rec("P", 0, 25, True, True)], [_rec("Q", 0, 15, False, False)]]
    return {"direct": direct, "astro": astro}


def test_compute_matched_hand_computed():
    m = compute_matched([_seed()], ["direct"])
    assert m["models"]["direct"] == {"pass@1": 0.25, "mean_tokens": 12.5, "n_seeds": 1}
    assert m["models"]["astro"] == {"pass@1": 0.5, "mean_tokens": 20.0, "n_seeds": 1}
    check, oracle = m["baselines"]["direct/self_check"], m["baselines"]["direct/verifier"]
    # self-check: m = 1 -> pass (1/2 + 0) / 2, tokens (15 + 10) / 2; m = 2 -> P always solved, Q stops at its
    # accepted sample (10 tokens first, or 10 + 10): tokens (25 + 15) / 2 = 20
    assert check["curve"] == [{"max_attempts": 0, "mean_tokens": 0.0, "pass@1": 0.0},
                              {"max_attempts": 1, "mean_tokens": 12.5, "pass@1": 0.25},
                              {"max_attempts": 2, "mean_tokens": 20.0, "pass@1": 0.5}]
    at = check["at"]["astro"]  # ASTRO's 20 tokens: the cap 2
    assert (at["max_attempts"], at["mean_tokens"], at["pass@1"], at["pass@1_ci95"], at["n_seeds"]) == (2.0, 20.0, 0.5, None, 1)
    assert check["at"]["direct"]["pass@1"] == 0.25  # at its own tokens a source scores its own pass@1
    # verifier: Q never stops (20 tokens at m = 2): tokens (25 + 20) / 2 = 22.5; at 20 tokens: cap 1 + 7.5 / 10
    assert oracle["curve"][2] == {"max_attempts": 2, "mean_tokens": 22.5, "pass@1": 0.5}
    at = oracle["at"]["astro"]
    assert (at["max_attempts"], at["pass@1"]) == (pytest.approx(1.75), pytest.approx(0.25 + 0.75 * 0.25))
    # at the same cap the verifier stop is never below the self-check; matched on tokens it can be (0.4375 < 0.5)
    assert all(o["pass@1"] >= c["pass@1"] for o, c in zip(oracle["curve"], check["curve"]))


def test_compute_matched_over_seeds_and_where_samples_run_out():
    m = compute_matched([_seed(), _seed()], ["direct"])
    at = m["baselines"]["direct/self_check"]["at"]["astro"]
    assert at["n_seeds"] == 2 and at["pass@1"] == 0.5 and at["pass@1_ci95"] == 0.0
    long = {"direct": _seed()["direct"], "astro": [[_rec("P", 0, 100, True, True)], [_rec("Q", 0, 100, False, False)]]}
    assert compute_matched([long], ["direct"])["baselines"]["direct/self_check"]["at"]["astro"] is None
    no_check = {"direct": [[_rec("P", 0, 10, True, None)]]}
    assert list(compute_matched([no_check], ["direct"])["baselines"]) == ["direct/verifier"]
