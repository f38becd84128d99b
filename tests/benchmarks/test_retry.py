"""Compute-matched retry baselines: stopping outcomes over orderings, budgets, matching a model's mean tokens."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.records import EvalRecord
from benchmarks.retry import at_budget, at_mean_tokens, budget_curve, compute_matched, outcomes, record_outcomes


def _dist(o):
    """{(stop tokens, solved, stopped): probability} of an `Outcomes`."""
    out: dict = {}
    for key, w in zip(zip(o.stop_tokens.tolist(), o.solved.tolist(), o.stopped.tolist()), o.weight.tolist()):
        out[key] = out.get(key, 0.0) + w
    return out


def test_outcomes_hand_computed_over_the_six_orderings():
    # samples: 10 tokens rejected; 20 tokens accepted and right; 30 tokens accepted but wrong
    o = outcomes([10, 20, 30], [False, True, True], [False, True, False])
    # orderings starting with 1 (2 of 6) stop at 20, right; with 2 (2 of 6) stop at 30, wrong;
    # 0,1,2 stops at 10+20=30, right; 0,2,1 stops at 10+30=40, wrong
    assert _dist(o) == {(20.0, True, True): pytest.approx(1 / 3), (30.0, False, True): pytest.approx(1 / 3),
                        (30.0, True, True): pytest.approx(1 / 6), (40.0, False, True): pytest.approx(1 / 6)}
    # budget 30: solved 1/3 + 1/6; spent 20/3 + 30/3 + 30/6 + 30/6
    point = at_budget([o], 30)
    assert point.pass_at_1 == pytest.approx(0.5)
    assert point.mean_tokens == pytest.approx(20 / 3 + 10 + 5 + 5)
    assert point.exhausted == 0.0
    # budget 25: only the 20-token stops fit
    assert at_budget([o], 25).pass_at_1 == pytest.approx(1 / 3)


def test_a_sequence_without_an_accepted_sample_runs_out():
    o = outcomes([10, 10], [False, False], [False, False])
    assert _dist(o) == {(20.0, False, False): 1.0}
    assert (at_budget([o], 30).mean_tokens, at_budget([o], 30).exhausted) == (20.0, 1.0)  # samples ran out with budget left
    assert (at_budget([o], 15).mean_tokens, at_budget([o], 15).exhausted) == (15.0, 0.0)  # the budget ran out first


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.booleans(), st.booleans()), min_size=1, max_size=5), st.integers(0, 120))
def test_outcomes_equal_the_mean_over_every_ordering(samples, budget):
    tokens, accepted, correct = (list(x) for x in zip(*samples))
    point = at_budget([outcomes(tokens, accepted, correct)], budget)
    solved, spent, exhausted = [], [], []
    for order in itertools.permutations(range(len(samples))):
        cum, stop = 0, None
        for i in order:
            cum += tokens[i]
            if accepted[i]:
                stop = i
                break
        solved.append(stop is not None and correct[stop] and cum <= budget)
        spent.append(min(cum, budget))
        exhausted.append(stop is None and cum <= budget)
    assert point.pass_at_1 == pytest.approx(np.mean(solved))
    assert point.mean_tokens == pytest.approx(np.mean(spent))
    assert point.exhausted == pytest.approx(np.mean(exhausted))


def test_many_rejected_samples_use_random_orderings():
    # one accepted sample among 20 of 1 token each (19 rejected > MAX_EXACT_REJECTED): it is equally likely at every
    # position -> 10.5 tokens on average
    tokens, accepted = [1] * 20, [True] + [False] * 19
    with pytest.raises(ValueError, match="rng="):
        outcomes(tokens, accepted, accepted)
    o = outcomes(tokens, accepted, accepted, rng=np.random.default_rng(0), n_orderings=4000)
    assert float((o.stop_tokens * o.weight).sum()) == pytest.approx(10.5, abs=0.3)
    assert at_budget([o], 5).pass_at_1 == pytest.approx(5 / 20, abs=0.03)


def test_at_mean_tokens_solves_the_budget_exactly():
    # stops at 20 or 30 tokens (1/2 each), both right: mean spent = B below 20, then 10 + B/2 up to 30
    o = outcomes([10, 20], [False, True], [False, True])
    point = at_mean_tokens([o], 22.5)
    assert (point.budget, point.mean_tokens, point.pass_at_1) == (pytest.approx(25.0), pytest.approx(22.5), 0.5)
    assert at_mean_tokens([o], 12.0).budget == pytest.approx(12.0) and at_mean_tokens([o], 12.0).pass_at_1 == 0.0
    assert at_mean_tokens([o], 25.0).pass_at_1 == 1.0
    assert at_mean_tokens([o], 26.0) is None  # two samples never spend more than 25 on average
    assert [p.budget for p in budget_curve([o], [0, 30])] == [0.0, 30.0]


def _rec(pid, idx, tokens, correct, self_check):
    return EvalRecord(problem_id=pid, bench="test", sample_idx=idx, completion="", answer=None, correct=correct, n_tokens=tokens,
                      n_backtracks=None, n_restarts=None, first_attempt_correct=None, self_check=self_check)


def test_record_outcomes_stop_rules():
    per_problem = [[_rec("p", 0, 10, False, True), _rec("p", 1, 20, True, False)]]
    self_check = record_outcomes(per_problem, "self_check")[0]
    verifier = record_outcomes(per_problem, "verifier")[0]
    assert _dist(self_check) == {(10.0, False, True): pytest.approx(0.5), (30.0, False, True): pytest.approx(0.5)}
    assert _dist(verifier) == {(20.0, True, True): pytest.approx(0.5), (30.0, True, True): pytest.approx(0.5)}
    assert record_outcomes([[_rec("p", 0, 10, True, None)]], "self_check") is None  # a task without a self-check
    with pytest.raises(ValueError, match="stop="):
        record_outcomes(per_problem, "oracle")


def _seed():
    # direct: P 10 tokens wrong (rejected), 20 tokens right (accepted); Q 10 tokens wrong but accepted, 10 tokens wrong
    direct = [[_rec("P", 0, 10, False, False), _rec("P", 1, 20, True, True)],
              [_rec("Q", 0, 10, False, True), _rec("Q", 1, 10, False, False)]]
    astro = [[_rec("P", 0, 25, True, True)], [_rec("Q", 0, 15, False, False)]]
    return {"direct": direct, "astro": astro}


def test_compute_matched_hand_computed():
    m = compute_matched([_seed()], ["direct"], n_points=3)
    assert m["models"]["direct"] == {"pass@1": 0.25, "mean_tokens": 12.5, "n_seeds": 1}
    assert m["models"]["astro"] == {"pass@1": 0.5, "mean_tokens": 20.0, "n_seeds": 1}
    check, oracle = m["baselines"]["direct/self_check"], m["baselines"]["direct/verifier"]
    # self-check: P stops at 20 or 30 (right), Q at 10 or 20 (wrong); mean spent 0.75 B + 2.5 on [10, 20],
    # 12.5 + B/4 on [20, 30]: ASTRO's 20 tokens -> B = 30, where P is always solved
    at = check["at"]["astro"]
    assert (at["budget"], at["mean_tokens"], at["pass@1"], at["exhausted"]) == (pytest.approx(30), pytest.approx(20), 0.5, 0.0)
    assert at["pass@1_ci95"] is None and at["n_seeds"] == 1
    # Direct's own 12.5 tokens -> B = 40/3: nothing ends that early
    assert check["at"]["direct"]["budget"] == pytest.approx(40 / 3) and check["at"]["direct"]["pass@1"] == 0.0
    # verifier stop: P as above, Q never stops (20 tokens, samples run out); mean spent = B up to 20 -> B = 20:
    # P solved when its right sample comes first (1/2); Q exhausted
    at = oracle["at"]["astro"]
    assert (at["budget"], at["pass@1"], at["exhausted"]) == (pytest.approx(20), 0.25, 0.5)
    # matched on mean tokens the verifier stop need not lead: it spends Q's whole samples (at equal budget it does lead)
    assert [round(c["budget"]) for c in check["curve"]] == [0, 15, 30]
    assert check["curve"][2] == {"budget": 30.0, "mean_tokens": 20.0, "pass@1": 0.5, "exhausted": 0.0}
    assert oracle["curve"][2] == {"budget": 30.0, "mean_tokens": 22.5, "pass@1": 0.5, "exhausted": 0.5}
    for b in (0, 15, 30):
        assert at_budget(record_outcomes(_seed()["direct"], "verifier"), b).pass_at_1 >= \
            at_budget(record_outcomes(_seed()["direct"], "self_check"), b).pass_at_1


def test_compute_matched_over_seeds_and_where_samples_run_out():
    m = compute_matched([_seed(), _seed()], ["direct"], n_points=3)
    at = m["baselines"]["direct/self_check"]["at"]["astro"]
    assert at["n_seeds"] == 2 and at["pass@1"] == 0.5 and at["pass@1_ci95"] == 0.0
    long = {"direct": _seed()["direct"], "astro": [[_rec("P", 0, 100, True, True)], [_rec("Q", 0, 100, False, False)]]}
    assert compute_matched([long], ["direct"])["baselines"]["direct/self_check"]["at"]["astro"] is None
    no_check = {"direct": [[_rec("P", 0, 10, True, None)]]}
    assert list(compute_matched([no_check], ["direct"])["baselines"]) == ["direct/verifier"]
