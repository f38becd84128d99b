"""GRPO objectives against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from training.objectives import (
    filter_by_pass_rate,
    group_advantages,
    grpo_token_loss,
    loss_mask_weight,
    shape_reward,
)


def test_identical_rewards_give_zero_advantage():
    advantages = group_advantages(torch.tensor([1.0, 1.0, 0.0, 1.0]), group_size=2)
    assert advantages[:2].tolist() == [0.0, 0.0]
    assert advantages[2] < 0 < advantages[3]


def test_all_equal_groups_are_exactly_zero_never_nan():
    for value in (-1.0, 0.0, 1.0):
        adv = group_advantages(torch.full((8,), value), group_size=4)
        assert adv.tolist() == [0.0] * 8
        assert not torch.isnan(adv).any()


def test_group_advantages_hand_computed():
    # group [1, -1, -1, -1]: mean -0.5, centred [1.5, -0.5, -0.5, -0.5], sample std = 1.0
    adv = group_advantages(torch.tensor([1.0, -1.0, -1.0, -1.0]), group_size=4)
    expected = [1.5 / (1 + 1e-6)] + [-0.5 / (1 + 1e-6)] * 3
    assert adv.tolist() == pytest.approx(expected, abs=1e-6)
    # Dr. GRPO: mean only
    dr = group_advantages(torch.tensor([1.0, -1.0, -1.0, -1.0, 0.0, 2.0, 0.0, 2.0]), group_size=4, scale_by_std=False)
    assert dr.tolist() == pytest.approx([1.5, -0.5, -0.5, -0.5, -1.0, 1.0, -1.0, 1.0])


def test_group_advantages_rejects_bad_groups():
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(torch.zeros(4), group_size=1)
    with pytest.raises(ValueError, match="groups of 3"):
        group_advantages(torch.zeros(4), group_size=3)


def _loss(lp, old, adv, mask=None, **kw):
    lp = torch.tensor(lp, dtype=torch.float64, requires_grad=True)
    old = torch.tensor(old, dtype=torch.float64)
    mask = torch.ones_like(old) if mask is None else torch.tensor(mask, dtype=torch.float64)
    loss, metrics = grpo_token_loss(lp, old, kw.pop("ref", None), torch.tensor(adv, dtype=torch.float64), mask, **kw)
    return lp, loss, metrics


def test_ratio_one_loss_is_minus_mean_advantage_per_token():
    # ratio == 1 everywhere: token aggregation = -(sum_i A_i * n_i) / sum_i n_i
    lp, loss, metrics = _loss([[-1.0, -2.0, -0.5], [-0.3, -0.1, -0.7]], [[-1.0, -2.0, -0.5], [-0.3, -0.1, -0.7]],
                              [2.0, -1.0], mask=[[1, 1, 1], [1, 0, 0]])
    assert loss.item() == pytest.approx(-(2.0 * 3 - 1.0 * 1) / 4)
    assert metrics["clip_frac"] == 0.0 and metrics["ratio_mean"] == pytest.approx(1.0)
    loss.backward()
    # d loss / d logprob_t = -A * ratio / n_tokens for unmasked tokens, 0 for masked ones
    assert lp.grad.flatten().tolist() == pytest.approx([-0.5, -0.5, -0.5, 0.25, 0.0, 0.0])


def test_sequence_aggregation_weights_completions_equally():
    lp, loss, _ = _loss([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0] * 3] * 2, [2.0, -1.0],
                        mask=[[1, 1, 1], [1, 0, 0]], aggregation="sequence")
    assert loss.item() == pytest.approx(-(2.0 + -1.0) / 2)
    loss.backward()
    assert lp.grad.flatten().tolist() == pytest.approx([-1 / 3, -1 / 3, -1 / 3, 0.5, 0.0, 0.0])


def test_clipping_positive_advantage_caps_ratio_and_kills_gradient():
    # ratio = e^0.5 ~ 1.65 > 1.2 with A > 0: surrogate = 1.2 * A, no gradient
    lp, loss, metrics = _loss([[0.5]], [[0.0]], [1.0])
    assert loss.item() == pytest.approx(-1.2)
    assert metrics["clip_frac"] == 1.0
    loss.backward()
    assert lp.grad.item() == 0.0


def test_clipping_does_not_bind_on_the_pessimistic_side():
    # ratio ~1.65 with A < 0: min(r*A, 1.2*A) = r*A, so the unclipped term keeps its gradient
    lp, loss, metrics = _loss([[0.5]], [[0.0]], [-1.0])
    assert loss.item() == pytest.approx(math.exp(0.5))
    assert metrics["clip_frac"] == 0.0
    loss.backward()
    assert lp.grad.item() == pytest.approx(math.exp(0.5))


def test_asymmetric_clip_low():
    # ratio = e^-1 ~ 0.37 < 1 - 0.1 with A < 0: surrogate = 0.9 * A
    lp, loss, metrics = _loss([[-1.0]], [[0.0]], [-2.0], eps_low=0.1, eps_high=0.3)
    assert loss.item() == pytest.approx(0.9 * 2.0)
    assert metrics["clip_frac"] == 1.0
    # the same ratio with eps_high irrelevant; A > 0 -> unclipped r*A is the min
    _, loss2, metrics2 = _loss([[-1.0]], [[0.0]], [2.0], eps_low=0.1, eps_high=0.3)
    assert loss2.item() == pytest.approx(-2.0 * math.exp(-1.0))
    assert metrics2["clip_frac"] == 0.0


def test_kl_term_hand_computed_and_zero_at_reference():
    ref = torch.tensor([[-1.0, -1.0]], dtype=torch.float64)
    lp, loss, metrics = _loss([[-1.0, -1.5]], [[-1.0, -1.5]], [0.0], beta=0.5, ref=ref)
    # k3 at delta = ref - lp = [0, 0.5]: [0, e^0.5 - 1.5]
    k3 = math.exp(0.5) - 0.5 - 1.0
    assert metrics["kl"] == pytest.approx(k3 / 2)
    assert loss.item() == pytest.approx(0.5 * k3 / 2)
    with pytest.raises(ValueError, match="ref_logprobs"):
        _loss([[0.0]], [[0.0]], [1.0], beta=0.1)


def test_zero_advantages_with_beta_zero_give_zero_gradient():
    lp, loss, _ = _loss([[-0.2, -3.0], [-1.0, -0.1]], [[-0.1, -2.0], [-1.5, -0.1]], [0.0, 0.0])
    loss.backward()
    assert loss.item() == 0.0
    assert torch.count_nonzero(lp.grad) == 0


def test_empty_mask_gives_finite_zero_loss():
    lp, loss, metrics = _loss([[-1.0, -2.0]], [[-1.0, -2.0]], [1.0], mask=[[0, 0]])
    assert loss.item() == 0.0 and math.isfinite(loss.item())
    loss.backward()
    assert metrics["n_tokens"] == 0.0


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="advantages"):
        grpo_token_loss(torch.zeros(2, 3), torch.zeros(2, 3), None, torch.zeros(3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="aggregation"):
        grpo_token_loss(torch.zeros(2, 3), torch.zeros(2, 3), None, torch.zeros(2), torch.ones(2, 3), aggregation="x")


def test_filter_by_pass_rate_keeps_the_band_inclusive():
    rates = [0.0, 0.005, 0.01, 0.3, 0.75, 0.76, 1.0, float("nan")]
    assert filter_by_pass_rate(rates) == [2, 3, 4]
    assert filter_by_pass_rate(rates, low=0.0, high=1.0) == [0, 1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="low"):
        filter_by_pass_rate(rates, low=0.8, high=0.5)


def test_shape_reward_and_truncation_options():
    assert shape_reward(1.0, False, "signed") == 1.0
    assert shape_reward(0.0, False, "signed") == -1.0
    assert shape_reward(1.0, False, "binary") == 1.0
    assert shape_reward(0.0, False, "binary") == 0.0
    assert shape_reward(1.0, True, "signed", "penalize") == -1.0
    assert shape_reward(1.0, True, "signed", "mask") == 1.0
    assert loss_mask_weight(True, "mask") == 0.0
    assert loss_mask_weight(True, "penalize") == 1.0
    assert loss_mask_weight(False, "mask") == 1.0
    with pytest.raises(ValueError, match="signed"):
        shape_reward(1.0, False, "ternary")
