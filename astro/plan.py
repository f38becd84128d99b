"""The stages of a run, each with exactly the config it receives, its key, and the command that launches it.

`run_stages(config, run_dir)` is the one place a stage's config is made from the run tree: the
in-process pipeline (`astro.pipeline`) runs these objects, and `astro run --dry-run` writes the
same objects to `OUT/stages/<stage>.json` and prints the command that runs each one
(`astro <command> --config OUT/stages/<stage>.json`, behind `accelerate launch` for SFT and
GRPO when the run names an accelerate config). So a stage launched on a cluster computes what
the in-process stage computes, by construction.

A stage's key (`astro.stages.stage_key`) is its config (fields that do not change the result,
such as the executor, left out; paths inside the run folder relative to it) plus the key
hashes of the stages it reads, plus the phrase bank text for the stages that write it. A
launched stage computes the same key and writes the same `stage.json`, so `astro run`
afterwards skips it.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agents.base import PolicyConfig
from astro.commands.competence import CompetenceJob
from astro.commands.eval import EvalJob
from astro.commands.linearize import LinearizeJob
from astro.commands.problems import ProblemsJob
from astro.commands.search import SearchJob
from astro.config import ARMS, MODEL_LABELS, RunConfig
from astro.configfile import StageFile

__all__ = ["MULTI_NODE", "STAGES_DIR", "Stage", "base_model", "checkpoint_eval_stage", "checkpoint_steps", "launch_command",
           "proposer_policy", "run_stages"]

STAGES_DIR = "stages"
"""Folder under the run folder that holds each stage's config file (`stages/seed0/sft-astro.json`)."""
MULTI_NODE = "--num_machines $NNODES --machine_rank $NODE_RANK --main_process_ip $MASTER_ADDR --main_process_port 29500"
"""accelerate's rendezvous flags for a multi-node launch (set the variables on every node)."""
N_TREE_PAGES = 3
"""Trees drawn as HTML pages in the run folder."""


@dataclass(frozen=True)
class Stage:
    """One stage of a run: its folder, the command that runs it, the config it receives, the stages it reads."""

    name: str
    """Folder under the run folder (`trees`, `seed0/sft-astro`)."""
    command: str
    """The `astro` subcommand that runs it (`astro <command> --config <file>`)."""
    config: Any
    """Exactly what the stage function receives."""
    inputs: tuple[str, ...] = ()
    """Stages whose outputs it reads."""
    arm: str = ""
    """The arm it belongs to (for the parallel schedule and the line prefix), empty for shared stages."""

    def file(self, run_dir: Path) -> Path:
        """Where `astro run --dry-run` writes this stage's config file."""
        return Path(run_dir) / STAGES_DIR / f"{self.name}.json"

    def stage_file(self, run_dir: Path) -> StageFile:
        return StageFile(self.name, str(run_dir), self.inputs, self.config)

    def key(self, run_dir: Path) -> dict[str, Any]:
        """What the stage keys on in `run_dir` (`astro.stages.stage_key`)."""
        from astro.stages import stage_key

        return stage_key(self.command, self.config, self.inputs, run_dir)


def _policy(config: RunConfig, **changes: Any) -> PolicyConfig:
    """The run's policy config with the run's chat settings (and `changes`)."""
    return replace(config.policy, chat=config.chat, **changes)


def base_model(config: RunConfig, run_dir: Path) -> str:
    """The base policy's model: --policy.model, or the embedded model the `base` stage pre-trains."""
    return config.policy.model or str(Path(run_dir) / "base")


def _base_inputs(config: RunConfig) -> tuple[str, ...]:
    return () if config.policy.model else ("base",)


def proposer_policy(config: RunConfig, run_dir: Path) -> tuple[PolicyConfig, bool]:
    """(the policy that proposes steps during search, whether it is the base policy)."""
    import astro_env
    from astro_env.task import default_search_policy

    backend = config.proposer.backend or default_search_policy(astro_env.get_task(config.task.name, config.task.config))
    if backend == "base":
        return _policy(config, model=base_model(config, run_dir), seed=config.data_seed), True
    return replace(config.proposer, backend=backend, seed=config.data_seed, chat=config.chat), False


