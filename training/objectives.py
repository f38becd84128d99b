"""GRPO's pure cores: group advantages, the clipped token loss, the pass-rate filter.

Values in, a value out: no I/O, no model, no globals. The trainer (`training/grpo.py`)
calls these; tests check them against hand-computed numbers.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch


def group_advantages(rewards: torch.Tensor, group_size: int, scale_by_std: bool = True) -> torch.Tensor:
    """Advantage of each rollout within its prompt's group. rewards: `[n_prompts * group_size]`,
    contiguous per prompt, group_size >= 2; scale_by_std=False is Dr. GRPO's mean-only baseline.
    Same shape out; a group of identical rewards yields zeros, never NaN."""
    if group_size < 2:
        raise ValueError(f"group_size={group_size}: a group needs >= 2 rollouts for a baseline (paper: 4).")
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}.")
    grouped = rewards.view(-1, group_size)  # [n_prompts, group_size]
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    if scale_by_std:
        centred = centred / (grouped.std(dim=1, keepdim=True) + 1e-6)
    return centred.view(-1)


def grpo_token_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    beta: float = 0.0,
    aggregation: Literal["token", "sequence"] = "token",
) -> tuple[torch.Tensor, dict[str, float]]:
    """The GRPO loss (a scalar to minimise) and its metrics.

    Inputs: `logprobs` `[batch, n_tokens]` of the completion tokens under the current policy
    (with grad), `old_logprobs` the same under the policy that sampled them (no grad),
    `ref_logprobs` under the frozen reference (None allowed when `beta == 0`), `advantages`
    `[batch]`, `mask` `[batch, n_tokens]` (1 for completion tokens that count, 0 for padding
    and masked-out completions).

    Per token: ratio r = exp(logprob - old_logprob); surrogate = min(r * A, clip(r, 1 - eps_low,
    1 + eps_high) * A); loss = -surrogate + beta * KL, with KL the k3 estimator
    exp(ref - logprob) - (ref - logprob) - 1 (>= 0, unbiased for KL(policy || reference)).
    `aggregation="token"`: mean over all unmasked tokens of the batch (DAPO / Dr. GRPO), so a
    long completion weighs more; `"sequence"`: mean over each completion's tokens, then over
    completions (the original GRPO; `GRPOConfig`'s default, see docs/recipe.md).

    Metrics (floats): `clip_frac` (share of unmasked tokens whose gradient the clip removed),
    `kl` (mean k3 KL over unmasked tokens; 0.0 without a reference), `ratio_mean`, `ratio_max`,
    `n_tokens`. A batch with no unmasked token gives a zero loss that still has a grad_fn.
    """
    if logprobs.shape != old_logprobs.shape or logprobs.shape != mask.shape:
        raise ValueError(
            f"logprobs {tuple(logprobs.shape)}, old_logprobs {tuple(old_logprobs.shape)} and mask "
            f"{tuple(mask.shape)} must share one [batch, n_tokens] shape."
        )
    if advantages.shape != logprobs.shape[:1]:
        raise ValueError(f"advantages {tuple(advantages.shape)} must be [batch] = [{logprobs.shape[0]}].")
    if eps_low < 0 or eps_high < 0:
        raise ValueError(f"eps_low={eps_low}, eps_high={eps_high}: clip ranges must be >= 0 (default 0.2).")
    if beta and ref_logprobs is None:
        raise ValueError(f"beta={beta} needs ref_logprobs (the frozen reference's log-probs); pass them or set beta=0.")
    if aggregation not in ("token", "sequence"):
        raise ValueError(f"aggregation={aggregation!r}: use 'token' or 'sequence'.")

    mask = mask.to(logprobs.dtype)
    adv = advantages.to(logprobs.dtype).unsqueeze(1)  # [batch, 1]
    ratio = torch.exp(logprobs - old_logprobs.detach())  # [batch, n_tokens]
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * adv
    per_token = -torch.minimum(unclipped, clipped)  # [batch, n_tokens]
    if beta and ref_logprobs is not None:
        delta = ref_logprobs.detach() - logprobs
        kl = torch.exp(delta) - delta - 1.0  # [batch, n_tokens]
        per_token = per_token + beta * kl
    elif ref_logprobs is not None:
        with torch.no_grad():
            delta = ref_logprobs - logprobs
            kl = torch.exp(delta) - delta - 1.0
    else:
        kl = None

    n_tokens = mask.sum()
    if aggregation == "token":
        loss = (per_token * mask).sum() / n_tokens.clamp(min=1.0)
    else:
        per_seq_tokens = mask.sum(dim=1)  # [batch]
        seq_loss = (per_token * mask).sum(dim=1) / per_seq_tokens.clamp(min=1.0)
        n_seqs = (per_seq_tokens > 0).to(logprobs.dtype).sum()
        loss = seq_loss.sum() / n_seqs.clamp(min=1.0)

    with torch.no_grad():
        denom = float(n_tokens.clamp(min=1.0))
        # the clip removes the gradient where the clipped term is the (strictly) smaller one
        clip_active = ((ratio < 1.0 - eps_low) & (adv < 0)) | ((ratio > 1.0 + eps_high) & (adv > 0))
        metrics = {
            "clip_frac": float((clip_active.to(mask.dtype) * mask).sum()) / denom,
            "kl": float((kl.detach() * mask).sum()) / denom if kl is not None else 0.0,
            "ratio_mean": float((ratio * mask).sum()) / denom if float(n_tokens) else 1.0,
            "ratio_max": float(ratio.masked_fill(mask == 0, float("-inf")).max()) if float(n_tokens) else 1.0,
            "n_tokens": float(n_tokens),
        }
    return loss, metrics


def filter_by_pass_rate(pass_rates: Sequence[float], low: float = 0.01, high: float = 0.75) -> list[int]:
    """Indices (ascending) of the prompts whose pass rate lies in `[low, high]`.

    ASTRO keeps "moderately difficult" prompts: pass rate of the SFT policy between 1% and
    75%. Prompts always solved or never solved give all-equal groups, hence zero advantage
    and no learning signal. NaN pass rates are dropped.

    >>> filter_by_pass_rate([0.0, 0.5, 1.0, 0.75])
    [1, 3]
    """
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"low={low}, high={high}: need 0 <= low <= high <= 1 (paper: 0.01..0.75).")
    return [idx for idx, rate in enumerate(pass_rates) if low <= float(rate) <= high]


def shape_reward(
    env_reward: float,
    truncated: bool,
    kind: Literal["signed", "binary"] = "signed",
    truncation: Literal["mask", "penalize", "none"] = "mask",
) -> float:
    """The RL reward of one rollout from the environment's 0/1 terminal reward.

    `kind="signed"`: +1 correct, -1 otherwise (ASTRO); `"binary"`: 1/0. A truncated completion
    (cut at the token budget) gets the lowest reward under `"penalize"` (and, being wrong,
    under every option: the verifier gives a truncated completion 0); `"mask"` additionally
    removes its tokens from the loss (the trainer does that, see `loss_mask_weight`).

    >>> shape_reward(1.0, False), shape_reward(0.0, False), shape_reward(1.0, True, "binary", "penalize")
    (1.0, -1.0, 0.0)
    """
    correct = env_reward > 0.5
    if truncated and truncation == "penalize":
        correct = False
    if kind == "signed":
        return 1.0 if correct else -1.0
    if kind == "binary":
        return 1.0 if correct else 0.0
    raise ValueError(f"reward kind={kind!r}: use 'signed' (+1/-1, paper) or 'binary' (1/0).")


def loss_mask_weight(truncated: bool, truncation: Literal["mask", "penalize", "none"] = "mask") -> float:
    """1.0 when a rollout's tokens enter the loss, 0.0 when a truncated one is masked out."""
    return 0.0 if (truncated and truncation == "mask") else 1.0
