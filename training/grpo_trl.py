"""GRPO through TRL's `GRPOTrainer`: the `astro grpo --engine trl` path.

`training.grpo.train_grpo` loads the problems, runs the difficulty filter and writes
`filter.json` exactly as for the in-house engine, then hands the kept problems here. TRL
samples and optimises; the reward of every completion still comes from replaying it through
the task's Gymnasium environment (`training.rollout.replay`) and shaping the 0/1 verdict
with `training.objectives.shape_reward`, so both engines share one definition of "correct".

The settings map one to one (`trl_arguments` is the whole map):

| GRPOConfig | TRL GRPOConfig |
|---|---|
| group_size | num_generations |
| prompts_per_step x group_size | per_device_train_batch_size x steps_per_generation (one optimizer step per generation batch per minibatch) |
| n_minibatches, n_epochs | steps_per_generation, num_iterations |
| lr, warmup_steps, weight_decay, max_grad_norm | learning_rate (constant after warmup), warmup_steps, weight_decay, max_grad_norm |
| eps_low, eps_high, beta | epsilon, epsilon_high, beta (KL to the starting policy; 0 builds no reference model) |
| scale_by_std | scale_rewards "group" / "none" |
| aggregation "token" / "sequence" | loss_type "dapo" (token mean over the batch) / "grpo" (per completion first) |
| reward, truncation | the reward function (±1 or 1/0; "penalize" gives a cut completion the wrong-answer reward); "mask" also sets mask_truncated_completions |
| temperature, top_p, max_new_tokens | temperature, top_p, max_completion_length |
| n_steps, seed, save_every, keep_checkpoints | max_steps, seed, save_steps, save_total_limit |
| backend "vllm" | use_vllm, vllm_mode "colocate" (TRL drives its own engine and syncs it) |
| lora_rank, lora_alpha, lora_dropout, lora_target_modules | peft_config (a `peft.LoraConfig`; the merged model is saved) |
| chat (a template) | conversational prompts rendered with the tokenizer's `chat_template` (set to the template); the end-of-turn token joins the model's EOS ids |
| report_to | report_to (TRL's own callbacks log its keys: TensorBoard events in OUT/tb, or the W&B run in OUT/wandb) |

Outputs land where the in-house engine puts them: `OUT/metrics.jsonl` (one line per logged
step, the in-house keys `reward_mean`, `pass_rate`, `completion_len`, `truncated_frac`,
`loss`, `kl`, `clip_frac`, `entropy`, `grad_norm`, `lr`, plus TRL's own under `trl/...`),
TRL's scalars (`train/reward`, `train/env_reward`, ...) where `report_to` says, checkpoints in `OUT/checkpoints`
(TRL's `checkpoint-N` folders; a rerun resumes from the newest), the final model and
tokenizer in `OUT`, and `grpo_summary.json`. TRL is imported lazily (the `[test]` or
`[trl]` extra): importing this module never needs it.

A TRL user's own `GRPOTrainer` script uses the same pieces (examples/trl_grpo.py):
`trl_dataset(problems)` for the train dataset, then either TRL's environment interface,
`rollout_func=EnvironmentRollout(problems)` with `reward_funcs=[environment_reward]` (every
prompt an episode of the environment, sampled with the live model), or
`reward_funcs=[EnvironmentReward(problems)]` (TRL samples, the environment replays and scores).
TRL's `environment_factory` is not used: it exposes an environment's methods as tool calls of a
chat model, while our environment's actions are the reasoning steps themselves.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from agents.chat import ChatPrompter
from astro_env import get_task
from astro_env.problem import Problem
from training.lora import save_merged
from training.objectives import shape_reward
from training.rollout import RolloutConfig, make_envs, replay
from training.tracking import start_wandb_run

METRIC_KEYS = {
    "env_reward": "reward_mean",
    "pass_rate": "pass_rate",
    "completions/mean_length": "completion_len",
    "completions/clipped_ratio": "truncated_frac",
    "loss": "loss",
    "kl": "kl",
    "clip_ratio/region_mean": "clip_frac",
    "entropy": "entropy",
    "grad_norm": "grad_norm",
    "learning_rate": "lr",
}
"""TRL's log keys -> the in-house engine's metric names (the rest are kept as `trl/<key>`)."""


def import_trl():
    """The `trl` module, or an ImportError that says how to install it."""
    try:
        import trl
    except ImportError as err:
        raise ImportError(
            "--engine trl needs TRL, which is not installed: pip install 'astro-gym[trl]' "
            "(or use the default --engine astro)."
        ) from err
    return trl


def trl_arguments(config, out: Path, use_cpu: bool) -> dict[str, Any]:
    """Keyword arguments of `trl.GRPOConfig` equivalent to the GRPOConfig `config` (see the module's table).

    Pure: no TRL import, so the mapping is testable anywhere. `out` is the run directory.
    """
    per_step = config.prompts_per_step * config.group_size
    if per_step % config.n_minibatches:
        raise ValueError(
            f"--engine trl splits the {per_step} rollouts of a step into n_minibatches={config.n_minibatches} equal "
            "optimizer steps; pick n_minibatches dividing prompts_per_step * group_size."
        )
    truncation_mask = config.truncation == "mask"
    return dict(
        output_dir=str(out / "checkpoints"),
        num_generations=config.group_size,
        per_device_train_batch_size=per_step // config.n_minibatches,
        gradient_accumulation_steps=1,
        steps_per_generation=config.n_minibatches,
        num_iterations=config.n_epochs,
        learning_rate=config.lr,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        epsilon=config.eps_low,
        epsilon_high=config.eps_high,
        beta=config.beta,
        scale_rewards="group" if config.scale_by_std else "none",
        loss_type="dapo" if config.aggregation == "token" else "grpo",
        mask_truncated_completions=truncation_mask,
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=0,
        max_completion_length=config.max_new_tokens,
        max_steps=config.n_steps,
        seed=config.seed,
        data_seed=config.seed,
        save_strategy="steps" if config.save_every else "no",
        save_steps=config.save_every or 1,
        save_total_limit=config.keep_checkpoints,
        logging_steps=max(1, config.log_every),
        report_to=config.report_to,
        use_cpu=use_cpu,
        bf16=False,
        use_vllm=config.backend == "vllm",
        vllm_mode="colocate",
        log_completions=False,
        disable_tqdm=True,
        remove_unused_columns=False,
        shuffle_dataset=True,
    )


class EnvironmentReward:
    """TRL reward function: replays each completion through its problem's environment.

    Called by TRL with `completions` (text, or the assistant message of a conversational prompt),
    `completion_ids` (token ids, EOS kept when the model stopped) and the dataset column
    `problem_id` (`trl_dataset` makes it). Returns the shaped reward of each (`shape_reward` of
    the environment's 0/1 verdict under `config`'s `reward` and `truncation`; a completion that
    filled `config.max_new_tokens` without EOS counts as truncated). `config=None` gives the
    environment's own 0/1 reward, unshaped. Logs `env_reward` and `pass_rate` through TRL's
    `log_metric` when given.
    """

    __name__ = "env_reward"

    def __init__(self, problems: Sequence[Problem], config=None, eos_token_id: int | None = None):
        self.reward_kind = config.reward if config is not None else "binary"
        self.truncation = config.truncation if config is not None else "none"
        self.max_new_tokens = config.max_new_tokens if config is not None else None
        self.eos_token_id = eos_token_id
        self.rollout_config = RolloutConfig(max_new_tokens=self.max_new_tokens or 1,
                                            max_steps_per_episode=config.max_steps_per_episode if config is not None else 50)
        self.problems = {p.id: p for p in problems}
        self.envs = make_envs(list(problems), self.rollout_config)

    def truncated(self, completion_ids: Sequence[int]) -> bool:
        if self.max_new_tokens is None:
            return False
        ended = self.eos_token_id is not None and self.eos_token_id in completion_ids
        return not ended and len(completion_ids) >= self.max_new_tokens

    def __call__(self, prompts, completions, completion_ids, problem_id, log_metric=None, **_: Any) -> list[float]:
        rewards, env_rewards, correct = [], [], []
        for text, ids, pid in zip(completions, completion_ids, problem_id):
            if not isinstance(text, str):  # a conversational prompt's completion: [{"role": "assistant", "content": ...}]
                text = "".join(str(message.get("content") or "") for message in text)
            problem = self.problems[pid]
            episode = replay(self.envs[problem.task], problem, text, self.rollout_config.delimiter)
            cut = self.truncated(list(ids)) or episode.truncated
            rewards.append(shape_reward(episode.reward, cut, self.reward_kind, self.truncation))
            env_rewards.append(episode.reward)
            correct.append(1.0 if episode.correct else 0.0)
        if log_metric is not None and rewards:
            log_metric("env_reward", sum(env_rewards) / len(env_rewards))
            log_metric("pass_rate", sum(correct) / len(correct))
        return rewards


def _ids(value) -> list[int]:
    """A generation config's eos_token_id (None, one id or a list) as a list."""
    if value is None:
        return []
    return [int(value)] if isinstance(value, int) else [int(v) for v in value]


def trl_dataset(problems: Sequence[Problem]):
    """A `datasets.Dataset` for TRL's GRPOTrainer: `prompt` (the task's `format_prompt`) and `problem_id` per problem."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": get_task(p.task).format_prompt(p), "problem_id": p.id} for p in problems])


class EnvironmentRollout:
    """TRL `rollout_func`: every prompt TRL hands over becomes one episode of our environment.

    `GRPOTrainer(..., rollout_func=EnvironmentRollout(problems), reward_funcs=[environment_reward])`.
    Each call samples one completion per prompt (TRL's batch already repeats each prompt
    `num_generations` times) with the trainer's live model through `agents.hf.TransformersPolicy`
    (temperature, top_p and max_completion_length from the trainer's args), replays it through
    the task's Gymnasium environment (`training.rollout.collect_rollouts`, the in-house engine's
    rollouts) and returns TRL's `prompt_ids`, `completion_ids` (EOS kept when the model stopped)
    and `logprobs` (the sampler's), plus the extra fields `env_reward` (the environment's 0/1
    return), `env_correct` and `env_truncated`, which TRL forwards to the reward functions.

    Prompts are matched to problems by their text (`trl_dataset` writes them); a prompt of no
    problem raises KeyError, two problems with one prompt raise ValueError. Seeds: the trainer's
    `args.seed`, the process index and a per-call counter, so a run repeats call by call.
    Generation runs on the unwrapped model of one process (DDP works; ZeRO-3's sharded weights
    need TRL's own vLLM generation instead).
    """

    def __init__(self, problems: Sequence[Problem], max_steps_per_episode: int = 50) -> None:
        self.by_prompt: dict[str, Problem] = {}
        for problem in problems:
            prompt = get_task(problem.task).format_prompt(problem)
            other = self.by_prompt.setdefault(prompt, problem)
            if other is not problem and other.answer != problem.answer:
                raise ValueError(f"problems {other.id!r} and {problem.id!r} share one prompt with different answers.")
        self.max_steps_per_episode = max_steps_per_episode
        self.envs = make_envs(list(self.by_prompt.values()), RolloutConfig(max_steps_per_episode=max_steps_per_episode))
        self.n_calls = 0

    def __call__(self, prompts: Sequence[str], trainer) -> dict[str, list]:
        from agents.base import PolicyConfig
        from agents.hf import TransformersPolicy
        from training.rollout import collect_rollouts

        problems = [self.by_prompt[p] for p in prompts]
        args = trainer.args
        seed = int(args.seed) * 1_000_003 + trainer.accelerator.process_index * 7919 + self.n_calls
        self.n_calls += 1
        model = trainer.accelerator.unwrap_model(trainer.model)
        tokenizer = trainer.processing_class
        policy = TransformersPolicy(model, tokenizer, PolicyConfig(seed=int(args.seed)))
        config = RolloutConfig(n_samples=1, max_new_tokens=int(args.max_completion_length),
                               temperature=float(args.temperature), top_p=float(args.top_p or 1.0), seed=seed,
                               max_steps_per_episode=self.max_steps_per_episode)
        rollouts = collect_rollouts(policy, tokenizer, problems, config, envs=self.envs)
        return {
            "prompt_ids": [list(r.prompt_token_ids) for r in rollouts],
            "completion_ids": [list(r.completion_token_ids) for r in rollouts],
            "logprobs": [list(r.old_logprobs) for r in rollouts],
            "env_reward": [float(r.reward) for r in rollouts],
            "env_correct": [bool(r.correct) for r in rollouts],
            "env_truncated": [bool(r.truncated) for r in rollouts],
        }


def environment_reward(completions, env_reward, log_metric=None, **_: Any) -> list[float]:
    """TRL reward function for `EnvironmentRollout`: the environment's 0/1 return of each episode
    (the `env_reward` field the rollout function returned); logs `pass_rate` when TRL offers `log_metric`."""
    rewards = [float(r) for r in env_reward]
    if log_metric is not None and rewards:
        log_metric("pass_rate", sum(1.0 for r in rewards if r > 0) / len(rewards))
    return rewards


def metrics_record(step: int, logs: dict[str, Any]) -> dict[str, float]:
    """One metrics.jsonl line from TRL's `logs` at `step`: in-house names for the mapped keys
    (METRIC_KEYS), `trl/<key>` for the rest; non-numeric and non-finite values are dropped."""
    record: dict[str, float] = {"step": step}
    for key, value in logs.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            continue
        record[METRIC_KEYS.get(key, f"trl/{key}")] = float(value)
    return record


def _metrics_callback(out: Path):
    """A TrainerCallback that writes metrics.jsonl (the in-house engine's names) and a progress line per log."""
    from transformers import TrainerCallback

    from astro_env.jsonl import JsonlWriter

    class MetricsCallback(TrainerCallback):
        def __init__(self) -> None:
            self.log = None
            self.last: dict[str, float] = {}

        def on_train_begin(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            from astro_env.jsonl import read_jsonl

            path = out / "metrics.jsonl"
            previous = [r for r in read_jsonl(path) if int(r.get("step", 0)) <= state.global_step]
            if path.exists():
                path.unlink()
            self.log = JsonlWriter(path)
            for record in previous:
                self.log.write(record)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.log is None or not logs or "train_runtime" in logs:
                return
            record = metrics_record(state.global_step, logs)
            self.last = record
            self.log.write(record)
            print(f"grpo[trl] step {state.global_step}/{args.max_steps}: reward {record.get('reward_mean', float('nan')):.3f} "
                  f"pass {record.get('pass_rate', float('nan')):.3f} len {record.get('completion_len', float('nan')):.1f}",
                  flush=True)

        def on_train_end(self, args, state, control, **kwargs):
            if self.log is not None:
                self.log.close()

    return MetricsCallback()


def train_grpo_trl(config, model, tokenizer, kept: Sequence[Problem], n_problems: int) -> Path:
    """Directory `config.out` holding the model TRL's GRPOTrainer trained on `kept` (a
    `training.grpo.GRPOConfig` and the problems that passed its difficulty filter).

    `model` and `tokenizer` are the starting policy (already loaded, on its device). Resumes
    from the newest `OUT/checkpoints/checkpoint-N` when `config.resume`. Raises ImportError
    naming the extra when TRL is missing.
    """
    import torch
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint

    from astro_env.jsonl import write_json

    trl = import_trl()
    out = Path(config.out)
    use_cpu = next(model.parameters()).device.type == "cpu"
    args = trl.GRPOConfig(**trl_arguments(config, out, use_cpu))
    prompter = ChatPrompter(config.chat, tokenizer)
    if prompter.active:
        # TRL renders conversational prompts with the tokenizer's template (tokenised without a special
        # prefix, as `ChatPrompter.encode` does) and stops at the model's EOS ids: add the end-of-turn token
        tokenizer.chat_template = prompter.template
        model.generation_config.eos_token_id = sorted(set(_ids(model.generation_config.eos_token_id)) | prompter.stop_token_ids)
    rows = [{"prompt": prompter.conversation(get_task(p.task).format_prompt(p)), "problem_id": p.id} for p in kept]
    if len(rows) < config.prompts_per_step:  # TRL draws prompts_per_step distinct prompts per step
        rows = [rows[i % len(rows)] for i in range(config.prompts_per_step)]
    reward = EnvironmentReward(kept, config, prompter.end_token_id)
    callback = _metrics_callback(out)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    peft_config = None
    if config.lora_rank:
        from training.lora import peft_config as lora_config

        peft_config = lora_config(config.lora_rank, config.lora_alpha, config.lora_dropout, config.lora_target_modules)
    # TRL's W&B callback logs into an active run: open it here so its files land in OUT/wandb
    run = start_wandb_run(out, "grpo", asdict(config)) if config.report_to == "wandb" else None
    try:
        trainer = trl.GRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            callbacks=[callback],
            peft_config=peft_config,
        )
        for handler in trainer.callback_handler.callbacks:  # TensorBoard events in OUT/tb, as the in-house engine
            if type(handler).__name__ == "TensorBoardCallback":
                handler.logging_dir = str(out / "tb")
        checkpoints = out / "checkpoints"
        resume = get_last_checkpoint(str(checkpoints)) if config.resume and checkpoints.is_dir() else None
        torch.manual_seed(config.seed)
        trainer.train(resume_from_checkpoint=resume)
    finally:
        if run is not None:
            run.finish()
    save_merged(trainer.model, out)  # a LoRA model merged (what evaluation and vLLM load), its adapter in OUT/adapter
    tokenizer.save_pretrained(out)
    write_json(out / "grpo_summary.json", {
        "engine": "trl",
        "n_steps": int(trainer.state.global_step),
        "n_problems": n_problems,
        "n_kept": len(kept),
        "resumed_from": resume,
        "final": dict(callback.last),
    })
    return out


def trl_engine(config, start, kept: Sequence[Problem], n_problems: int) -> Path:
    """The `trl` entry of `astro.grpo_engines` (`training.grpo.GRPOEngine`): `train_grpo_trl` on the started model."""
    return train_grpo_trl(config, start.model, start.tokenizer, kept, n_problems=n_problems)


__all__ = ["METRIC_KEYS", "EnvironmentReward", "EnvironmentRollout", "environment_reward", "import_trl", "metrics_record",
           "train_grpo_trl", "trl_arguments", "trl_dataset", "trl_engine"]
