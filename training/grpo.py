"""GRPO of a policy in the environment: `astro grpo --model M --problems P --out DIR`.

One step: pick `prompts_per_step` problems, sample `group_size` completions of each with the
policy (temperature 1), replay every completion as an episode of the Gymnasium environment
(`training.rollout`), whose terminal reward is the only reward, shape it (+1/-1 as ASTRO, or
1/0), normalise advantages within each group, and minimise the clipped GRPO loss
(`training.objectives.grpo_token_loss`, averaged per completion by default) with AdamW.

Before training, a difficulty filter samples `pass_rate_samples` completions per problem with
the starting policy and keeps the problems whose pass rate lies in [pass_rate_low,
pass_rate_high] (ASTRO: 1%..75%); `OUT/filter.json` records how many survive.

Outputs in `OUT/`: the final model and tokenizer (`save_pretrained`), `grpo_config.json`,
`filter.json`, `grpo_summary.json`, per-step metrics in `metrics.jsonl` (one line per step),
scalars sent where `--report-to` says (TensorBoard events in `OUT/tb`, a W&B run in `OUT/wandb`, or
none: `grpo/reward_mean`, `grpo/pass_rate`, `grpo/completion_len`,
`grpo/backtracks`, `grpo/kl`, `grpo/clip_frac`, `grpo/entropy`, `grpo/step_time`, ...), and
checkpoints in `OUT/checkpoints/step-*` (`training.checkpoint`). Rerunning the same command
resumes from the last checkpoint with the same problem order and sampling seeds. A NaN or inf
loss stops the run (NonFiniteLossError) before the bad update, keeping the last checkpoint.

ASTRO's RL: group size 4, reward +1/-1, temperature 1.0, LR 2e-7, batch 256 prompts, 80 warmup
steps, on 8.7K prompts of pass rate 1%..75%; clip range and KL weight are not given (ours:
0.2 and 0). Our defaults are sized for the embedded few-million-parameter model.
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, Sequence

from agents.chat import ChatConfig, ChatPrompter
from astro_env.errors import UserError
from astro_env.hub import check_model_source
from astro_env.registry import GRPO_ENGINES, POLICIES, component_config_field
from astro_env.task import task_config_class
from search.executor import ExecutorConfig, Shard, make_shards, map_shards
from training import checkpoint as ckpt
from training.lora import ADAPTER_DIR, attach_lora, check_lora, is_lora, policy_weights, save_merged
from training.optim import make_adamw
from training.tracking import MetricsTracker, ReportTo, check_report_to
from training.objectives import (
    filter_by_pass_rate,
    group_advantages,
    grpo_token_loss,
    loss_mask_weight,
    shape_reward,
)
from training.rollout import Rollout, RolloutConfig, collect_rollouts

try:  # one home for the error type (the SFT trainer raises it too)
    from training.sft import NonFiniteLossError
except ImportError:  # pragma: no cover - sft absent
    class NonFiniteLossError(FloatingPointError):
        """Raised when a training loss is NaN or inf; the message names the last good checkpoint."""


@dataclass(frozen=True)
class GRPOConfig:
    """GRPO of a policy on verifiable problems, rollouts through the Gymnasium environment."""

    model: str = ""
    """Model directory or hub name to start from (e.g. the output of `astro sft`)."""
    out: str = "runs/grpo"
    """Output directory: final model, checkpoints/, tb/, metrics.jsonl, filter.json, grpo_summary.json."""
    problems: str = ""
    """Problem set for `astro_env.loaders.load_problems` (a .jsonl path or a benchmark name); empty: `task` generates them."""
    task: str = "countdown"
    """Task whose generator makes the problems when `problems` is empty (its own config: --task-config.*)."""
    task_config: Any = component_config_field("task", lambda name: task_config_class(name) if name else None)
    """The task's own Config (None: its defaults)."""
    n_problems: int | None = None
    """Use only the first n problems of the set (None: all); with `problems` empty, how many `task` generates (None: 256)."""
    n_steps: int = 100
    """GRPO steps (one batch of rollouts each)."""
    group_size: int = 4
    """Rollouts per prompt, G (paper: 4)."""
    prompts_per_step: int = 8
    """Prompts per step (paper: 256); a step trains on prompts_per_step * group_size rollouts."""
    lr: float = 1e-5
    """Peak AdamW learning rate (paper, 70B: 2e-7)."""
    warmup_steps: int = 0
    """Linear warmup steps, constant afterwards (paper: 80)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 disables)."""
    eps_low: float = 0.2
    """Lower clip range of the importance ratio (ours: 0.2; the paper gives none)."""
    eps_high: float = 0.2
    """Upper clip range of the importance ratio (DAPO's clip-higher raises it, e.g. 0.28)."""
    beta: float = 0.0
    """KL weight to a frozen copy of the starting policy (0: no reference model is built)."""
    scale_by_std: bool = True
    """Divide advantages by the group's std (False: Dr. GRPO's mean-only baseline)."""
    aggregation: Literal["token", "sequence"] = "sequence"
    """Loss aggregation: per completion first, then over completions (each rollout weighs the same), or
    the mean over all tokens of the batch ("token", DAPO's). On ASTRO traces failing completions are the
    long ones, so "token" puts most of the advantage weight on failures and GRPO learns to stop searching:
    measured on the embedded Countdown default, token-level GRPO lowered ASTRO's pass@1 and its backtracks,
    per-sequence raised both (docs/recipe.md)."""
    reward: Literal["signed", "binary"] = "signed"
    """RL reward from the environment's verdict: +1/-1 (paper) or 1/0."""
    truncation: Literal["mask", "penalize", "none"] = "penalize"
    """Completions cut at max_new_tokens: "penalize" gives them the wrong-answer reward (teaches a small model to
    finish), "mask" drops their tokens from the loss (DAPO's overlong filtering), "none" keeps the env reward."""
    n_epochs: int = 1
    """Optimisation passes over each batch of rollouts (1: ratio = 1, old log-probs from the same forward)."""
    n_minibatches: int = 1
    """Optimizer steps per pass, each on a slice of the batch."""
    temperature: float = 1.0
    """Sampling temperature (paper: 1.0); the loss uses log-probs at the same temperature."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    max_new_tokens: int = 256
    """Most tokens per completion."""
    pass_rate_samples: int = 8
    """Completions per problem for the difficulty filter (0: no filter)."""
    pass_rate_low: float = 0.01
    """Keep problems whose starting pass rate is >= this (paper: 1%)."""
    pass_rate_high: float = 0.75
    """Keep problems whose starting pass rate is <= this (paper: 75%)."""
    if_none_kept: Literal["error", "train_all"] = "error"
    """When no problem survives the filter: stop with an error, or train on all problems (noted in filter.json)."""
    engine: str = "astro"
    """Trainer, a registered GRPO engine (`astro.grpo_engines`): "astro" (the in-house loop, faster on CPU), "trl"
    (TRL's GRPOTrainer, which scales with accelerate, DeepSpeed and vLLM; see training.grpo_trl), a plug-in's name,
    or package.module:function. The same settings, filter and outputs either way (see `GRPOEngine`)."""
    backend: str = "transformers"
    """Rollout backend: any registered policy backend that meets `agents.base.TrainablePolicyAgent` (transformers:
    the live model; vllm: an engine whose weights are synced after every step; a plug-in's)."""
    device: str = "auto"
    """torch device for training (auto: first GPU, else CPU)."""
    max_batch_size: int = 64
    """Most sequences generated together."""
    max_steps_per_episode: int = 50
    """Environment step limit of one episode (paper: depth 50)."""
    save_every: int = 50
    """Checkpoint every N steps (0: only the final model)."""
    keep_checkpoints: int = 2
    """Newest checkpoints kept."""
    log_every: int = 1
    """Log metrics every N steps."""
    report_to: ReportTo = field(default="tensorboard", compare=False)
    """Where the grpo/* scalars go: "tensorboard" (OUT/tb), "wandb" (a W&B run in OUT/wandb; WANDB_MODE=offline
    keeps it on disk) or "none" (TRL's names; see training.tracking). `--engine trl` passes it to TRL's report_to."""
    resume: bool = True
    """Resume from the newest checkpoint in OUT/checkpoints when there is one."""
    seed: int = 0
    """Seed of the problem order, the sampling and the torch initialisation."""
    threads: int = 0
    """torch threads on CPU (0: leave torch's default)."""
    executor: ExecutorConfig = field(default_factory=ExecutorConfig, compare=False)
    """Where the difficulty filter's rollouts run (local, or shards on a Ray cluster whose workers load `model`);
    the pass rates do not depend on it."""
    chat: ChatConfig = field(default_factory=ChatConfig)
    """Chat template and system prompt the rollout prompts are rendered with (the same as SFT's and
    evaluation's); a template is saved with the output tokenizer."""
    lora_rank: int = 0
    """LoRA rank (0: full fine-tuning). With a rank only the adapters train (peft, the [lora] extra; both engines);
    the output and the checkpoints hold the merged model (what evaluation and vLLM load), the adapter in adapter/."""
    lora_alpha: float = 16.0
    """LoRA scale numerator: an adapter adds (lora_alpha / lora_rank) * B @ A to its weight."""
    lora_dropout: float = 0.0
    """Dropout on the adapters' inputs while training (0 keeps the scored log-probs those of the sampler)."""
    lora_target_modules: tuple[str, ...] = ("all-linear",)
    """Modules that get adapters: name suffixes (q_proj v_proj ...) or all-linear (every linear layer but the LM head)."""

    def __post_init__(self) -> None:
        check_lora(self.lora_rank, self.lora_alpha, self.lora_dropout, self.lora_target_modules)
        if self.group_size < 2:
            raise UserError(f"group_size={self.group_size}: GRPO needs >= 2 rollouts per prompt (paper: 4).")
        if self.prompts_per_step < 1 or self.n_steps < 1:
            raise UserError(f"prompts_per_step={self.prompts_per_step}, n_steps={self.n_steps}: use >= 1 for both.")
        for name in ("lr", "weight_decay", "max_grad_norm", "eps_low", "eps_high", "beta", "temperature", "top_p", "pass_rate_low", "pass_rate_high"):
            if not math.isfinite(getattr(self, name)):
                raise UserError(f"{name}={getattr(self, name)} must be a finite number.")
        if not self.lr > 0:
            raise UserError(f"lr={self.lr} must be > 0 (e.g. 1e-5).")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p={self.top_p}: use a value in (0, 1] (paper: 1.0).")
        if self.weight_decay < 0 or self.max_grad_norm < 0 or self.warmup_steps < 0:
            raise UserError(f"weight_decay={self.weight_decay}, max_grad_norm={self.max_grad_norm}, warmup_steps={self.warmup_steps}: use >= 0.")
        if self.threads < 0:
            raise UserError(f"threads={self.threads}: use >= 1, or 0 to leave torch's default.")
        if self.max_new_tokens < 1 or self.max_batch_size < 1 or self.max_steps_per_episode < 1:
            raise UserError("max_new_tokens, max_batch_size and max_steps_per_episode must be >= 1.")
        if self.pass_rate_samples < 0:
            raise UserError(f"pass_rate_samples={self.pass_rate_samples}: use >= 0 (0: no difficulty filter).")
        if self.n_problems is not None and self.n_problems < 1:
            raise UserError(f"n_problems={self.n_problems}: use >= 1, or None for all problems.")
        if self.n_epochs < 1 or self.n_minibatches < 1:
            raise UserError(f"n_epochs={self.n_epochs}, n_minibatches={self.n_minibatches}: use >= 1 (default 1).")
        if self.n_minibatches > self.prompts_per_step * self.group_size:
            raise UserError(f"n_minibatches={self.n_minibatches} exceeds the {self.prompts_per_step * self.group_size} rollouts per step.")
        if not 0 <= self.pass_rate_low <= self.pass_rate_high <= 1:
            raise UserError(f"pass-rate window [{self.pass_rate_low}, {self.pass_rate_high}]: need 0 <= low <= high <= 1.")
        if self.temperature <= 0:
            raise UserError(f"temperature={self.temperature}: GRPO samples, use > 0 (paper: 1.0).")
        if self.eps_low < 0 or self.eps_high < 0 or self.beta < 0:
            raise UserError(f"eps_low={self.eps_low}, eps_high={self.eps_high}, beta={self.beta}: use >= 0.")
        for name, value, options in (
            ("reward", self.reward, ("signed", "binary")),
            ("truncation", self.truncation, ("mask", "penalize", "none")),
            ("aggregation", self.aggregation, ("token", "sequence")),
            ("if_none_kept", self.if_none_kept, ("error", "train_all")),
        ):
            if value not in options:
                raise UserError(f"{name}={value!r}: use one of {options}.")
        GRPO_ENGINES.check(self.engine)  # UserError naming the registered engines
        POLICIES.check(self.backend)
        config_cls = task_config_class(self.task) if self.task else None
        if self.task_config is None and config_cls is not None:
            object.__setattr__(self, "task_config", config_cls())
        elif self.task_config is not None and (config_cls is None or not isinstance(self.task_config, config_cls)):
            raise UserError(f"task_config is a {type(self.task_config).__name__}; task {self.task!r} takes "
                             f"{config_cls.__name__ if config_cls else 'no config'}.")
        check_report_to(self.report_to)

    @property
    def rollouts_per_step(self) -> int:
        return self.prompts_per_step * self.group_size


# ----------------------------------------------------------------------------- tensors


@dataclass(frozen=True)
class TokenBatch:
    """Rollouts as tensors. Prompts are left-padded to `n_prompt_cols` columns and completions
    right-padded after them, so completion token j of every row sits at column n_prompt_cols + j."""

    input_ids: Any  # [batch, n_prompt_cols + n_completion_cols]
    attention_mask: Any  # [batch, n_prompt_cols + n_completion_cols]
    position_ids: Any  # [batch, n_prompt_cols + n_completion_cols]
    completion_mask: Any  # [batch, n_completion_cols] 1 where a completion token enters the loss
    advantages: Any  # [batch]
    n_prompt_cols: int

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def select(self, idx) -> "TokenBatch":
        """The rows `idx` (a LongTensor or slice)."""
        return TokenBatch(self.input_ids[idx], self.attention_mask[idx], self.position_ids[idx],
                          self.completion_mask[idx], self.advantages[idx], self.n_prompt_cols)


def collate(
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    advantages: Sequence[float],
    loss_weights: Sequence[float],
    pad_id: int,
) -> TokenBatch:
    """A TokenBatch of prompt + completion rows; `loss_weights` 0 masks a row out of the loss."""
    import torch

    n = len(prompt_ids)
    if not (n == len(completion_ids) == len(advantages) == len(loss_weights)) or n == 0:
        raise ValueError("collate needs one prompt, completion, advantage and loss weight per row (and >= 1 row).")
    width_p = max(len(p) for p in prompt_ids)
    width_c = max(1, max(len(c) for c in completion_ids))
    input_ids = torch.full((n, width_p + width_c), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width_p + width_c), dtype=torch.long)
    comp_mask = torch.zeros((n, width_c), dtype=torch.float32)
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        input_ids[i, width_p - len(p) : width_p] = torch.as_tensor(list(p), dtype=torch.long)
        attention[i, width_p - len(p) : width_p + len(c)] = 1
        if c:
            input_ids[i, width_p : width_p + len(c)] = torch.as_tensor(list(c), dtype=torch.long)
            comp_mask[i, : len(c)] = float(loss_weights[i])
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return TokenBatch(input_ids, attention, positions, comp_mask, torch.tensor(list(advantages), dtype=torch.float32), width_p)


def completion_logprobs(model, batch: TokenBatch, temperature: float = 1.0, with_entropy: bool = False):
    """(log-probs `[batch, n_completion_cols]` of the completion tokens, mean entropy or None).

    Only the completion columns go through the LM head (`logits_to_keep`). Log-probs are of
    softmax(logits / temperature), the distribution the tokens were sampled from.
    """
    import torch

    device = next(model.parameters()).device
    n_comp = batch.completion_mask.shape[1]
    # Without left padding (every prompt the same length) only right padding remains, which a
    # causal model never attends to from the scored positions: drop the mask for the fast path.
    left_padded = not bool(batch.attention_mask[:, : batch.n_prompt_cols].all())
    out = model(
        input_ids=batch.input_ids.to(device),
        attention_mask=batch.attention_mask.to(device) if left_padded else None,
        position_ids=batch.position_ids.to(device) if left_padded else None,
        use_cache=False,
        logits_to_keep=n_comp + 1,
    )
    logits = out.logits[:, -(n_comp + 1) : -1, :].float()  # [batch, n_comp, vocab]: position t predicts token t + 1
    if temperature != 1.0:
        logits = logits / temperature
    targets = batch.input_ids[:, batch.n_prompt_cols :].to(device)  # [batch, n_comp]
    log_probs = torch.log_softmax(logits, dim=-1)
    token_lp = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            mask = (batch.attention_mask[:, batch.n_prompt_cols :] > 0).to(device).float()
            ent = -(log_probs.exp() * log_probs).sum(-1)  # [batch, n_comp]
            entropy = float((ent * mask).sum() / mask.sum().clamp(min=1.0))
    return token_lp, entropy


def grpo_update(model, optimizer, batch: TokenBatch, config: GRPOConfig, ref_model=None, lr: float | None = None) -> dict[str, float]:
    """Metrics of `config.n_epochs` x `config.n_minibatches` clipped-GRPO optimizer steps on `batch`.

    With one epoch and one minibatch the old log-probs are the detached log-probs of the same
    forward (ratio 1, the clip inactive, one forward per step); otherwise they are computed once,
    before the first update, and the importance ratio and clip act across the later updates.
    Raises NonFiniteLossError before any update whose loss or gradient norm is NaN or inf.
    """
    import torch

    device = next(model.parameters()).device
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    model.train()
    ref_lp = None
    if config.beta > 0:
        if ref_model is None:
            raise ValueError("beta > 0 needs ref_model (a frozen copy of the starting policy).")
        with torch.no_grad():
            ref_lp, _ = completion_logprobs(ref_model, batch, config.temperature)
    single = config.n_epochs == 1 and config.n_minibatches == 1
    old_lp = None
    if not single:
        with torch.no_grad():
            old_lp, _ = completion_logprobs(model, batch, config.temperature)

    n = len(batch)
    sums: dict[str, float] = {}
    n_updates = 0
    entropy = None
    for _epoch in range(config.n_epochs):
        order = torch.arange(n) if config.n_minibatches == 1 else torch.randperm(n)
        for chunk in torch.tensor_split(order, config.n_minibatches):
            mb = batch.select(chunk)
            lp, ent = completion_logprobs(model, mb, config.temperature, with_entropy=entropy is None)
            entropy = ent if entropy is None else entropy
            mb_old = lp.detach() if single else old_lp[chunk.to(old_lp.device)]
            mb_ref = None if ref_lp is None else ref_lp[chunk.to(ref_lp.device)]
            loss, metrics = grpo_token_loss(
                lp, mb_old, mb_ref, mb.advantages.to(device), mb.completion_mask.to(device),
                eps_low=config.eps_low, eps_high=config.eps_high, beta=config.beta, aggregation=config.aggregation,
            )
            if not torch.isfinite(loss):
                raise NonFiniteLossError(f"GRPO loss is {float(loss.detach())}; stopped before the update")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm > 0:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm))
            else:
                grad_norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None))
            if not math.isfinite(grad_norm):
                optimizer.zero_grad(set_to_none=True)
                raise NonFiniteLossError(f"GRPO gradient norm is {grad_norm}; stopped before the update")
            optimizer.step()
            n_updates += 1
            metrics = {**metrics, "loss": float(loss.detach()), "grad_norm": grad_norm}
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value
    out = {key: value / n_updates for key, value in sums.items()}
    out["entropy"] = entropy if entropy is not None else float("nan")
    return out


