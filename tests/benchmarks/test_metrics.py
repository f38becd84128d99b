import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.metrics import (
    cluster_answers,
    first_attempt_accuracy,
    maj_at_k,
    majority_vote,
    mean_ci95,
    mean_pass_at_k,
    pass_at_1,
    pass_at_k,
    pearson,
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
    assert majority_vote([None, None, 1], [True, False]) == 0.0  # abstentions do not vote


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
