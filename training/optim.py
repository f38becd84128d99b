"""The optimiser every trainer of the project uses (SFT, GRPO, the embedded pre-training)."""

from __future__ import annotations

from typing import Iterable


def make_adamw(params: Iterable, lr: float, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999)):
    """AdamW over the trainable `params`: the fused kernel (one op for all tensors, CPU and CUDA)
    where torch has one for their device, else the multi-tensor one."""
    import torch

    params = [p for p in params if p.requires_grad]
    kwargs = dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.AdamW(params, foreach=True, **kwargs)