# ----------------------------------------------------------------------------- helpers


def rollout_batch(rollouts: Sequence[Rollout], config: GRPOConfig, pad_id: int) -> tuple[list[Rollout], TokenBatch]:
    """(rollouts with their advantages set, the TokenBatch to train on). Rollouts are grouped,
    contiguous per prompt, `config.group_size` each."""
    import dataclasses

    import torch

    rewards = torch.tensor([shape_reward(r.reward, r.truncated, config.reward, config.truncation) for r in rollouts])
    advantages = group_advantages(rewards, config.group_size, config.scale_by_std).tolist()
    rollouts = [dataclasses.replace(r, advantage=float(a)) for r, a in zip(rollouts, advantages)]
    batch = collate(
        [r.prompt_token_ids for r in rollouts],
        [r.completion_token_ids for r in rollouts],
        advantages,
        [loss_mask_weight(r.truncated, config.truncation) for r in rollouts],
        pad_id,
    )
    return rollouts, batch


def problem_order(n_problems: int, step: int, per_step: int, seed: int) -> list[int]:
    """Indices of the problems used at `step`: a seeded permutation per pass over the set, so
    the order depends only on (seed, step) and a resumed run sees the same problems."""
    out = []
    for position in range(step * per_step, (step + 1) * per_step):
        epoch, offset = divmod(position, n_problems)
        perm = list(range(n_problems))
        random.Random(seed * 1_000_003 + epoch).shuffle(perm)
        out.append(perm[offset])
    return out