def _judge_policy(config: RunConfig, run_dir: Path) -> PolicyConfig:
    return replace(config.judge, backend=config.judge.backend or config.policy.backend,
                   model=config.judge.model or base_model(config, run_dir), seed=config.data_seed, chat=config.chat)


def _eval_stage(config: RunConfig, run_dir: Path, seed: int, name: str, model: str, inputs: tuple[str, ...], arm: str = "") -> Stage:
    d = Path(run_dir)
    files = _eval_files(config, d)
    job = EvalJob(
        out=str(d / f"seed{seed}" / f"eval-{name}"),
        policy=_policy(config, model=model, seed=seed),
        eval=replace(config.eval, seed=seed, executor=config.executor, benches=files),
        model_name=name,
        token_count="words",
    )
    return Stage(f"seed{seed}/eval-{name}", "eval", job, ("problems", *inputs), arm)


def run_stages(config: RunConfig, run_dir: Path) -> list[Stage]:
    """Every stage of `config` in the order the pipeline starts them (GRPO checkpoint evaluations aside:
    `checkpoint_eval_stage`), each with the config it receives."""
    d = Path(run_dir)
    base = base_model(config, d)
    stages = [Stage("problems", "problems", ProblemsJob(task=config.task, seed=config.data_seed, out=str(d / "problems")))]
    if config.embedded:
        pretrain = replace(config.pretrain, out=str(d / "base"), seed=config.data_seed, **_pretrain_task(config, d))
        stages.append(Stage("base", "pretrain", pretrain, ("problems",)))
    proposer, proposer_is_base = proposer_policy(config, d)
    stages.append(Stage("trees", "search", SearchJob(
        out=str(d / "trees" / "trees.jsonl"),
        problems=str(d / "problems" / "train.jsonl"),
        policy=proposer,
        search=replace(config.search, seed=config.data_seed, executor=config.executor),
        n_pages=N_TREE_PAGES,
    ), ("problems", *(_base_inputs(config) if proposer_is_base else ()))))
    stages.append(Stage("traces", "linearize", LinearizeJob(
        trees=(str(d / "trees" / "trees.jsonl"),),
        out=str(d / "traces"),
        arms=ARMS,
        seed=config.data_seed,
        tokenizer=base,
        linearize=config.traces,
        self_eval=config.self_eval,
        judge=_judge_policy(config, d),
        curation=replace(config.curation, seed=config.data_seed, executor=config.executor),
        require_traces=True,
    ), ("trees", *_base_inputs(config))))
    for seed in config.seeds:
        stages.append(_eval_stage(config, d, seed, "base", base, _base_inputs(config)))
        for arm in ARMS:
            sft_name, rl_name = f"seed{seed}/sft-{arm}", f"seed{seed}/rl-{arm}"
            sft = replace(config.sft, traces=str(d / "traces" / f"traces_{arm}.jsonl"), model=base, out=str(d / sft_name), seed=seed,
                          report_to=config.report_to, chat=config.chat)
            stages.append(Stage(sft_name, "sft", sft, ("traces", *_base_inputs(config)), arm))
            grpo = replace(config.grpo, model=str(d / sft_name), problems=rl_problems(config, d), out=str(d / rl_name),
                           task=config.task.name, task_config=config.task.config, seed=seed, threads=config.threads, executor=config.executor, backend=config.policy.backend,
                           device=config.policy.device, max_batch_size=config.policy.max_batch_size, report_to=config.report_to,
                           chat=config.chat)
            if config.eval_every:
                grpo = replace(grpo, save_every=config.eval_every, keep_checkpoints=0)
            stages.append(Stage(rl_name, "grpo", grpo, (sft_name, "problems"), arm))
            stages.append(_eval_stage(config, d, seed, f"{arm}-sft", str(d / sft_name), (sft_name,), arm))
            stages.append(_eval_stage(config, d, seed, f"{arm}-rl", str(d / rl_name), (rl_name,), arm))
    if not config.task.bench:  # the task's probes read its own generated problems, not a benchmark's
        stages.append(_competence_stage(config, d))
    return stages


