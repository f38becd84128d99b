"""PUCT score, sibling priors and ASTRO's back-up rule on hand-computed numbers."""

import math

import pytest

from search.puct import backup_value, merge_duplicate_priors, puct_score, select_child, sibling_priors


def test_puct_score_hand_computed():
    # 0.5 + 1.0 * 0.25 * sqrt(16) / (1 + 3) = 0.5 + 0.25
    assert puct_score(0.5, 0.25, 16, 3, 1.0) == 0.75
    # c_puct scales only the exploration term: 0.1 + 2 * 0.5 * 3 / 1
    assert puct_score(0.1, 0.5, 9, 0, 2.0) == pytest.approx(3.1)
    # no parent visits: pure exploitation
    assert puct_score(0.3, 0.9, 0, 0, 1.0) == 0.3


def test_logprob_softmax_prior_hand_computed():
    # mean logprobs 0 and -ln 3: weights 1 and 1/3 -> 0.75, 0.25
    assert sibling_priors([0.0, -math.log(3)]) == pytest.approx([0.75, 0.25])
    # temperature 2 halves the log-ratio: weights 1 and 1/sqrt(3)
    w = 1 / math.sqrt(3)
    assert sibling_priors([0.0, -math.log(3)], temperature=2.0) == pytest.approx([1 / (1 + w), w / (1 + w)])
    # shifting all log-probs changes nothing (softmax), and large magnitudes do not overflow
    assert sibling_priors([-1000.0, -1000.0 - math.log(3)]) == pytest.approx([0.75, 0.25])


def test_uniform_prior_and_edge_cases():
    assert sibling_priors([-5.0, -0.1, -2.0], kind="uniform") == pytest.approx([1 / 3] * 3)
    assert sibling_priors([]) == []
    assert sibling_priors([-math.inf, 0.0]) == pytest.approx([0.0, 1.0])
    assert sibling_priors([-math.inf, -math.inf]) == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="logprob_softmax"):
        sibling_priors([0.0], kind="bogus")  # type: ignore[arg-type]


def test_duplicates_merge_their_prior_mass():
    merged = merge_duplicate_priors(["a", "b", "a", "c"], [0.4, 0.3, 0.2, 0.1])
    assert [(t, round(p, 6), m) for t, p, m in merged] == [("a", 0.6, [0, 2]), ("b", 0.3, [1]), ("c", 0.1, [3])]
    assert sum(p for _, p, _ in merged) == pytest.approx(1.0)


def test_backup_rule_hand_computed():
    # (1.0*2 + 0.0*1 + 0.5) / (2 + 1 + 1) = 2.5 / 4
    assert backup_value([1.0, 0.0], [2, 1], 0.5) == 0.625
    # no visited children: Q is the node's own rollout value
    assert backup_value([0.9, 0.1], [0, 0], 0.25) == 0.25
    assert backup_value([], [], 0.4) == 0.4
    # the root has no rollout value: visit-weighted mean of children
    assert backup_value([1.0, 0.0], [3, 1], None) == 0.75
    assert backup_value([0.3], [0], None) == 0.0
    with pytest.raises(ValueError):
        backup_value([1.0], [1, 2], 0.0)


def test_select_child_argmax_and_unvisited_rule():
    # parent N=4: scores 0.5 + 0.2*2/3 = 0.633 ; 0 + 0.8*2/1 = 1.6 -> child 1
    assert select_child([0.5, 0.0], [0.2, 0.8], [2, 0], 4, 1.0) == 1
    # c_puct 0: pure Q, unvisited children count as 0
    assert select_child([0.5, 0.9], [0.5, 0.5], [2, 0], 4, 0.0) == 0
    # ... or as their rollout value when asked
    assert select_child([0.5, 0.9], [0.5, 0.5], [2, 0], 4, 0.0, unvisited_value=[0.0, 0.9]) == 1
    # ties go to the earliest child
    assert select_child([0.0, 0.0], [0.5, 0.5], [0, 0], 1, 1.0) == 0
    with pytest.raises(ValueError):
        select_child([], [], [], 1, 1.0)