def rollout_metrics(rollouts: Sequence[Rollout]) -> dict[str, float]:
    """grpo/reward_mean (env reward), pass_rate, completion_len (tokens), truncated_frac, n_steps, backtracks."""
    n = max(len(rollouts), 1)
    out = {
        "reward_mean": sum(r.reward for r in rollouts) / n,
        "pass_rate": sum(1.0 for r in rollouts if r.correct) / n,
        "completion_len": sum(len(r.completion_token_ids) for r in rollouts) / n,
        "truncated_frac": sum(1.0 for r in rollouts if r.truncated) / n,
        "episode_steps": sum(r.n_steps for r in rollouts) / n,
    }
    backtracks = count_backtracks([r.completion for r in rollouts])
    if backtracks is not None:
        out["backtracks"] = backtracks
    return out


def count_backtracks(completions: Sequence[str]) -> float | None:
    """Mean backtracks + restarts per completion by the trace parser, None when it is unavailable."""
    try:
        from search.verbalize import parse_trace
    except ImportError:
        return None
    total = 0
    for text in completions:
        try:
            parsed = parse_trace(text)
            total += int(parsed.n_backtracks) + int(getattr(parsed, "n_restarts", 0))
        except Exception:  # the parser promises never to raise; a metric must not kill a run
            continue
    return total / max(len(completions), 1)


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_policy_model(path: str, device):
    """(model, tokenizer) from a `save_pretrained` directory or hub name, fp32 on CPU, bf16 on GPUs that support it."""
    import torch

    from agents.hf import load_causal_lm

    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    return load_causal_lm(path, dtype, device, flag="--model")


