"""Behaviour cloning (SFT) of a policy on traces: `astro sft --traces T --model M --out DIR` (`astro.commands.sft`).

Causal-LM loss on prompt + completion + EOS (with a chat template, `--chat-template`: the
rendered prompt + completion + the end-of-turn token), on all tokens (the paper's choice) or on
the completion only; AdamW with a linear-warmup cosine schedule; gradient accumulation; one
epoch by default. The loop runs through `accelerate.Accelerator`, so the same module trains
single-process on a CPU and under `accelerate launch` (DDP, DeepSpeed ZeRO-2/3; configs in
`training/configs/`), with bf16 autocast on GPUs that support it.

ASTRO fine-tunes Llama-3.1-70B-Instruct for 1 epoch, LR 3e-6, cosine schedule, max length
8,192, no prompt masking. Our defaults keep the schedule and the loss but use an LR suited to
the few-million-parameter embedded model; pass `--lr 3e-6` for a 70B checkpoint.

Outputs in `OUT/`: the final model and tokenizer (`save_pretrained`), `sft_config.json`,
`sft_summary.json`, the scalars `sft/loss`, `sft/lr`, `sft/tokens_per_s` (TensorBoard events in
`OUT/tb`, a W&B run in `OUT/wandb`, or none: `--report-to`),
and checkpoints in `OUT/checkpoints/step-*` (see `training.checkpoint`). With `--lora-rank R` only
LoRA adapters train (`training.lora`); the model saved is the merged one, the adapter beside it in
`adapter/`. Rerunning the same
command resumes from the last checkpoint and replays the same data order, so a killed run
ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from agents.chat import ChatConfig, ChatPrompter
from astro_env.errors import MissingFileError, UserError
from astro_env.hub import check_model_source
from astro_env.loaders import file_sha256
from training import checkpoint as ckpt
from training.lora import ADAPTER_DIR, attach_lora, check_lora, save_merged
from training.optim import make_adamw
from training.tracking import MetricsTracker, ReportTo, check_report_to
from training.data import (
    IGNORE_INDEX,
    TokenizedExample,
    batch_plan,
    collate,
    epoch_order,
    load_traces,
    pack_examples,
    tokenize_traces,
)


@dataclass(frozen=True)
class SFTConfig:
    """Supervised fine-tuning of a causal LM on traces.jsonl."""

    traces: str = ""
    """traces.jsonl written by `astro linearize` (fields `prompt`, `completion`)."""
    model: str = ""
    """Model directory or hub name to start from (e.g. the output of `astro pretrain`)."""
    out: str = ""
    """Output directory: final model, checkpoints/, tb/, sft_config.json, sft_summary.json."""
    loss_on: Literal["all", "completion"] = "all"
    """Tokens that carry loss: "all" (paper: no prompt masking) or "completion" (prompt labels = -100)."""
    n_epochs: int = 1
    """Passes over the traces (paper: 1, on purpose, as an initialisation for RL)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (None: run all epochs). Also sizes the LR schedule."""
    batch_size: int = 8
    """Examples (or packed blocks) per micro-batch per process."""
    grad_accum: int = 1
    """Micro-batches per optimizer step (per process)."""
    lr: float = 5e-4
    """Peak learning rate (paper: 3e-6 for a 70B model; the embedded few-M model wants ~1e-3)."""
    warmup_ratio: float = 0.05
    """Fraction of the optimizer steps spent in linear warmup."""
    min_lr_ratio: float = 0.0
    """Cosine floor as a fraction of `lr`."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""
    adam_betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip (0 disables)."""
    max_length: int = 2048
    """Longest example in tokens (paper: 8,192); with packing, the block length."""
    overflow: Literal["truncate", "drop"] = "drop"
    """What to do with longer examples (counted in sft_summary.json). Truncation cuts the answer off."""
    packing: bool = False
    """Concatenate examples into `max_length` blocks (no padding; attention crosses examples)."""
    seed: int = 0
    """Seeds the data order (per epoch) and torch."""
    mixed_precision: Literal["auto", "no", "bf16"] = "auto"
    """"auto": bf16 autocast on CUDA when supported (or what `accelerate launch` was told), else fp32."""
    save_every: int = 100
    """Checkpoint every N optimizer steps (0: never)."""
    keep_last: int = 2
    """Checkpoints kept (0: all)."""
    resume: bool = True
    """Continue from the newest checkpoint in OUT/checkpoints when there is one."""
    log_every: int = 10
    """TensorBoard/console logging interval in optimizer steps (0: no logging)."""
    report_to: ReportTo = field(default="tensorboard", compare=False)
    """Where the sft/* scalars go (not part of a stage key: it does not change the model): "tensorboard" (OUT/tb), "wandb" (a W&B run in OUT/wandb; WANDB_MODE=offline
    keeps it on disk) or "none" (TRL's names; see training.tracking)."""
    chat: ChatConfig = field(default_factory=ChatConfig)
    """Chat template and system prompt the prompts are rendered with (what generation sees, token for token);
    a template is saved with the output tokenizer."""
    lora_rank: int = 0
    """LoRA rank (0: full fine-tuning). With a rank only the adapters train (peft, the [lora] extra); the output
    and the checkpoints hold the merged model (loadable as any), the adapter in adapter/."""
    lora_alpha: float = 16.0
    """LoRA scale numerator: an adapter adds (lora_alpha / lora_rank) * B @ A to its weight."""
    lora_dropout: float = 0.0
    """Dropout on the adapters' inputs while training."""
    lora_target_modules: tuple[str, ...] = ("all-linear",)
    """Modules that get adapters: name suffixes (q_proj v_proj ...) or all-linear (every linear layer but the LM head)."""

    def __post_init__(self) -> None:
        check_lora(self.lora_rank, self.lora_alpha, self.lora_dropout, self.lora_target_modules)
        for name in ("n_epochs", "batch_size", "grad_accum", "max_length"):
            if getattr(self, name) < 1:
                raise UserError(f"{name}={getattr(self, name)} must be >= 1.")
        if self.max_steps is not None and self.max_steps < 1:
            raise UserError(f"max_steps={self.max_steps}: use None (all epochs) or >= 1.")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f"lr={self.lr} must be a finite number > 0 (paper: 3e-6 for 70B).")
        for name in ("weight_decay", "max_grad_norm"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UserError(f"{name}={value} must be a finite number >= 0.")
        if len(self.adam_betas) != 2 or not all(math.isfinite(b) and 0 <= b < 1 for b in self.adam_betas):
            raise UserError(f"adam_betas={self.adam_betas}: use two numbers in [0, 1), e.g. (0.9, 0.95).")
        if not 0 <= self.warmup_ratio < 1:
            raise UserError(f"warmup_ratio={self.warmup_ratio} must lie in [0, 1).")
        if not 0 <= self.min_lr_ratio <= 1:
            raise UserError(f"min_lr_ratio={self.min_lr_ratio} must lie in [0, 1].")
        if self.loss_on not in ("all", "completion"):
            raise UserError(f"loss_on={self.loss_on!r}: use 'all' or 'completion'.")
        if self.overflow not in ("truncate", "drop"):
            raise UserError(f"overflow={self.overflow!r}: use 'truncate' or 'drop'.")
        if self.mixed_precision not in ("auto", "no", "bf16"):
            raise UserError(f"mixed_precision={self.mixed_precision!r}: use 'auto', 'no' or 'bf16'.")
        check_report_to(self.report_to)
        if self.save_every < 0 or self.log_every < 0 or self.keep_last < 0:
            raise UserError("save_every, log_every and keep_last must be >= 0 (0 disables).")

    def fingerprint(self) -> dict[str, Any]:
        """The fields that fix the data order and the schedule: a resumed run must match them."""
        skip = {"resume", "save_every", "keep_last", "log_every", "report_to", "mixed_precision", "out"}
        return {k: v for k, v in asdict(self).items() if k not in skip}


class NonFiniteLossError(FloatingPointError):
    """Raised when a training loss is NaN or inf; the message names the last good checkpoint."""


def cosine_lr(step: int, total_steps: int, warmup_steps: int, peak_lr: float, min_lr_ratio: float = 0.0) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warmup to `peak_lr`, then cosine to `min_lr_ratio * peak_lr`.

    >>> cosine_lr(0, 10, 2, 1.0), cosine_lr(1, 10, 2, 1.0), cosine_lr(2, 10, 2, 1.0)
    (0.5, 1.0, 1.0)
    """
    if warmup_steps > 0 and step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    floor = min_lr_ratio * peak_lr
    return floor + (peak_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lm_loss(logits, labels):
    """`(loss_sum, n_tokens)`: summed next-token cross-entropy of `logits` `[B, L, V]` against
    `labels` `[B, L]` shifted by one (IGNORE_INDEX skipped), in float32, and the count of scored tokens."""
    import torch.nn.functional as F

    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    loss_sum = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return loss_sum, int((shift_labels != IGNORE_INDEX).sum())


def _step_hook(step: int) -> None:
    """Called after each optimizer step (a seam for tests that simulate a killed run)."""


def _mean_loss(accelerator, loss_sum, n_tokens: int) -> float:
    """Token-weighted mean loss over all processes (each passes its own sum and count)."""
    import torch

    both = torch.stack([loss_sum.detach().float(), torch.tensor(float(n_tokens), device=loss_sum.device)])
    if accelerator.num_processes > 1:
        both = accelerator.reduce(both, reduction="sum")
    return float(both[0]) / max(1.0, float(both[1]))


def _scored_tokens(labels) -> int:
    return int((labels[:, 1:] != IGNORE_INDEX).sum())


class _MicroBatches:
    """The run's micro-batches in their fixed order, built on demand (index = data position)."""

    def __init__(self, examples: Sequence[TokenizedExample], config: SFTConfig, pad_token_id: int) -> None:
        self.examples = examples
        self.config = config
        self.pad_token_id = pad_token_id
        if config.packing:
            blocks = []
            for epoch in range(config.n_epochs):
                order = epoch_order(len(examples), config.seed, epoch)
                ids, labels = pack_examples(examples, order, config.max_length, config.loss_on)
                blocks += [(ids[i : i + config.batch_size], labels[i : i + config.batch_size]) for i in range(0, len(ids), config.batch_size)]
            self._blocks = blocks
            self._plan = None
        else:
            self._blocks = None
            self._plan = batch_plan(len(examples), config.batch_size, config.n_epochs, config.seed)

    def __len__(self) -> int:
        return len(self._blocks) if self._blocks is not None else len(self._plan)

    def __getitem__(self, position: int) -> dict[str, Any]:
        if self._blocks is not None:
            ids, labels = self._blocks[position]
            return {"input_ids": ids, "attention_mask": None, "labels": labels}
        return collate([self.examples[i] for i in self._plan[position]], self.pad_token_id, self.config.loss_on)


def _mixed_precision(setting: str) -> str | None:
    import torch

    if setting != "auto":
        return setting
    if "ACCELERATE_MIXED_PRECISION" in os.environ:
        return None  # `accelerate launch` decides
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def process_group_backend(environ: Mapping[str, str], cuda_available: bool) -> str | None:
    """The torch.distributed backend to ask accelerate for, or None to leave it its choice.

    "gloo" when `accelerate launch` started this process for DeepSpeed (ACCELERATE_USE_DEEPSPEED
    and a LOCAL_RANK) on a machine without CUDA: accelerate picks a backend only for GPU-like
    devices and otherwise initialises DeepSpeed with none, then counts one process, so every
    rank would train alone. DeepSpeed runs on the CPU with DS_ACCELERATOR=cpu over gloo.

    >>> process_group_backend({"ACCELERATE_USE_DEEPSPEED": "true", "LOCAL_RANK": "0"}, cuda_available=False)
    'gloo'
    >>> process_group_backend({"ACCELERATE_USE_DEEPSPEED": "true", "LOCAL_RANK": "0"}, cuda_available=True) is None
    True
    """
    launched = environ.get("LOCAL_RANK", "-1") != "-1"
    deepspeed = environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
    return "gloo" if launched and deepspeed and not cuda_available else None


def _process_group_kwargs() -> list:
    import torch
    from accelerate.utils import InitProcessGroupKwargs

    backend = process_group_backend(os.environ, torch.cuda.is_available())
    return [InitProcessGroupKwargs(backend=backend)] if backend else []


def _load(model_path: str):
    """fp32 master weights (bf16 comes from autocast), no KV cache while training."""
    import torch

    from agents.hf import load_causal_lm

    model, tokenizer = load_causal_lm(model_path, torch.float32, "cpu", flag="--model")
    model.config.use_cache = False
    return model, tokenizer


def _adamw(params, config: SFTConfig):
    return make_adamw(params, config.lr, config.weight_decay, tuple(config.adam_betas))


INPUTS_FILE = "sft_inputs.json"
"""Written into every checkpoint: what the run trains on (traces sha256, base model, settings)."""


def training_inputs(config: SFTConfig) -> dict[str, Any]:
    """What decides a run's result: the traces file's sha256, the base model's fingerprint, the data/schedule settings.

    A checkpoint records this as `sft_inputs.json`; resuming it under different inputs is
    refused (`check_inputs_match`). Raises `MissingFileError` when the traces file is missing.
    """
    traces = Path(config.traces)
    if not traces.is_file():
        raise MissingFileError(f"traces file {traces} does not exist; pass the traces.jsonl written by `astro linearize`.")
    return {
        "traces_sha256": file_sha256(traces),
        "model_fingerprint": ckpt.model_fingerprint(config.model),
        "settings": json.loads(json.dumps(config.fingerprint())),
    }


def check_inputs_match(checkpoint: Path, inputs: Mapping[str, Any]) -> None:
    """Raise UserError when `checkpoint` was trained on other traces, another base model or other settings.

    Checkpoints written before inputs were recorded pass (the settings check in `sft_config.json` still applies).
    """
    saved_path = checkpoint / INPUTS_FILE
    if not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text(encoding="utf-8"))
    what = []
    if saved.get("traces_sha256") != inputs["traces_sha256"]:
        what.append(f"the traces file changed (sha256 {str(saved.get('traces_sha256'))[:12]}... then, {inputs['traces_sha256'][:12]}... now)")
    if saved.get("model_fingerprint") != inputs["model_fingerprint"]:
        what.append("the base model changed")
    changed = sorted(k for k in set(saved.get("settings", {})) | set(inputs["settings"]) if saved.get("settings", {}).get(k) != inputs["settings"].get(k))
    if changed:
        what.append(f"settings changed ({', '.join(changed)})")
    if what:
        raise UserError(
            f"{checkpoint} cannot be resumed: {'; '.join(what)}; pass --no-resume to start over, or use another --out."
        )


def _check_resume_compatible(out: Path, config: SFTConfig) -> None:
    saved_path = out / "sft_config.json"
    if not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text(encoding="utf-8"))
    current = json.loads(json.dumps(config.fingerprint()))
    diff = {k: (saved.get(k), v) for k, v in current.items() if saved.get(k) != v}
    if diff:
        raise UserError(
            f"{out} holds checkpoints of a run with different settings {diff} (saved, now); "
            "use another --out, or pass --no-resume to start over."
        )


def train_sft(config: SFTConfig) -> Path:
    """Directory `config.out` holding the fine-tuned model and tokenizer (loadable with the Auto* classes).

    Resumes from the newest checkpoint in `OUT/checkpoints` that loads (a damaged newer one is
    skipped with a warning) when `config.resume`; a checkpoint trained on another traces file
    (by sha256), base model or settings is refused with a UserError. Raises
    NonFiniteLossError (keeping the last good checkpoint) when a loss is NaN or inf, and
    ValueError when the traces yield no optimizer step.
    """
    import torch
    from accelerate import Accelerator

    for name in ("traces", "model", "out"):
        if not getattr(config, name):
            raise UserError(f"--{name} is empty: SFT needs its traces, the model it starts from and an output folder.")
    check_model_source(config.model, "--model")
    traces = load_traces(config.traces)  # bad input fails here, before anything is written
    inputs = training_inputs(config)
    out = Path(config.out)
    ckpt_root = out / "checkpoints"
    accelerator = Accelerator(
        gradient_accumulation_steps=config.grad_accum,
        mixed_precision=_mixed_precision(config.mixed_precision),
        kwargs_handlers=_process_group_kwargs(),
    )
    is_main = accelerator.is_main_process
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise RuntimeError(
            f"{launched} processes were launched but accelerate sees {accelerator.num_processes} "
            f"(distributed type {accelerator.distributed_type}); they would train independently and overwrite "
            "each other's output. Launch with `accelerate launch --config_file training/configs/...` on GPUs, "
            "or run a single process."
        )

    resume_from = ckpt.latest_loadable_checkpoint(ckpt_root) if config.resume else None
    if resume_from is not None:
        _check_resume_compatible(out, config)
        check_inputs_match(resume_from, inputs)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        ckpt.remove_stale_temporaries(ckpt_root)
        if not config.resume and ckpt_root.is_dir():  # starting over: old checkpoints must not be resumed later
            shutil.rmtree(ckpt_root)
        (out / "sft_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
    torch.manual_seed(config.seed)
    if config.lora_rank:  # the starting model, then new adapters or the checkpoint's (trainable)
        model, tokenizer = _load(config.model)
        model = attach_lora(model, config.lora_rank, config.lora_alpha, config.lora_dropout, config.lora_target_modules,
                            adapter_dir=None if resume_from is None else resume_from / ADAPTER_DIR)
    else:
        model, tokenizer = _load(str(resume_from) if resume_from is not None else config.model)

    prompter = ChatPrompter(config.chat, tokenizer)
    examples, stats = tokenize_traces(traces, tokenizer, config.max_length, config.overflow, prompter=prompter)
    if prompter.active:  # the output model carries the template it was trained in (`auto` and servers find it)
        tokenizer.chat_template = prompter.template
    if not examples:
        raise UserError(f"no example of {config.traces} fits max_length={config.max_length}; raise it or use --overflow truncate.")
    batches = _MicroBatches(examples, config, tokenizer.pad_token_id)
    per_step = config.grad_accum * accelerator.num_processes  # micro-batches per optimizer step, all processes
    total_steps = len(batches) // per_step
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    if total_steps < 1:
        raise UserError(
            f"{len(batches)} micro-batches are fewer than one optimizer step needs ({per_step}); "
            "lower --batch-size/--grad-accum or add traces."
        )
    warmup_steps = int(config.warmup_ratio * total_steps)

    optimizer = _adamw(model.parameters(), config)
    ds_plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if ds_plugin is not None:  # fill the JSON's "auto" values that accelerate cannot infer without a DataLoader
        ds_config = ds_plugin.deepspeed_config
        ds_config["train_micro_batch_size_per_gpu"] = config.batch_size
        if ds_config.get("gradient_clipping") == "auto":
            ds_config["gradient_clipping"] = config.max_grad_norm
    model, optimizer = accelerator.prepare(model, optimizer)

    step, position = 0, 0
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from, optimizer=optimizer, accelerator=accelerator)
        step, position = state.step, state.data_position
        if is_main:
            print(f"sft: resuming from {resume_from} (step {step}, micro-batch {position})", flush=True)

    tracker = MetricsTracker(config.report_to, out, "sft", asdict(config)) if is_main and config.log_every else None

    last_good = resume_from
    device = accelerator.device
    log_loss = torch.zeros((), device=device)
    log_tokens = log_seen = 0
    seen_tokens = 0
    last_loss = float("nan")
    t_start = t_log = time.perf_counter()
    model.train()
    rank, world = accelerator.process_index, accelerator.num_processes
    try:
        while step < total_steps:
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, total_steps, warmup_steps, config.lr, config.min_lr_ratio)
            window = [batches[position + j * world + rank] for j in range(config.grad_accum)]
            # every process knows the whole step's micro-batches, so the loss is normalised by the step's
            # token count over all processes: the same gradient as one process running them all
            step_tokens = max(1, sum(_scored_tokens(batches[position + i]["labels"]) for i in range(per_step)))
            for batch in window:
                with accelerator.accumulate(model):
                    input_ids = batch["input_ids"].to(device, non_blocking=True)
                    mask = batch["attention_mask"]
                    mask = None if mask is None else mask.to(device, non_blocking=True)
                    logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits
                    loss_sum, n_scored = lm_loss(logits, batch["labels"].to(device, non_blocking=True))
                    if not torch.isfinite(loss_sum):
                        raise NonFiniteLossError(
                            f"non-finite loss ({loss_sum.item()}) at optimizer step {step + 1}, micro-batch {position}; "
                            + (f"the last good checkpoint is {last_good}" if last_good else "no checkpoint was written yet")
                            + " (lower --lr, check the traces, or use --mixed-precision no)."
                        )
                    # accelerate divides by grad_accum and data parallelism averages over processes:
                    # the step's loss is the token-weighted mean over all its micro-batches
                    accelerator.backward(loss_sum * (config.grad_accum * world / step_tokens))
                    if accelerator.sync_gradients and config.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                log_loss += loss_sum.detach()
                log_tokens += n_scored
                n_in = input_ids.numel() if mask is None else int(batch["attention_mask"].sum())
                log_seen += n_in
                seen_tokens += n_in
            position += per_step
            step += 1
            _step_hook(step)

            if config.log_every and (step % config.log_every == 0 or step == total_steps):
                now = time.perf_counter()
                last_loss = _mean_loss(accelerator, log_loss, log_tokens)
                metrics = {
                    "sft/loss": last_loss,
                    "sft/lr": optimizer.param_groups[0]["lr"],
                    "sft/tokens_per_s": log_seen * world / max(now - t_log, 1e-9),
                }
                if tracker is not None:
                    tracker.log(metrics, step)
                if is_main:
                    print(f"sft: step {step}/{total_steps} loss {last_loss:.4f} lr {metrics['sft/lr']:.2e} "
                          f"tok/s {metrics['sft/tokens_per_s']:.0f}", flush=True)
                log_loss.zero_()
                log_tokens = log_seen = 0
                t_log = now
            if config.save_every and step % config.save_every == 0 and step < total_steps:
                last_good = ckpt.save_checkpoint(
                    ckpt_root,
                    ckpt.TrainerState(step=step, data_position=position, metrics={"sft/loss": last_loss}),
                    model,
                    tokenizer,
                    optimizer,
                    accelerator=accelerator,
                    keep_last=config.keep_last,
                    extra_json={INPUTS_FILE: inputs},
                )
    finally:
        if tracker is not None:
            tracker.close()
    train_seconds = time.perf_counter() - t_start
    if log_tokens:  # loss since the last log (the whole run's mean when logging is off)
        last_loss = _mean_loss(accelerator, log_loss, log_tokens)

    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)
    if is_main:
        save_merged(accelerator.unwrap_model(model), out, state_dict=state_dict)  # a LoRA model merged, adapter in adapter/
        tokenizer.save_pretrained(out)
        summary = {
            "n_traces": len(traces),
            **asdict(stats),
            "n_steps": step,
            "n_micro_batches": position,
            "resumed_from": None if resume_from is None else str(resume_from),
            "final_loss": last_loss,
            "train_seconds": train_seconds,
            "tokens_per_s": seen_tokens * world / max(train_seconds, 1e-9),
        }
        (out / "sft_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    accelerator.wait_for_everyone()
    return out


__all__ = ["NonFiniteLossError", "SFTConfig", "cosine_lr", "lm_loss", "process_group_backend", "train_sft"]
