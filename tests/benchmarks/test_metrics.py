import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.metrics import (
    cluster_answers,
    first_attempt_accuracy,
    maj_at_k,
    maj_at_k_abstain,
    majority_vote,
    majority_vote_abstain,
    mean_ci95,
    mean_pass_at_k,
    paired_bootstrap_interval,
    paired_t_interval,
    pass_at_1,
    pass_at_k,
    pearson,
    seeds_for_half_width,
    share,
    t_quantile_975,
)


def test_pass_at_k_hand_computed():
    assert pass_at_k(5, 2, 1) == 0.4
    # 1 - C(3, 2) / C(5, 2) = 1 - 3/10
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    # 1 - C(14, 8) / C(16, 8) = 1 - 3003/12870
    assert pass_at_k(16, 2, 8) == pytest.approx(1 - 3003 / 12870)
    # fewer wrong samples than k: a draw of k always holds a correct one
    assert pass_at_k(4, 3, 2) == 1.0


@pytest.mark.parametrize("n,k", [(1, 1), (5, 1), (16, 8), (16, 16)])
def test_pass_at_k_bounds(n, k):
    assert pass_at_k(n, 0, k) == 0.0
    assert pass_at_k(n, n, k) == 1.0


@given(st.integers(1, 30).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_matches_the_combinatorial_formula(args):
    n, c, k = args
    expected = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-9)
    assert pass_at_k(n, c, 1) == pytest.approx(c / n)


def test_pass_at_k_rejects_bad_arguments():
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(4, 5, 1)


def test_mean_pass_at_k_and_pass_at_1():
    assert mean_pass_at_k([(5, 2), (5, 5)], 1) == pytest.approx(0.7)
    # problems weigh equally whatever their sample count: (1/2 + 1/4) / 2
    assert pass_at_1([[True, False], [True, False, False, False]]) == pytest.approx(0.375)
    with pytest.raises(ValueError, match="no samples"):
        pass_at_1([[True], []])


def test_cluster_answers_uses_equivalence_and_first_appearance():
    same = lambda a, b: float(a) == float(b)  # noqa: E731
    assert cluster_answers(["2", "3", "2.0", None, "3"], same) == [0, 1, 0, None, 1]
    assert cluster_answers(["2", "2.0"]) == [0, 1]  # default: string equality


def test_majority_vote_ties_score_the_correct_share():
    assert majority_vote([0, 0, 1], [True, False]) == 1.0
    assert majority_vote([0, 1, 1], [True, False]) == 0.0
    assert majority_vote([0, 1], [True, False]) == 0.5  # right vs wrong tie
    assert majority_vote([0, 1, 2], [True, False, False]) == pytest.approx(1 / 3)
    assert majority_vote([None, None], []) == 0.0  # nobody answered
    assert majority_vote([None, None, 1], [True, False]) == 0.0


def test_no_answer_is_a_vote_that_cannot_be_right():
    # "no answer" x2 beats the right answer x1; abstaining, the right answer wins alone
    assert majority_vote([0, None, None], [True]) == 0.0
    assert majority_vote_abstain([0, None, None], [True]) == 1.0
    # right x1 vs "no answer" x1: a tie, half right; abstaining, right wins
    assert majority_vote([0, None], [True]) == 0.5
    assert majority_vote_abstain([0, None], [True]) == 1.0
    # wrong x1 vs right x1 vs "no answer" x1: a third
    assert majority_vote([0, 1, None], [False, True]) == pytest.approx(1 / 3)
    assert majority_vote_abstain([None, None], []) == 0.0