def load_training_problems(config: GRPOConfig):
    """The problems of `config`: a problem file / benchmark name, or generated by `config.task` with its config."""
    if config.problems:
        from astro_env.loaders import load_problems

        return load_problems(config.problems, limit=config.n_problems)
    import astro_env

    task = astro_env.get_task(config.task, config.task_config)
    if not callable(getattr(task, "generate", None)):
        raise UserError(f"task {config.task!r} generates no problems: pass --problems FILE_OR_NAME.")
    n = config.n_problems if config.n_problems is not None else 256
    return list(task.generate(n, config.seed))


def build_rollout_policy(config: GRPOConfig, model, model_path: str):
    """The rollout policy of `config.backend` (`agents.build_policy`), synced to the live `model`.

    Any registered backend serves if it meets `agents.base.TrainablePolicyAgent`: GRPO calls
    `sync_weights(model)` once here and after every optimiser step, so every rollout comes from
    the weights being trained (the transformers backend adopts the live model; vLLM loads them).
    A backend without `sync_weights` raises UserError naming what it lacks.
    """
    from agents import build_policy
    from agents.base import PolicyConfig, TrainablePolicyAgent

    policy = build_policy(PolicyConfig(
        backend=config.backend, model=model_path, device=config.device, max_batch_size=config.max_batch_size, seed=config.seed,
        chat=config.chat,
    ))
    if not isinstance(policy, TrainablePolicyAgent):
        missing = [m for m in ("sync_weights", "propose_steps", "complete") if not callable(getattr(policy, m, None))]
        raise UserError(
            f"--backend {config.backend}: {type(policy).__name__} cannot serve GRPO rollouts, it has no {', '.join(missing)}() "
            "(see agents.base.TrainablePolicyAgent)."
        )
    sync_engine(policy, model)
    return policy


