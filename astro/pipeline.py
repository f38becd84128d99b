"""The stages of `astro run`, run in process for any task.

`astro.plan.run_stages` makes every stage's config from the run tree; this module runs them:
each through `StageRunner`, keyed on its config plus the key hashes of the stages it reads
(unchanged -> skipped, changed -> cleared and run again, and so is everything downstream,
whose keys include it). The long stages (search, SFT, GRPO, evaluation) resume their own
partial output, so a killed run continues. After the traces, the two arms of each seed run in
two processes (`schedule_arms`); SFT and GRPO go through `accelerate launch` when the run names
an accelerate config.
"""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import multiprocessing
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable

from astro.config import ARMS, RunConfig, changed_fields, to_json
from astro.configfile import write_stage_file
from astro.plan import Stage, checkpoint_eval_stage, checkpoint_steps, run_stages
from astro.stages import StageRunner, stage_hash
from astro_env.jsonl import write_json
from astro_env.processes import die_with_parent

log = logging.getLogger("astro.run")


STAGE_FUNCTIONS = {
    "problems": "astro.commands.problems:make_problems",
    "pretrain": "training.embedded:pretrain",
    "search": "astro.commands.search:build_trees",
    "linearize": "astro.commands.linearize:linearize_trees",
    "sft": "training.sft:train_sft",
    "grpo": "training.grpo:train_grpo",
    "eval": "astro.commands.eval:evaluate_job",
    "competence": "astro.commands.competence:measure_competence",
}
"""Stage kind -> `module:function` that runs it on its config (imported only when that stage runs)."""


def stage_function(command: str) -> Callable[[Any], Any]:
    """The function that runs a stage of kind `command` on its config (what `astro <command>` calls too)."""
    if command not in STAGE_FUNCTIONS:
        raise KeyError(f"no stage function for {command!r}")
    module, name = STAGE_FUNCTIONS[command].split(":")
    return getattr(importlib.import_module(module), name)


def run_stage(runner: StageRunner, stage: Stage, accelerate_config: str = "") -> Path:
    """Run (or skip, or resume) `stage` in `runner`'s run folder; returns its folder.

    SFT and GRPO of a run with an accelerate config are launched as `accelerate launch ... astro
    <command> --config <stage file>` (the command `astro run --dry-run` prints), in the foreground.
    """
    key = stage.key(runner.run_dir)
    if accelerate_config and stage.command in ("sft", "grpo"):  # the launched command keys and marks the stage itself
        out = runner.run_dir / stage.name
        if runner.is_done(stage.name, key):
            log.info("stage %-16s done already, skipped", stage.name)
            runner.timings.setdefault(stage.name, 0.0)
            return out
        write_stage_file(stage.file(runner.run_dir), stage.stage_file(runner.run_dir))
        start = time.perf_counter()
        subprocess.run(launch_command_for(accelerate_config, stage, runner.run_dir), check=True)
        runner.timings[stage.name] = time.perf_counter() - start
        if not runner.is_done(stage.name, key):
            raise RuntimeError(f"stage {stage.name} launched through accelerate did not finish with the key this run computes")
        return out
    body = stage_function(stage.command)
    return runner(stage.name, key, lambda out: body(stage.config))


def launch_command_for(accelerate_config: str, stage: Stage, run_dir: Path) -> list[str]:
    """`accelerate launch --config_file FILE -m astro.cli <command> --config <stage file>` as argv (one node)."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", accelerate_config, "-m", "astro.cli",
            stage.command, "--config", str(stage.file(run_dir))]


def run_pipeline(config: RunConfig, run_dir: Path) -> str:
    """Run (or resume) every stage of `config` under `run_dir`; returns the report's Markdown.

    The caller holds the run folder's lock (`astro.stages.RunLock`).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "run_config.json", to_json(config))
    runner = StageRunner(run_dir)
    stages = {s.name: s for s in run_stages(config, run_dir)}
    for name in ("problems", "base", "trees", "traces"):
        if name in stages:
            run_stage(runner, stages[name])
    for seed in config.seeds:
        arm_inputs = (config, run_dir, seed, stages)
        if config.parallel_arms:
            # the arms are independent after the traces: their stages run in two processes (one
            # torch thread each), killed by the kernel if this process dies
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=len(ARMS), mp_context=ctx, initializer=_worker_init) as pool:
                runner.timings.update(schedule_arms(pool.submit, *arm_inputs))
        else:
            runner.timings.update(schedule_arms(_run_now, *arm_inputs))

    from astro.report import write_run_report

    runner("report", report_key(config, run_dir), lambda out: write_run_report(config, run_dir, runner.timings))
    return (run_dir / "report.md").read_text()


REPORT_MODULES = ("astro.report", "benchmarks.report", "benchmarks.retry", "benchmarks.replicate", "benchmarks.contamination",
                  "benchmarks.metrics", "benchmarks.plots", "benchmarks.records")
