"""`astro run --dry-run`: the plan, the compute each stage needs, and the command that launches each stage.

Each stage's config is written to `OUT/stages/<stage>.json` (`astro.plan`: the same object the
in-process run hands the stage) and its command is `astro <stage command> --config
OUT/stages/<stage>.json`: vLLM for search and evaluation when the run's backend is vLLM,
`accelerate launch` (DeepSpeed ZeRO-3 in the paper preset) for SFT and GRPO, a Ray cluster for
the parallel stages; multi-node runs set accelerate's rendezvous variables. The commands run in
the printed order from the directory `astro run --dry-run` ran in; a stage launched this way
marks its folder done with the key the in-process run computes, so `astro run --config
OUT/run_config.json --out OUT` afterwards skips every launched stage and writes the report.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from astro.config import PER_STAGE, RunConfig, changed_fields, to_json
from astro.configfile import write_stage_file
from astro.plan import Stage, checkpoint_eval_stage, checkpoint_steps, launch_command, run_stages

__all__ = ["describe_plan", "plan_view", "estimated_compute", "launch_stages", "write_launch_files"]


def estimated_compute(config: RunConfig) -> dict[str, dict[str, Any]]:
    """Upper bounds of generated tokens and trained tokens per stage kind (what sizes a cluster)."""
    task = config.task
    n_train = task.n_train or 20_700
    n_eval = sum([task.bench_limit or {"math500": 500, "amc23": 40, "aime24": 30, "aime25": 30}.get(b, 500) for b in task.bench]) \
        if task.bench else task.n_test
    budget = config.search.budget
    rollouts = n_train * budget.n_rollouts_total
    n_traces = n_train * (1 + 3)
    grpo = config.grpo
    n_rl = task.n_rl or n_train  # GRPO's pool: its own problems with --task.n-rl, else the training ones
    grpo_samples = grpo.n_steps * grpo.prompts_per_step * grpo.group_size
    eval_samples = n_eval * config.eval.samples * len(config.models) * len(config.seeds)
    return {
        "trees": {"rollouts": rollouts, "generated_tokens_max": rollouts * budget.rollout_max_tokens},
        "traces": {"traces_per_arm_max": n_traces},
        "sft": {"trained_tokens_max_per_arm": n_traces * config.sft.max_length * config.sft.n_epochs},
        "grpo": {"filter_samples": n_rl * grpo.pass_rate_samples, "rollouts_per_arm": grpo_samples,
                 "generated_tokens_max_per_arm": (grpo_samples + n_rl * grpo.pass_rate_samples) * grpo.max_new_tokens},
        "eval": {"samples": eval_samples, "generated_tokens_max": eval_samples * config.eval.max_tokens},
    }


def launch_stages(config: RunConfig, run_dir: Path) -> list[Stage]:
    """Every stage a run launches, GRPO checkpoint evaluations included (those `--eval-every` makes)."""
    stages = run_stages(config, run_dir)
    for seed in config.seeds:
        for arm in ("direct", "astro"):
            rl = next(i for i, s in enumerate(stages) if s.name == f"seed{seed}/eval-{arm}-rl")
            extra = [checkpoint_eval_stage(config, run_dir, seed, arm, step) for step in checkpoint_steps(config)]
            stages[rl + 1:rl + 1] = extra
    return stages


def write_launch_files(config: RunConfig, run_dir: Path) -> list[tuple[str, str]]:
    """Write every stage's config file and run_config.json under `run_dir`; (stage, command) in launch order."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run_config.json").write_text(json.dumps(to_json(config), indent=2) + "\n", encoding="utf-8")
    commands: list[tuple[str, str]] = []
    if config.executor.kind == "ray":
        commands.append(("cluster", "ray start --head --port 6379   # on the head node; on every other node: ray start --address HEAD_IP:6379"))
    for stage in launch_stages(config, run_dir):
        write_stage_file(stage.file(run_dir), stage.stage_file(run_dir))
        commands.append((stage.name, launch_command(config, stage, run_dir)))
    q = shlex.quote
    commands.append(("report", f"astro run --config {q(str(run_dir / 'run_config.json'))} --out {q(str(run_dir))}"))
    return commands


def plan_view(config: RunConfig) -> dict[str, Any]:
    """The config tree as the dry run shows it: a field the pipeline fills for each stage (`PER_STAGE`) reads
    where its value comes from instead of the component's default, which no stage runs with."""
    tree = to_json(config)
    for section, per_stage in PER_STAGE.items():
        for name, source in per_stage.items():
            if name in tree.get(section, {}):
                tree[section][name] = f"per stage, from {source} (the stage files hold the value)"
    return tree


def describe_plan(config: RunConfig, run_dir: Path) -> str:
    """The dry-run text (resolved config, flags changed from the preset, stages, compute, launch commands),
    after writing the stage config files the commands name."""
    commands = write_launch_files(config, run_dir)
    lines = [json.dumps({"config": plan_view(config), "changed_from_preset": changed_fields(config),
                         "plan": [name for name, _ in commands if name != "cluster"], "run_dir": str(run_dir),
                         "estimated_compute": estimated_compute(config)}, indent=2, default=str), "",
             f"# launch commands (stage configs in {run_dir / 'stages'}; run them in this order from this directory)"]
    for stage, cmd in commands:
        lines.append(f"# {stage}\n{cmd}")
    return "\n".join(lines)