def sync_engine(policy, model) -> None:
    """`policy.sync_weights(model)`: the rollout backend samples from the weights being trained from now on.

    For a LoRA model, a backend with its own copy of the weights that takes named tensors
    (`load_weights`, vLLM) gets the merged weights under the plain model's names
    (`training.lora.policy_weights`); any other backend is synced to the model peft injected the
    adapters into (`get_base_model()`), so a backend over the live model samples with them."""
    if is_lora(model):
        load = getattr(policy, "load_weights", None)
        if callable(load):
            load(policy_weights(model))
            return
        model = model.get_base_model()
    policy.sync_weights(model)


def _rollout_config(config: GRPOConfig, n: int, seed: int) -> RolloutConfig:
    return RolloutConfig(
        n_samples=n,
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        seed=seed,
        max_steps_per_episode=config.max_steps_per_episode,
        chat=config.chat,
    )


def make_optimizer(model, config: GRPOConfig):
    """AdamW over the model's trainable parameters (`training.optim.make_adamw`)."""
    return make_adamw(model.parameters(), config.lr, config.weight_decay)


def estimate_pass_rates(policy, tokenizer, problems, config: GRPOConfig) -> list[float]:
    """Pass rate of each problem under `policy`: the share of `config.pass_rate_samples` rollouts
    the environment rewards as correct (batches of `prompts_per_step` problems, one executor
    shard each, seeded by their position, so `config.executor` does not change the rates; Ray
    workers rebuild the policy from its saved weights, `policy.config.model`)."""
    rates: list[float] = [0.0] * len(problems)

    def collect(shard: Shard, part_rates: list[float]) -> None:
        rates[shard.start : shard.start + len(shard)] = part_rates

    shards = make_shards(list(problems), config.prompts_per_step, lambda p: p.id)
    work = functools.partial(pass_rate_shard, tokenizer=tokenizer, config=config)
    map_shards(shards, work, policy, config.executor, collect)
    return rates