"""The modules that turn a run folder into its report: their source is part of the report's key, so a report is never
left stale by a change to how it is computed."""


def report_key(config: RunConfig, run_dir: Path) -> dict[str, Any]:
    """The report's key: the run's config, what differs from its preset (the report says so, and a preset's
    definition can change under a finished run), every stage's key hash and the report code's hash."""
    return {"config": to_json(config), "changed_from_preset": json.loads(json.dumps(changed_fields(config), default=str)),
            "inputs": _input_hashes(run_dir), "code": report_code_hash()}


def report_code_hash() -> str:
    """sha256 (16 hex digits) of the source files of `REPORT_MODULES`."""
    import hashlib
    import importlib.util

    digest = hashlib.sha256()
    for name in REPORT_MODULES:
        spec = importlib.util.find_spec(name)
        digest.update(name.encode() + b"\0" + Path(spec.origin).read_bytes())
    return digest.hexdigest()[:16]


def _input_hashes(run_dir: Path) -> dict[str, Any]:
    """Key hashes of every stage the report reads (so it is rewritten whenever one of them changed)."""
    out = {}
    for path in sorted(run_dir.glob("**/stage.json")):
        name = str(path.parent.relative_to(run_dir))
        if name != "report":
            out[name] = stage_hash(path.parent)
    return out


def _run_now(fn, *args) -> Future:
    """`fn(*args)` run here, as a finished future (the serial stand-in for a pool's `submit`)."""
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
        future.set_exception(exc)
    return future


def schedule_arms(submit, config: RunConfig, run_dir: Path, seed: int, stages: dict[str, Stage]) -> dict[str, float]:
    """Every stage of one seed after the traces, each submitted once its inputs exist; returns the stage timings.

    Per arm: SFT, then GRPO and the SFT model's evaluation, then the RL model's evaluation (and
    its checkpoints' with --eval-every); the base model's evaluation from the start, and the first
    seed's competence table once both arms' models exist. With `submit` a two-process pool's, the
    arm whose GRPO is longer (ASTRO's longer completions) does not hold the other stages behind
    it: the other process runs them while it trains. A stage's result does not depend on which
    process runs it or when (each is seeded and reads only its inputs' files).
    """
    timings: dict[str, float] = {}
    pending: dict[Future, tuple[int, Stage]] = {}
    order = itertools.count()

    def add(stage: Stage) -> None:
        pending[submit(run_job, stage, run_dir, config.threads, config.accelerate_config)] = (next(order), stage)

    for arm in ARMS:
        add(stages[f"seed{seed}/sft-{arm}"])
    add(stages[f"seed{seed}/eval-base"])
    competence = stages.get(f"seed{seed}/competence") if seed == config.seeds[0] else None
    models_left = {f"seed{seed}/{kind}-{arm}" for arm in ARMS for kind in ("sft", "rl")}
    try:
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f][0]):
                _, stage = pending.pop(future)
                timings.update(future.result())
                arm = stage.arm
                if stage.command == "sft":  # GRPO first: it is the longer path
                    add(stages[f"seed{seed}/rl-{arm}"])
                    add(stages[f"seed{seed}/eval-{arm}-sft"])
                elif stage.command == "grpo":
                    add(stages[f"seed{seed}/eval-{arm}-rl"])
                    for step in checkpoint_steps(config):
                        checkpoint = checkpoint_eval_stage(config, run_dir, seed, arm, step)
                        if Path(checkpoint.config.policy.model).is_dir():
                            add(checkpoint)
                        else:
                            log.warning("no GRPO checkpoint at step %d of %s (%s): not evaluated", step, stage.name, checkpoint.config.policy.model)
                models_left.discard(stage.name)
                if competence is not None and not models_left:  # the table reads the base and all four models
                    add(competence)
                    competence = None
    except BaseException:
        for future in pending:
            future.cancel()
        raise
    return timings


def run_job(stage: Stage, run_dir: Path, threads: int, accelerate_config: str = "") -> dict[str, float]:
    """One arm stage in this process (a pool worker or the run itself): its lines prefixed with the arm; its timings."""
    import torch

    from astro_env.processes import PrefixedStream

    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, PrefixedStream):
            stream.prefix = f"[{stage.arm}] " if stage.arm else ""
    torch.set_num_threads(threads)
    runner = StageRunner(run_dir)
    run_stage(runner, stage, accelerate_config)
    return runner.timings


def _worker_init() -> None:
    """A pool process: dies with the run, and prefixes every line it prints (logs included) with its job's arm."""
    from astro_env.processes import PrefixedStream

    die_with_parent()
    sys.stdout, sys.stderr = PrefixedStream(sys.stdout, ""), PrefixedStream(sys.stderr, "")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