def test_maj_at_k_counts_abstentions_as_wrong_votes_hand_computed():
    # samples: a (right), no answer, no answer, b (wrong)
    answers, correct = ["a", None, None, "b"], [True, False, False, False]
    # k = 4: "no answer" x2 beats a x1 and b x1 -> 0 (abstaining: a-b tie -> 0.5)
    assert maj_at_k(answers, correct, 4) == 0.0
    assert maj_at_k_abstain(answers, correct, 4) == 0.5
    # k = 2, the 6 subsets: {a,N} x2 -> tie 0.5 each, {a,b} -> 0.5, {N,N} -> 0, {N,b} x2 -> 0 (a tie without a right answer)
    assert maj_at_k(answers, correct, 2) == pytest.approx((0.5 + 0.5 + 0.5) / 6)
    # abstaining: {a,N} x2 -> 1 each, {a,b} -> 0.5, {N,N} -> 0, {N,b} x2 -> 0
    assert maj_at_k_abstain(answers, correct, 2) == pytest.approx((1 + 1 + 0.5) / 6)
    # k = 1 is pass@1 either way: a no-answer sample scores 0 in both
    assert maj_at_k(answers, correct, 1) == maj_at_k_abstain(answers, correct, 1) == pytest.approx(1 / 4)
    # sampled subsets estimate the same expectation
    assert maj_at_k(answers, correct, 2, rng=np.random.default_rng(0), n_draws=4000) == pytest.approx(0.25, abs=0.03)


def test_maj_at_k_exact_over_subsets_hand_computed():
    answers = ["a", "a", "b"]
    correct = [True, True, False]
    # k=3: one vote, a wins
    assert maj_at_k(answers, correct, 3) == 1.0
    # k=1: the vote is the single sample: 2/3
    assert maj_at_k(answers, correct, 1) == pytest.approx(2 / 3)
    # k=2 subsets: {a,a} -> 1, {a,b} -> 0.5 (tie), {a,b} -> 0.5: mean 2/3
    assert maj_at_k(answers, correct, 2) == pytest.approx(2 / 3)
    # majority wrong: subsets of 3 from [a, b, b, b]: {a,b,b} x3 -> 0, {b,b,b} -> 0
    assert maj_at_k(["a", "b", "b", "b"], [True, False, False, False], 3) == 0.0


def test_maj_at_k_clusters_with_equivalence():
    same = lambda a, b: a.replace(" ", "") == b.replace(" ", "")  # noqa: E731
    answers = ["1/2", "1 / 2", "3"]
    correct = [True, True, False]
    # string equality: a three-way tie of which two clusters are right
    assert maj_at_k(answers, correct, 3) == pytest.approx(2 / 3)
    assert maj_at_k(answers, correct, 3, same=same) == 1.0


def test_maj_at_k_sampled_approaches_exact():
    rng = np.random.default_rng(0)
    answers = ["x", "y", "x", "z", "y", "x", None, "y"]
    correct = [True, False, True, False, False, True, False, False]
    exact = maj_at_k(answers, correct, 4)
    sampled = maj_at_k(answers, correct, 4, rng=rng, n_draws=4000)
    assert abs(exact - sampled) < 0.03
    assert 0.0 < exact < 1.0


def test_maj_at_k_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="one verdict per answer"):
        maj_at_k(["a"], [True, False], 1)
    with pytest.raises(ValueError, match="1 <= k <= n"):
        maj_at_k(["a"], [True], 2)


def test_first_attempt_accuracy():
    assert first_attempt_accuracy([True, False, None, True]) == pytest.approx(2 / 3)
    assert first_attempt_accuracy([None, None]) is None