def pass_rate_shard(policy, shard: Shard, tokenizer, config: GRPOConfig) -> list[float]:
    """Pass rates of one shard's problems (an executor's `work`), seeded by the shard's start as in one process."""
    n = config.pass_rate_samples
    part = list(shard.items)
    rollouts = collect_rollouts(policy, tokenizer, part, _rollout_config(config, n, seed=config.seed * 7919 + 17 + shard.start))
    return [sum(1.0 for r in rollouts[i * n : (i + 1) * n] if r.correct) / n for i in range(len(part))]


# ----------------------------------------------------------------------------- loop


def train_grpo(config: GRPOConfig) -> Path:
    """Directory `config.out` holding the GRPO-trained model and tokenizer (loadable with the Auto* classes).

    The paper's recipe in four parts: start from the SFT policy (or resume, `_start`), keep the
    prompts whose pass rate lies in the window (`difficulty_filter`), then hand both to the
    engine `config.engine` names (`GRPOEngine`): the in-house `astro_engine` repeats `grpo_step`
    (G rollouts per prompt in the environment, group advantages, clipped token loss) and writes
    metrics and checkpoints (`_TrainingLog`); `trl` runs TRL's GRPOTrainer on the same problems
    and settings.

    Resumes from the newest loadable checkpoint in OUT/checkpoints when `config.resume`. Raises
    NonFiniteLossError (keeping the last good checkpoint, no update applied) on a NaN or inf
    loss, and UserError when no problem survives the difficulty filter.
    """
    start = _start(config)
    problems = load_training_problems(config)
    if not problems:
        raise UserError(f"no problems loaded from {config.problems or f'the {config.task} generator'}.")
    kept = difficulty_filter(start.policy, start.tokenizer, problems, config, Path(config.out), resumed=start.resume_from is not None)
    engine, _ = GRPO_ENGINES.load(config.engine)
    return engine(config, start, kept, len(problems))


class GRPOEngine(Protocol):
    """A GRPO trainer: the seam `GRPOConfig.engine` chooses through the `astro.grpo_engines` entry points.

    `train_grpo` hands it what every engine shares: the started policy (`GRPOStart`: the model
    to train, its tokenizer, the rollout policy, the checkpoint to resume), the problems the
    difficulty filter kept, and how many there were before it. The engine trains and writes its
    outputs under `config.out` (the final model and tokenizer, `metrics.jsonl`, checkpoints,
    `grpo_summary.json`), and returns `config.out`. The in-house engine is `astro_engine`; TRL's is
    `training.grpo_trl.trl_engine`; an outside package declares its own in the same group.
    """

    def __call__(self, config: GRPOConfig, start: "GRPOStart", kept: Sequence[Any], n_problems: int) -> Path:
        ...


