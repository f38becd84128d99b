"""`astro run`: the Direct-vs-ASTRO ablation end to end, with a report, for any task, model and engine.

Stages (each a function of the previous stages' files; `astro.plan` makes their configs):

1. ``problems``   training problems (generated, or --task.train-problems) and the evaluation sets
                  (--task.bench, or a held-out split the task generates), never overlapping;
2. ``base``       pre-train the embedded base model (only without --policy.model);
3. ``trees``      search trees for the training problems (--search.agent, --proposer.backend);
4. ``traces``     ASTRO traces and Direct traces from the same trees, matched in count;
5. ``sft-<arm>``  behaviour cloning of the same base model on each arm;
6. ``rl-<arm>``   GRPO of each SFT model with the same budget and difficulty filter;
7. ``eval-<m>``   evaluation of Base, Direct-SFT, ASTRO-SFT, Direct-RL and ASTRO-RL (and GRPO checkpoints);
8. ``report``     report.md / report.json: what was run, the control table per set, dynamics, plots.

The command line is the config tree (`astro.config.RunConfig`): a preset (`--preset`) or a saved
tree (`--config run_config.json`), then one flag per field, nested by component
(`--sft.lr 3e-6 --grpo.group-size 4 --search.agent-config.c-puct 1.5`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Sequence

import tyro

from astro.args import expand_aliases, parse_config, take_option
from astro.config import PRESETS, RunConfig, changed_fields
from astro_env.errors import UserError

log = logging.getLogger("astro.run")

ALIASES = {
    "--task": "--task.name",
    "--model": "--policy.model",
    "--backend": "--policy.backend",
    "--search-agent": "--search.agent",
    "--search-policy": "--proposer.backend",
    "--teacher": "--proposer.model",
    "--executor": "--executor.kind",
    "--train-problems": "--task.train-problems",
    "--bench": "--task.bench",
    "--chat-template": "--chat.template",
    "--system-prompt": "--chat.system-prompt",
}
"""Short flags of `astro run` (plain renamings of tree fields)."""


@dataclass(frozen=True)
class RunArgs(RunConfig):
    """The config tree, and how this invocation runs it."""

    out: str = ""
    """Run folder (default: runs/<preset>)."""
    dry_run: bool = False
    """Validate, write each stage's config under OUT/stages/, print the plan, the estimated compute and the
    command that launches each stage; run nothing."""
    verbose: Annotated[bool, tyro.conf.arg(aliases=("-v",))] = False
    """Debug logging."""
    config: str = ""
    """Start from a saved config tree (a run's run_config.json) instead of --preset; flags override it."""


def parse_args(argv: Sequence[str] | None) -> tuple[RunConfig, RunArgs]:
    """(the config tree, this invocation's options) from `argv`: the preset or file, then flags."""
    argv = expand_aliases(list(argv if argv is not None else []), ALIASES)
    preset, _ = take_option(argv, "--preset")
    path, _ = take_option(argv, "--config")
    if preset is not None and preset not in PRESETS:
        raise UserError(f"--preset {preset!r}: use one of {', '.join(sorted(PRESETS))}.")
    if path is not None:
        from astro.configfile import read_config_file

        start, _ = read_config_file(RunConfig, path)
    else:
        start = PRESETS[preset or "default"]
    default = RunArgs(**{f.name: getattr(start, f.name) for f in fields(RunConfig)}, config=path or "")
    description = (
        "Direct-vs-ASTRO end to end: search trees, traces, SFT and GRPO per arm, evaluation, report. Default: the embedded "
        "Countdown model on a CPU; --task math --model DIR --bench math500 amc23 aime24 for the paper's experiment. "
        f"Presets: {', '.join(sorted(PRESETS))} (--preset NAME). Short flags: "
        + ", ".join(f"{a} = {b}" for a, b in ALIASES.items()) + ". The fields the pipeline fills for each stage (paths, "
        "per-stage seeds, the executor; astro.config.PER_STAGE) are listed below but refused here."
    )
    args = parse_config(RunArgs, argv, default, prog="astro run", description=description)
    config = RunConfig(**{f.name: getattr(args, f.name) for f in fields(RunConfig)})
    return config, args


def check_environment(config: RunConfig, run_dir: Path, *, local_only: bool = False) -> None:
    """Everything a run needs that the config alone cannot say, checked before any stage runs.

    The run folder is a folder that can be written; components resolve (task, search agent,
    policy backends, GRPO engine); named files exist and hold what they should (problem sets are
    read whole); named models are model directories (or, unless `local_only`, hub ids that can be
    loaded); benchmark names are known; then every stage of the plan is checked by the same
    `astro.validate.validate` its own command runs, the files earlier stages write being taken
    as planned. `astro run --dry-run` runs it with `local_only` (a plan may name hub models it
    does not download here). Raises UserError with one line.
    """
    import astro_env
    from astro.plan import proposer_policy, run_stages
    from astro.validate import check_model, check_out, check_problems, validate
    from astro_env.registry import POLICIES

    check_out("--out", str(run_dir), "dir")
    astro_env.get_task(config.task.name, config.task.config)
    POLICIES.check(config.policy.backend)
    proposer, _ = proposer_policy(config, run_dir)
    POLICIES.check(proposer.backend)
    if config.task.train_problems:
        check_problems("--task.train-problems", config.task.train_problems, config.task.data_dir or None, local_only=local_only)
    for spec in config.task.bench:
        check_problems("--task.bench", spec, config.task.data_dir or None, local_only=local_only)
    for flag, path in (("--policy.model", config.policy.model), ("--proposer.model", config.proposer.model), ("--judge.model", config.judge.model)):
        if path and _looks_local(path) and not (Path(path) / "config.json").is_file():
            raise UserError(f"{flag} {path}: no model there (a save_pretrained directory has config.json).")
        if path and not local_only and path not in ("oracle",) and not _looks_local(path):
            check_model(flag, path)
    if config.accelerate_config and config.runnable_here and not Path(config.accelerate_config).is_file():
        raise UserError(f"--accelerate-config {config.accelerate_config}: no such file.")
    for stage in run_stages(config, run_dir):
        validate(stage.command, stage.config, planned=run_dir, local_only=True)


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _looks_local(path: str) -> bool:
    """A path, not a hub name (`org/name` or `name`): it exists, starts like a path, or has two slashes."""
    return Path(path).exists() or path.startswith((".", "/", "~")) or path.count("/") >= 2


def main(argv: Sequence[str] | None = None) -> int:
    config, args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    run_dir = Path(args.out or f"runs/{config.preset}")
    needs_gpu = not config.runnable_here and not _has_cuda()
    check_environment(config, run_dir, local_only=args.dry_run or needs_gpu)  # before anything is written
    if args.dry_run or needs_gpu:
        from astro.launch import describe_plan

        print(describe_plan(config, run_dir))
        if needs_gpu and not args.dry_run:
            print(f"\nPreset {config.preset!r} needs GPUs (model {config.policy.model}, backend {config.policy.backend}); the "
                  "configuration is valid. Launch its stages on a cluster with the commands above.")
        return 0
    import torch

    from astro.pipeline import run_pipeline
    from astro.stages import RunLock

    torch.set_num_threads(config.threads)
    with RunLock(run_dir):
        if changed_fields(config):
            log.info("flags that differ from preset %r: %s", config.preset, json.dumps(changed_fields(config), default=str))
        report = run_pipeline(config, run_dir)
    print(report)
    return 0


__all__ = ["ALIASES", "RunArgs", "check_environment", "main", "parse_args"]


if __name__ == "__main__":
    raise SystemExit(main())