def test_pearson():
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert pearson([1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx(-1.0)
    # hand-computed: x=[1,2,3], y=[1,3,2] -> cov 1, var_x 2, var_y 2 -> 0.5
    assert pearson([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError):
        pearson([1], [1])


def test_share():
    assert share([True, False, False, False]) == 0.25
    assert share([]) is None


def test_t_quantile_975_table_and_expansion():
    assert t_quantile_975(1) == 12.706
    assert t_quantile_975(4) == 2.776
    assert t_quantile_975(30) == 2.042
    # beyond the table: Student t quantiles 2.0211 (df 40), 1.9799 (df 120)
    assert t_quantile_975(40) == pytest.approx(2.0211, abs=5e-4)
    assert t_quantile_975(120) == pytest.approx(1.9799, abs=5e-4)
    with pytest.raises(ValueError, match="df >= 1"):
        t_quantile_975(0)


def test_paired_t_interval_hand_computed():
    # differences 0.10, 0.03, 0.08: mean 0.07, deviations 0.03, -0.04, 0.01 -> sd = sqrt(0.0026 / 2) = 0.036056
    diff = paired_t_interval([0.30, 0.25, 0.29], [0.20, 0.22, 0.21])
    half = 4.303 * math.sqrt(0.0026 / 2) / math.sqrt(3)  # t(0.975, df=2) = 4.303
    assert diff.mean == pytest.approx(0.07)
    assert diff.sd == pytest.approx(math.sqrt(0.0013))
    assert (diff.low, diff.high) == (pytest.approx(0.07 - half), pytest.approx(0.07 + half))
    assert diff.n == 3 and not diff.excludes_zero  # half-width 4.303 * 0.036056 / sqrt(3) = 0.0896 > 0.07
    assert paired_t_interval([0.30, 0.25, 0.29, 0.28], [0.20, 0.22, 0.21, 0.20]).excludes_zero
    one = paired_t_interval([0.3], [0.1])
    assert one.mean == pytest.approx(0.2) and (one.low, one.high, one.sd) == (None, None, None) and not one.excludes_zero
    with pytest.raises(ValueError, match="one value per seed"):
        paired_t_interval([0.1, 0.2], [0.1])


def test_paired_bootstrap_interval_hand_computed():
    rng = np.random.default_rng(0)
    # one stratum, differences [1, 0]: a resample's mean is 0, 0.5 or 1 (prob 1/4, 1/2, 1/4) -> percentiles 0 and 1
    boot = paired_bootstrap_interval([[1.0, 0.0]], [[0.0, 0.0]], rng)
    assert (boot.mean, boot.low, boot.high, boot.n) == (0.5, 0.0, 1.0, 2)
    # constant differences: the interval collapses onto them; two strata average their means (0.1 and 0.3)
    boot = paired_bootstrap_interval([[0.5, 0.5, 0.5], [0.3, 0.3]], [[0.4, 0.4, 0.4], [0.0, 0.0]], rng)
    assert (boot.mean, boot.low, boot.high) == (pytest.approx(0.2), pytest.approx(0.2), pytest.approx(0.2))
    with pytest.raises(ValueError, match="same problems"):
        paired_bootstrap_interval([[0.1]], [[0.1, 0.2]], rng)


def test_seeds_for_half_width_hand_computed():
    # sd 0.036, half-width 0.03: n=8 gives 2.365 * 0.036 / sqrt(8) = 0.0301 (too wide), n=9 gives 2.306 * 0.036 / 3 = 0.0277
    assert seeds_for_half_width(0.036, 0.03) == 9
    # n=2: 12.706 * sd / sqrt(2) <= half-width needs half-width >= 8.98 sd
    assert seeds_for_half_width(0.01, 0.09) == 2
    assert seeds_for_half_width(0.0, 0.01) == 2
    assert seeds_for_half_width(0.05, 0.0) is None
    assert seeds_for_half_width(1.0, 1e-6, max_seeds=50) is None


def test_mean_ci95():
    assert mean_ci95([0.5]) == (0.5, None)
    mean, half = mean_ci95([0.4, 0.6])
    # t(0.975, df=1) * sd / sqrt(2) = 12.706 * 0.1414 / 1.414
    assert mean == pytest.approx(0.5)
    assert half == pytest.approx(12.706 * 0.1)


@settings(max_examples=50)
@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=7), st.data())
def test_maj_at_k_is_a_probability_and_one_answer_is_pass_at_1(answers, data):
    correct = [a == "a" for a in answers]
    k = data.draw(st.integers(1, len(answers)))
    value = maj_at_k(answers, correct, k)
    assert 0.0 <= value <= 1.0
    assert maj_at_k(answers, correct, 1) == pytest.approx(sum(correct) / len(answers))
