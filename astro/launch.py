"""`astro run --dry-run`: the plan, the compute each stage needs, and the command that launches it.

The commands are what a researcher with GPUs runs stage by stage (vLLM for search and
evaluation, `accelerate launch` with DeepSpeed ZeRO-3 for SFT, TRL + vLLM for GRPO, a Ray
cluster for the parallel stages); multi-node runs add the standard rendezvous flags. Every
command is a real `astro` subcommand with flags that exist (a test parses them).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from astro.config import ARMS, RunConfig, changed_fields, plan, to_json

MULTI_NODE = "--num_machines $NNODES --machine_rank $NODE_RANK --main_process_ip $MASTER_ADDR --main_process_port 29500"
"""accelerate's rendezvous flags for a multi-node launch (set the variables on every node)."""


def estimated_compute(config: RunConfig) -> dict[str, dict[str, Any]]:
    """Upper bounds of generated tokens and trained tokens per stage kind (what sizes a cluster)."""
    n_train = config.n_train or 20_700
    n_eval = sum([config.bench_limit or {"math500": 500, "amc23": 40, "aime24": 30, "aime25": 30}.get(b, 500) for b in config.bench]) \
        if config.bench else config.n_test
    rollouts = n_train * config.n_iterations * config.n_children * config.n_rollouts
    n_traces = n_train * (1 + 3)
    grpo_samples = config.grpo_steps * config.prompts_per_step * config.group_size
    eval_samples = n_eval * config.eval_samples * len(config.models) * len(config.seeds)
    return {
        "trees": {"rollouts": rollouts, "generated_tokens_max": rollouts * config.max_new_tokens},
        "traces": {"traces_per_arm_max": n_traces},
        "sft": {"trained_tokens_max_per_arm": n_traces * config.sft_max_length * config.sft_epochs},
        "grpo": {"filter_samples": n_train * config.pass_rate_samples, "rollouts_per_arm": grpo_samples,
                 "generated_tokens_max_per_arm": (grpo_samples + n_train * config.pass_rate_samples) * config.max_new_tokens},
        "eval": {"samples": eval_samples, "generated_tokens_max": eval_samples * config.max_new_tokens},
    }


def launch_commands(config: RunConfig, run_dir: Path) -> list[tuple[str, str]]:
    """(stage, shell command) for each stage of `config`, in order, for one seed and both arms."""
    q = shlex.quote
    d = str(run_dir)
    model = config.model or f"{d}/base"
    seed = config.seeds[0]
    backend = config.backend
    benches = ",".join(config.bench) if config.bench else f"{d}/problems/eval/test.jsonl"
    ray = (f"--executor ray --ray-address {config.ray_address or 'auto'} --ray-gpus-per-worker {config.ray_gpus_per_worker:g}"
           if config.executor == "ray" else "")
    cmds: list[tuple[str, str]] = []
    if config.executor == "ray":
        cmds.append(("cluster", "ray start --head --port 6379   # on the head node; on every other node: ray start --address HEAD_IP:6379"))
    if not config.model:
        cmds.append(("base", f"astro pretrain --out {q(d + '/base')} --n-steps {config.pretrain_steps} --seed {config.data_seed}"))
    search_policy = model if config.search_policy == "base" else (config.teacher or config.search_policy)
    search_backend = backend if config.search_policy == "base" else config.search_policy
    train = config.train_problems or f"{d}/problems/train.jsonl"
    cmds.append(("trees", " ".join(filter(None, [
        f"astro search --problems {q(train)} --policy {q(search_policy)} --backend {search_backend}",
        f"--agent {config.search_agent} --n-iterations {config.n_iterations} --n-children {config.n_children}"
        if config.search_agent == "mcts" else f"--agent {config.search_agent}",
        f"--n-rollouts {config.n_rollouts} --max-depth {config.max_depth}" if config.search_agent == "mcts" else "",
        f"--search-seed {config.data_seed} --out {q(d + '/trees/trees.jsonl')}", ray]))))
    for arm in ARMS:
        cmds.append((f"traces-{arm}", f"astro linearize {q(d + '/trees/trees.jsonl')} --arm {arm} --out {q(f'{d}/traces/traces_{arm}.jsonl')} --seed {config.data_seed}"))
    accel = (f"accelerate launch --config_file {config.deepspeed_config} {MULTI_NODE} -m astro.cli"
             if config.deepspeed_config else "astro")
    for arm in ARMS:
        cmds.append((f"sft-{arm}", f"{accel} sft --traces {q(f'{d}/traces/traces_{arm}.jsonl')} --model {q(model)} "
                     f"--out {q(f'{d}/seed{seed}/sft-{arm}')} --n-epochs {config.sft_epochs} --lr {config.sft_lr} "
                     f"--batch-size {config.sft_batch_size} --max-length {config.sft_max_length} --seed {seed}"))
    for arm in ARMS:
        cmds.append((f"rl-{arm}", f"{accel} grpo --model {q(f'{d}/seed{seed}/sft-{arm}')} --problems {q(train)} "
                     f"--out {q(f'{d}/seed{seed}/rl-{arm}')} --engine {config.grpo_engine} --backend {backend} "
                     f"--n-steps {config.grpo_steps} --group-size {config.group_size} --prompts-per-step {config.prompts_per_step} "
                     f"--lr {config.grpo_lr} --warmup-steps {config.grpo_warmup_steps} --max-new-tokens {config.max_new_tokens} "
                     f"--pass-rate-low {config.pass_rate_low} --pass-rate-high {config.pass_rate_high} --seed {seed}"))
    for name in config.models:
        path = model if name == "base" else f"{d}/seed{seed}/{'sft' if name.endswith('sft') else 'rl'}-{name.split('-')[0]}"
        cmds.append((f"eval-{name}", " ".join(filter(None, [
            f"astro eval --policy {q(path)} --backend {backend} --bench {q(benches)} --samples {config.eval_samples}",
            f"--temperature {config.temperature} --top-p {config.top_p} --max-tokens {config.max_new_tokens} --seed {seed}",
            f"--out {q(f'{d}/seed{seed}/eval-{name}')}", ray]))))
    return cmds


def describe_plan(config: RunConfig, run_dir: Path) -> str:
    """The dry-run text: resolved config, flags changed from the preset, stages, compute, launch commands."""
    lines = [json.dumps({"config": to_json(config), "changed_from_preset": changed_fields(config),
                         "plan": plan(config), "run_dir": str(run_dir),
                         "estimated_compute": estimated_compute(config)}, indent=2, default=str), "",
             "# launch commands (one seed; repeat the sft/rl/eval lines per seed)"]
    for stage, cmd in launch_commands(config, run_dir):
        lines.append(f"# {stage}\n{cmd}")
    return "\n".join(lines)