def astro_engine(config: GRPOConfig, start: "GRPOStart", kept: Sequence[Any], n_problems: int) -> Path:
    """The in-house GRPO loop (`grpo_step` per step): the `astro` entry of `astro.grpo_engines`."""
    optimizer = make_optimizer(start.model, config)
    step = 0
    if start.resume_from is not None:
        step = ckpt.load_checkpoint(start.resume_from, optimizer=optimizer).step
        print(f"grpo: resuming from {start.resume_from} (step {step})", flush=True)
    ref_model = None
    if config.beta > 0:
        ref_model, _ = load_policy_model(config.model, start.device)  # the starting policy, also after a resume
        ref_model.eval().requires_grad_(False)
    log = _TrainingLog(config, Path(config.out), step)
    last_good = start.resume_from
    try:
        while step < config.n_steps:
            record = grpo_step(start, optimizer, kept, step, config, ref_model, last_good)
            step += 1
            log.write(record)
            if config.save_every and (step % config.save_every == 0 or step == config.n_steps):
                last_good = ckpt.save_checkpoint(
                    Path(config.out) / "checkpoints", ckpt.TrainerState(step=step, data_position=step, metrics=_finite(record)),
                    start.model, start.tokenizer, optimizer, keep_last=config.keep_checkpoints,
                    extra_json={"grpo_config.json": asdict(config), "grpo_inputs.json": {"model_fingerprint": start.fingerprint}},
                )
    finally:
        log.close()

    out = Path(config.out)
    save_merged(start.model, out)  # a LoRA model merged, its adapter in OUT/adapter
    start.tokenizer.save_pretrained(out)
    from astro_env.jsonl import write_json

    write_json(out / "grpo_summary.json", {"n_steps": step, "n_problems": n_problems, "n_kept": len(kept), "final": _finite(log.last)})
    return out


@dataclass
class GRPOStart:
    """The policy GRPO starts from: the model (SFT output, or the newest loadable checkpoint), its
    tokenizer, the rollout backend over it, and what a resume must match."""

    model: Any
    tokenizer: Any
    policy: Any
    device: Any
    resume_from: Path | None
    fingerprint: str


def _start(config: GRPOConfig) -> GRPOStart:
    """Validate the inputs, pick the checkpoint to resume (refusing one of another starting model), load the model."""
    import torch

    from astro_env.jsonl import write_json

    if not config.model:
        raise ValueError("GRPOConfig.model is empty: pass --model DIR (e.g. the output of `astro sft`).")
    check_model_source(config.model, "--model")
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_root = out / "checkpoints"
    ckpt.remove_stale_temporaries(ckpt_root)
    fingerprint = ckpt.model_fingerprint(config.model)
    resume_from = ckpt.latest_loadable_checkpoint(ckpt_root) if config.resume else None
    if resume_from is not None:
        saved = resume_from / "grpo_inputs.json"
        if saved.is_file() and json.loads(saved.read_text(encoding="utf-8")).get("model_fingerprint") != fingerprint:
            raise UserError(
                f"{resume_from} was trained from another starting model than --model {config.model}; "
                "pass --no-resume to start over, or use another --out."
            )
    write_json(out / "grpo_config.json", asdict(config))
    torch.manual_seed(config.seed)
    device = _device(config.device)
    model_path = str(resume_from) if resume_from is not None else config.model
    lora_in_house = config.lora_rank and config.engine != "trl"  # TRL attaches its own (peft_config)
    model, tokenizer = load_policy_model(config.model if lora_in_house else model_path, device)
    prompter = ChatPrompter(config.chat, tokenizer)
    if prompter.active:  # the output model carries the template it was trained in
        tokenizer.chat_template = prompter.template
    policy = build_rollout_policy(config, model, model_path)
    if lora_in_house:
        # peft injects the adapters into `model` itself, so a backend over the live model samples with them
        model = attach_lora(model, config.lora_rank, config.lora_alpha, config.lora_dropout, config.lora_target_modules,
                            adapter_dir=None if resume_from is None else resume_from / ADAPTER_DIR)
        sync_engine(policy, model)
    return GRPOStart(model, tokenizer, policy, device, resume_from, fingerprint)


