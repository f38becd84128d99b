"""LoRA (low-rank adapters, via `peft`) for SFT and GRPO: attach, merge, save a plain model.

With `lora_rank > 0` a trainer freezes the model and trains rank-r adapters on the target
modules (`peft.get_peft_model`); what it saves is always a plain model, so evaluation, vLLM and
`AutoModelForCausalLM` load it as any other:

- the output folder (and every checkpoint) holds the merged weights, W + (alpha / r) * B @ A
  (`merge_lora_state_dict`, computed from a state dict, so a ZeRO-3 gathered one merges too), and
  the adapter itself in `adapter/` (what a resumed run continues from, and what a LoRA-serving
  engine can load);
- a resumed run loads the starting model and the checkpoint's `adapter/`, trainable, so the
  optimizer state matches the parameters it was saved for.

`peft` is imported lazily (the `[lora]` extra): this module imports without it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

ADAPTER_DIR = "adapter"
"""Sub-folder of an output or checkpoint folder that holds the LoRA adapter (`save_pretrained`)."""

_PEFT_PREFIX = "base_model.model."
_LORA_KEY = re.compile(r"^(?P<module>.+)\.(?P<kind>lora_A|lora_B|lora_embedding_A|lora_embedding_B)\.(?P<adapter>[^.]+)(\.weight)?$")


def check_lora(rank: int, alpha: float, dropout: float, target_modules: Sequence[str]) -> None:
    """Raise ValueError naming the flag for a bad LoRA setting (rank 0 turns LoRA off and skips the rest)."""
    if rank < 0:
        raise ValueError(f"lora_rank={rank}: use 0 (no LoRA, full fine-tuning) or a rank >= 1 (e.g. 16).")
    if rank == 0:
        return
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"lora_alpha={alpha}: use a finite number > 0 (often 2 x lora_rank).")
    if not (math.isfinite(dropout) and 0 <= dropout < 1):
        raise ValueError(f"lora_dropout={dropout}: use a value in [0, 1).")
    if isinstance(target_modules, str) or not target_modules or not all(isinstance(t, str) and t for t in target_modules):
        raise ValueError(f"lora_target_modules={target_modules!r}: name module suffixes (e.g. q_proj v_proj) or all-linear.")


def import_peft():
    """The `peft` module, or an ImportError that says how to install it."""
    try:
        import peft
    except ImportError as err:
        raise ImportError("--lora-rank needs peft, which is not installed: pip install 'astro-gym[lora]'.") from err
    return peft


def peft_config(rank: int, alpha: float, dropout: float, target_modules: Sequence[str]):
    """The `peft.LoraConfig` of these settings (causal LM; `("all-linear",)` means every linear layer but the LM head)."""
    peft = import_peft()
    targets = "all-linear" if tuple(target_modules) == ("all-linear",) else list(target_modules)
    return peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, task_type="CAUSAL_LM")


def attach_lora(model, rank: int, alpha: float, dropout: float, target_modules: Sequence[str], adapter_dir: str | Path | None = None):
    """`model` wrapped in a `peft.PeftModel` whose adapters alone are trainable.

    New adapters start at B = 0 (the wrapped model computes what `model` did); with `adapter_dir`
    (a saved adapter, e.g. a checkpoint's `adapter/`) its weights are loaded, trainable. `peft`
    injects the adapters into `model` itself, so a policy that wraps `model` generates with them.
    """
    peft = import_peft()
    if adapter_dir is not None:
        return peft.PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)
    return peft.get_peft_model(model, peft_config(rank, alpha, dropout, target_modules))


def is_lora(model) -> bool:
    """True for a `peft` LoRA model (what `attach_lora` returns)."""
    return hasattr(model, "peft_config") and hasattr(model, "get_base_model")


def lora_scaling(model) -> float:
    """alpha / r of the model's active adapter."""
    config = model.peft_config[getattr(model, "active_adapter", "default")]
    return float(config.lora_alpha) / float(config.r)


def merge_lora_state_dict(state_dict: Mapping[str, Any], scaling: float, adapter: str = "default") -> dict[str, Any]:
    """The plain (transformers) state dict of a PEFT LoRA model's `state_dict`: every adapted weight
    is W + scaling * B @ A (for embeddings (B @ A)^T), adapter tensors are dropped and the PEFT
    prefixes (`base_model.model.`, `.base_layer`) removed. Pure: the input is not modified.

    >>> import torch
    >>> sd = {"base_model.model.fc.base_layer.weight": torch.zeros(2, 2),
    ...       "base_model.model.fc.lora_A.default.weight": torch.tensor([[1.0, 2.0]]),
    ...       "base_model.model.fc.lora_B.default.weight": torch.tensor([[1.0], [0.0]])}
    >>> merge_lora_state_dict(sd, 0.5)["fc.weight"].tolist()
    [[0.5, 1.0], [0.0, 0.0]]
    """
    factors: dict[str, dict[str, Any]] = {}
    plain: dict[str, Any] = {}
    for key, tensor in state_dict.items():
        name = key[len(_PEFT_PREFIX) :] if key.startswith(_PEFT_PREFIX) else key
        match = _LORA_KEY.match(name)
        if match:
            if match["adapter"] == adapter:
                factors.setdefault(match["module"], {})[match["kind"]] = tensor
            continue
        plain[name.replace(".base_layer.", ".")] = tensor
    for module, parts in factors.items():
        if "lora_A" in parts and "lora_B" in parts:
            weight_key = f"{module}.weight"
            base = plain[weight_key]
            delta = parts["lora_B"].float() @ parts["lora_A"].float()  # [out, r] @ [r, in]
            plain[weight_key] = (base.float() + scaling * delta).to(base.dtype)
        elif "lora_embedding_A" in parts and "lora_embedding_B" in parts:
            weight_key = f"{module}.weight"
            base = plain[weight_key]
            delta = (parts["lora_embedding_B"].float() @ parts["lora_embedding_A"].float()).T  # [vocab, dim]
            plain[weight_key] = (base.float() + scaling * delta).to(base.dtype)
        else:
            raise ValueError(f"LoRA factors of {module} are incomplete ({sorted(parts)}): the state dict is not a whole LoRA model's.")
    return plain


def policy_weights(model) -> Iterator[tuple[str, Any]]:
    """(transformers name, tensor) of every weight a plain copy of `model` holds, detached: the live
    parameters of a plain model, the merged weights of a LoRA one (what an inference engine loads)."""
    if not is_lora(model):
        for name, param in model.named_parameters():
            yield name, param.detach()
        return
    import torch

    with torch.no_grad():
        state = {k: v.detach() for k, v in model.state_dict().items()}
        merged = merge_lora_state_dict(state, lora_scaling(model))
    params = {name.replace(".base_layer.", ".") for name, _ in model.get_base_model().named_parameters() if "lora_" not in name}
    for name, tensor in merged.items():
        if name in params:  # tied weights are named once, as in the plain model's named_parameters()
            yield name, tensor


def save_merged(model, out: str | Path, state_dict: Mapping[str, Any] | None = None) -> None:
    """Write `model` to `out` as a plain `save_pretrained` model; a LoRA model is merged first and its
    adapter is also saved to `out/adapter`. `state_dict`: the model's full state dict when the caller
    gathered it (DeepSpeed ZeRO-3), else read from `model`."""
    out = Path(out)
    if not is_lora(model):
        model.save_pretrained(out, state_dict=state_dict) if state_dict is not None else model.save_pretrained(out)
        return
    full = dict(state_dict) if state_dict is not None else dict(model.state_dict())
    merged = merge_lora_state_dict(full, lora_scaling(model))
    base = model.get_base_model()
    base.save_pretrained(out, state_dict=merged)
    model.save_pretrained(out / ADAPTER_DIR, state_dict=full)


__all__ = [
    "ADAPTER_DIR",
    "attach_lora",
    "check_lora",
    "import_peft",
    "is_lora",
    "lora_scaling",
    "merge_lora_state_dict",
    "peft_config",
    "policy_weights",
    "save_merged",
]