def rl_problems(config: RunConfig, run_dir: Path) -> str:
    """GRPO's problem file: the `problems` stage's rl.jsonl with --task.n-rl, else the training problems."""
    return str(Path(run_dir) / "problems" / ("rl.jsonl" if config.task.n_rl else "train.jsonl"))


def _pretrain_task(config: RunConfig, run_dir: Path) -> dict[str, Any]:
    """The task-dependent fields of the embedded model's pre-training: the run's task and its config (the
    corpus is drawn on the run's own kind of problem), every evaluation set excluded from the corpus."""
    return {
        "task": config.task.name,
        "task_config": _task_config_data(config),
        "exclude": _eval_files(config, run_dir),
    }


def _task_config_data(config: RunConfig) -> dict[str, Any]:
    """The run's task config as JSON data (what a stage file holds: tuples as lists), `{}` for a task without one."""
    task_config = config.task.config
    return json.loads(json.dumps(dataclasses.asdict(task_config))) if dataclasses.is_dataclass(task_config) else {}


def _eval_files(config: RunConfig, run_dir: Path) -> tuple[str, ...]:
    """The evaluation sets the `problems` stage writes, one file per bench."""
    return tuple(str(Path(run_dir) / "problems" / "eval" / f"{label}.jsonl") for label in config.benches)


def _competence_stage(config: RunConfig, run_dir: Path) -> Stage:
    seed = config.seeds[0]
    d = Path(run_dir)
    models = {MODEL_LABELS["base"]: base_model(config, d)}
    models |= {MODEL_LABELS[f"{arm}-{kind}"]: str(d / f"seed{seed}" / f"{kind}-{arm}") for arm in ARMS for kind in ("sft", "rl")}
    job = CompetenceJob(out=str(d / f"seed{seed}" / "competence"), task=config.task.name, task_config=_task_config_data(config),
                        models=models, problems=_eval_files(config, d)[0], seed=config.data_seed)
    inputs = ("problems", *_base_inputs(config), *(f"seed{seed}/{kind}-{arm}" for arm in ARMS for kind in ("sft", "rl")))
    return Stage(f"seed{seed}/competence", "competence", job, inputs)


def checkpoint_steps(config: RunConfig) -> list[int]:
    """GRPO steps whose checkpoints are evaluated (`--eval-every N`: every N steps and the last one)."""
    if not config.eval_every:
        return []
    n = config.grpo.n_steps
    return sorted({*range(config.eval_every, n + 1, config.eval_every), n})


def checkpoint_eval_stage(config: RunConfig, run_dir: Path, seed: int, arm: str, step: int) -> Stage:
    """The evaluation of arm `arm`'s GRPO checkpoint at `step` (seed `seed`)."""
    from training.checkpoint import checkpoint_dir

    rl_name = f"seed{seed}/rl-{arm}"
    path = checkpoint_dir(Path(run_dir) / rl_name / "checkpoints", step)
    return _eval_stage(config, run_dir, seed, f"{arm}-rl-step{step:06d}", str(path), (rl_name,), arm)


def launch_command(config: RunConfig, stage: Stage, run_dir: Path) -> str:
    """The shell command that runs `stage` from its config file (as `astro run --dry-run` prints it)."""
    file = shlex.quote(str(stage.file(run_dir)))
    if stage.command in ("sft", "grpo") and config.accelerate_config:
        return f"accelerate launch --config_file {shlex.quote(config.accelerate_config)} {MULTI_NODE} -m astro.cli {stage.command} --config {file}"
    return f"astro {stage.command} --config {file}"
