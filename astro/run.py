"""`astro run`: the Direct-vs-ASTRO ablation end to end, with a report, for any task, model and engine.

Stages (each a function of the previous stages' files; see `astro.pipeline`):

1. ``problems``   training problems (generated, or --train-problems) and the evaluation sets
                  (--bench, or a held-out split the task generates), never overlapping;
2. ``base``       pre-train the embedded base model (only without --model);
3. ``trees``      search trees for the training problems (--search-agent, --search-policy);
4. ``traces``     ASTRO traces and Direct traces from the same trees, matched in count;
5. ``sft-<arm>``  behaviour cloning of the same base model on each arm;
6. ``rl-<arm>``   GRPO of each SFT model with the same budget and difficulty filter;
7. ``eval-<m>``   evaluation of Base, Direct-SFT, ASTRO-SFT, Direct-RL and ASTRO-RL (and GRPO checkpoints);
8. ``report``     report.md / report.json: what was run, the control table per set, dynamics, plots.

Presets are `RunConfig` instances in `astro.config.PRESETS`; every flag overrides one field.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import typing
from dataclasses import fields, replace
from pathlib import Path
from typing import Literal, Sequence

from astro.config import PRESETS, RunConfig, changed_fields, plan, to_json

log = logging.getLogger("astro.run")


def parse_args(argv: Sequence[str] | None) -> tuple[RunConfig, argparse.Namespace]:
    """RunConfig from `--preset` plus one flag per field that differs from the preset."""
    parser = argparse.ArgumentParser(
        prog="astro run",
        description="Direct-vs-ASTRO end to end: search trees, traces, SFT and GRPO per arm, evaluation, report. "
        "Default: the embedded Countdown model on a CPU; --task math --model DIR --bench math500,amc23,aime24 for the paper's experiment.",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default", help="starting values (default: %(default)s)")
    parser.add_argument("--out", default=None, help="run folder (default: runs/<preset>)")
    parser.add_argument("--dry-run", action="store_true", help="validate, print the plan, the estimated compute and the launch commands; run nothing")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, and tracebacks for errors")
    docs = _field_docs()
    hints = typing.get_type_hints(RunConfig)
    for f in fields(RunConfig):
        if f.name in ("preset", "runnable_here", "plumbing_check"):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(RunConfig(), f.name)
        helptext = docs.get(f.name, "")
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=helptext)
        elif isinstance(default, tuple):
            item = typing.get_args(hints[f.name])[0]
            parser.add_argument(flag, dest=f.name, type=_list_item(item), nargs="+", default=None, help=helptext)
        elif typing.get_origin(hints[f.name]) is Literal:
            parser.add_argument(flag, dest=f.name, choices=typing.get_args(hints[f.name]), default=None, help=helptext)
        else:
            parser.add_argument(flag, dest=f.name, type=_scalar(type(default)), default=None, help=helptext)
    args = parser.parse_args(list(argv) if argv is not None else None)
    overrides = {}
    for f in fields(RunConfig):
        value = getattr(args, f.name, None)
        if value is None:
            continue
        if isinstance(value, list):  # nargs="+": items may also be comma-separated
            value = tuple(x for v in value for x in (v if isinstance(v, tuple) else (v,)))
        overrides[f.name] = value
    return replace(PRESETS[args.preset], **overrides), args


def _scalar(kind: type):
    def convert(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None

    convert.__name__ = kind.__name__
    return convert


def _list_item(kind: type):
    """A list item type that also splits `a,b,c` (so `--bench math500,amc23` works)."""

    def convert(text: str):
        parts = [p for p in text.split(",") if p.strip()]
        try:
            values = tuple(kind(p.strip()) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a list of {kind.__name__}") from None
        return values

    convert.__name__ = kind.__name__
    return convert


def _field_docs() -> dict[str, str]:
    """Attribute docstrings of RunConfig, for --help."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(RunConfig))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for prev, node in zip(body, body[1:]):
        if isinstance(prev, ast.AnnAssign) and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            docs[prev.target.id] = " ".join(str(node.value.value).split()).replace("%", "%%")  # type: ignore[attr-defined]
    return docs


def check_environment(config: RunConfig, run_dir: Path) -> None:
    """Everything a run needs that the config alone cannot say, checked before any stage runs.

    Components resolve (task, search agent and its options, policy backends), named files exist,
    benchmark names are known, the run folder is writable. Raises ValueError with one line.
    """
    import astro_env
    from astro.config import search_options
    from astro_env.loaders import check_problem_spec
    from astro_env.registry import POLICIES
    from search.agent import agent_config

    astro_env.get_task(config.task)
    agent_config(config.search_agent, search_options(config))
    POLICIES.check(config.backend)
    if config.search_policy != "base":
        POLICIES.check(config.search_policy)
    if config.train_problems:
        check_problem_spec(config.train_problems, config.data_dir or None)
    for spec in config.bench:
        check_problem_spec(spec, config.data_dir or None)
    for name in ("model", "teacher", "judge"):
        path = getattr(config, name)
        if path and _looks_local(path) and not (Path(path) / "config.json").is_file():
            raise ValueError(f"--{name} {path}: no model there (a save_pretrained directory has config.json).")
    if config.deepspeed_config and config.runnable_here and not Path(config.deepspeed_config).is_file():
        raise ValueError(f"--deepspeed-config {config.deepspeed_config}: no such file.")
    if config.model and config.backend == "countdown":
        raise ValueError("--backend countdown is the symbolic proposer, not a model backend: use transformers or vllm with --model.")
    probe = run_dir if run_dir.exists() else next((p for p in run_dir.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK):
        raise ValueError(f"--out {run_dir}: {probe} is not writable.")
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir}: a file is in the way; give a folder.")


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
    if args.dry_run or needs_gpu:
        from astro.launch import describe_plan

        print(describe_plan(config, run_dir))
        if needs_gpu and not args.dry_run:
            print(f"\nPreset {config.preset!r} needs GPUs (model {config.model}, backend {config.backend}); the configuration "
                  "is valid. Launch its stages on a cluster with the commands above.")
        return 0
    check_environment(config, run_dir)
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


__all__ = ["check_environment", "main", "parse_args", "plan", "to_json"]


if __name__ == "__main__":
    raise SystemExit(main())