def difficulty_filter(policy, tokenizer, problems: list, config: GRPOConfig, out: Path, resumed: bool) -> list:
    """The problems GRPO trains on: those whose pass rate under the starting policy lies in
    [pass_rate_low, pass_rate_high] (paper: 1%-75%), decided once and saved in OUT/filter.json
    (a resumed run reads the verdict back). With none kept, `if_none_kept="train_all"` keeps all."""
    from astro_env.jsonl import write_json

    filter_path = out / "filter.json"
    if filter_path.is_file() and resumed:
        kept_ids = set(json.loads(filter_path.read_text(encoding="utf-8"))["kept_ids"])
        kept = [p for p in problems if p.id in kept_ids]
    elif config.pass_rate_samples > 0:
        rates = estimate_pass_rates(policy, tokenizer, problems, config)
        kept = [problems[i] for i in filter_by_pass_rate(rates, config.pass_rate_low, config.pass_rate_high)]
        summary = {
            "n_problems": len(problems),
            "n_kept": len(kept),
            "low": config.pass_rate_low,
            "high": config.pass_rate_high,
            "n_samples": config.pass_rate_samples,
            "mean_pass_rate": sum(rates) / len(rates),
            "n_never_solved": sum(1 for r in rates if r < config.pass_rate_low),
            "n_too_easy": sum(1 for r in rates if r > config.pass_rate_high),
            "kept_ids": [p.id for p in kept],
            "pass_rates": {p.id: r for p, r in zip(problems, rates)},
        }
        write_json(filter_path, summary)
        print(f"grpo: difficulty filter kept {len(kept)}/{len(problems)} problems with pass rate in "
              f"[{config.pass_rate_low}, {config.pass_rate_high}] over {config.pass_rate_samples} samples "
              f"(mean {summary['mean_pass_rate']:.3f})", flush=True)
    else:
        kept = list(problems)
        write_json(filter_path, {"n_problems": len(problems), "n_kept": len(kept), "n_samples": 0, "kept_ids": [p.id for p in kept]})
    if not kept and config.if_none_kept == "train_all" and not resumed:
        kept = list(problems)
        summary = json.loads(filter_path.read_text(encoding="utf-8"))
        write_json(filter_path, {**summary, "fallback": "train_all", "kept_ids": [p.id for p in kept]})
        print(f"grpo: no problem survived the filter; training on all {len(kept)} (--if-none-kept train_all)", flush=True)
    if not kept:
        raise ValueError(
            f"no problem survived the difficulty filter [{config.pass_rate_low}, {config.pass_rate_high}]; "
            "widen --pass-rate-low/--pass-rate-high, use a stronger starting model, or disable it with --pass-rate-samples 0."
        )
    return kept


def grpo_step(start: GRPOStart, optimizer, kept: list, step: int, config: GRPOConfig, ref_model, last_good: Path | None) -> dict[str, Any]:
    """One GRPO update: `prompts_per_step` prompts, `group_size` environment rollouts each, group
    advantages, the clipped token loss, then a weight sync to the rollout engine. Returns the metrics."""
    t0 = time.perf_counter()
    batch_problems = [kept[i] for i in problem_order(len(kept), step, config.prompts_per_step, config.seed)]
    rollouts = collect_rollouts(
        start.policy, start.tokenizer, batch_problems, _rollout_config(config, config.group_size, seed=config.seed * 1_000_003 + step),
    )
    t_gen = time.perf_counter() - t0
    pad_id = start.tokenizer.pad_token_id if start.tokenizer.pad_token_id is not None else 0
    rollouts, batch = rollout_batch(rollouts, config, pad_id)
    lr = config.lr * min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else config.lr
    try:
        update = grpo_update(start.model, optimizer, batch, config, ref_model=ref_model, lr=lr)
    except NonFiniteLossError as exc:
        raise NonFiniteLossError(
            f"step {step + 1}: {exc}. Last good checkpoint: {last_good or 'none (no checkpoint yet)'}; "
            "lower --lr, raise --max-grad-norm protection, or check the data."
        ) from None
    sync_engine(start.policy, start.model)
    return {"step": step + 1, **rollout_metrics(rollouts), **update, "lr": lr,
            "gen_time": t_gen, "step_time": time.perf_counter() - t0}


class _TrainingLog:
    """metrics.jsonl (exactly one line per completed step, also across resumes), TensorBoard, stdout."""

    def __init__(self, config: GRPOConfig, out: Path, step: int) -> None:
        from astro_env.jsonl import JsonlWriter, read_jsonl

        self.config = config
        self.last: dict[str, Any] = {}
        path = out / "metrics.jsonl"
        previous = [r for r in read_jsonl(path) if int(r.get("step", 0)) <= step]
        if path.exists():
            path.unlink()
        self.metrics = JsonlWriter(path)
        for record in previous:
            self.metrics.write(record)
        self.tracker = MetricsTracker(config.report_to, out, "grpo", asdict(config), purge_step=step + 1 if step else None)

    def write(self, record: dict[str, Any]) -> None:
        self.last = record
        step = record["step"]
        if not (self.config.log_every and step % self.config.log_every == 0):
            return
        self.metrics.write(record)
        self.tracker.log({f"grpo/{key}": value for key, value in record.items() if key != "step"}, step)
        print(f"grpo step {step}/{self.config.n_steps}: reward {record['reward_mean']:.3f} "
              f"len {record['completion_len']:.1f} loss {record['loss']:.4f} "
              f"clip {record['clip_frac']:.3f} {record['step_time']:.2f}s", flush=True)

    def close(self) -> None:
        self.metrics.close()
        self.tracker.close()


def _finite(record: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in record.items() if isinstance(v, (int, float)) and math.isfinite(float(v))}


__all__ = [
    "GRPOConfig",
    "GRPOEngine",
    "GRPOStart",
    "astro_engine",
    "build_rollout_policy",
    "NonFiniteLossError",
    "TokenBatch",
    "collate",
    "completion_logprobs",
    "grpo_update",
    "rollout_batch",
    "train_grpo",
]
