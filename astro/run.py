"""`astro run`: the Direct-vs-ASTRO ablation end to end, with a report.

Stages (each a function of the previous stage's files; a stage whose output exists and whose
configuration matches is skipped, so a killed run continues where it stopped):

1. ``problems``   generate Countdown problems, split into train / held-out test (no overlap);
2. ``base``       pre-train the embedded base model (or take ``--model``);
3. ``trees``      search trees for the train problems with the configured search agent and policy;
4. ``traces``     ASTRO traces and Direct traces from the same trees, matched in count;
5. ``sft-<arm>``  behaviour cloning of the same base model on each arm;
6. ``rl-<arm>``   GRPO of each SFT model with the same budget and difficulty filter;
7. ``eval-<m>``   evaluation of base, Direct-SFT, ASTRO-SFT, Direct-RL and ASTRO-RL on the test split;
8. ``report``     report.md / report.json, trace statistics, plots, the tree viewer page.

Presets are `RunConfig` instances in `PRESETS`; every flag overrides one field.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from astro_env.jsonl import write_json

log = logging.getLogger("astro.run")

ARMS = ("direct", "astro")


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a Direct-vs-ASTRO run; saved as run_config.json in the run folder."""

    preset: str = "default"
    """Name of the preset these values came from (informational)."""
    seeds: tuple[int, ...] = (0,)
    """Training/evaluation seeds: SFT, GRPO and evaluation are repeated per seed (95% intervals need >= 2)."""
    # --- problems -------------------------------------------------------------------------
    n_train: int = 300
    """Countdown problems for search, SFT and GRPO."""
    n_test: int = 200
    """Held-out Countdown problems for evaluation (disjoint from train)."""
    n_numbers: int = 3
    """Numbers per Countdown problem (difficulty)."""
    data_seed: int = 1234
    """Seed of the problem generator."""
    # --- base model -----------------------------------------------------------------------
    model: str = ""
    """Base policy: empty = pre-train the embedded model here; else a save_pretrained dir or hub name."""
    backend: Literal["transformers", "vllm"] = "transformers"
    """Generation backend for search, GRPO rollouts and evaluation."""
    pretrain_steps: int = 2000
    """Optimiser steps of the embedded base model's pre-training on the step grammar."""
    # --- search ---------------------------------------------------------------------------
    search_agent: Literal["mcts", "best_of_n", "beam"] = "mcts"
    """Search agent that builds the trees (ablation: best_of_n)."""
    search_policy: Literal["base", "countdown"] = "countdown"
    """Policy proposing steps during search: the symbolic Countdown proposer (a cheap, exact teacher that
    makes trees rich in correct and wrong branches on a CPU), or the base LLM itself as in the paper."""
    n_iterations: int = 32
    """MCTS iterations per problem (paper: 32)."""
    n_children: int = 8
    """Candidate steps per expansion (paper: 8)."""
    n_rollouts: int = 16
    """Rollouts valuing each new child (paper: 16)."""
    max_depth: int = 12
    """Deepest node of a tree (paper: 50)."""
    # --- traces ---------------------------------------------------------------------------
    k_values: tuple[int, ...] = (1, 2)
    """Wrong branches visited before the correct one in a search trace (paper: 1..2)."""
    style: Literal["phrases", "markers", "off"] = "phrases"
    """How backtracks are verbalised: ASTRO's reflection phrases, explicit marker tokens, or nothing (ablation)."""
    self_eval: bool = False
    """Keep only correct solutions the policy approves unanimously (paper: 8 votes)."""
    # --- SFT ------------------------------------------------------------------------------
    sft_epochs: int = 8
    """Epochs over the traces (paper: 1, as an initialisation for RL; a 1M-parameter model trained from
    scratch underfits the longer ASTRO traces in one epoch, so the embedded default takes 8 for both arms)."""
    sft_lr: float = 2e-3
    """Peak learning rate of SFT (paper, 70B: 3e-6)."""
    sft_batch_size: int = 16
    """Sequences per optimiser step."""
    # --- GRPO -----------------------------------------------------------------------------
    grpo_steps: int = 50
    """GRPO optimiser steps per arm."""
    group_size: int = 4
    """Rollouts per prompt (paper: 4)."""
    prompts_per_step: int = 8
    """Prompts per GRPO step."""
    grpo_lr: float = 2e-4
    """GRPO learning rate (paper, 70B: 2e-7)."""
    pass_rate_low: float = 0.01
    """Keep prompts whose SFT pass rate is at least this (paper: 1%)."""
    pass_rate_high: float = 0.75
    """... and at most this (paper: 75%)."""
    pass_rate_samples: int = 8
    """Samples per prompt to estimate its pass rate."""
    max_new_tokens: int = 256
    """Completion budget in GRPO and evaluation."""
    # --- evaluation -----------------------------------------------------------------------
    eval_samples: int = 8
    """Samples per test problem (paper: 16); pass@1 is their mean."""
    temperature: float = 0.6
    """Evaluation temperature."""
    top_p: float = 0.95
    """Evaluation nucleus mass."""
    threads: int = 1
    """torch CPU threads per process (one is fastest for the embedded model, and steady on a shared machine)."""
    parallel_arms: bool = True
    """Train and evaluate the Direct and ASTRO arms in two processes at once (one per core)."""
    # --- scale-out (paper preset) ---------------------------------------------------------
    deepspeed_config: str = ""
    """accelerate/DeepSpeed config file for SFT and GRPO on GPUs (empty: single process)."""
    runnable_here: bool = True
    """False for presets that need GPUs (the paper preset): `astro run` validates and prints the plan only."""

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("seeds is empty: give at least one seed, e.g. --seeds 0.")
        if self.n_train < 1 or self.n_test < 1:
            raise ValueError(f"n_train={self.n_train}, n_test={self.n_test}: both must be >= 1.")
        if not all(k >= 1 for k in self.k_values):
            raise ValueError(f"k_values={self.k_values}: each k (wrong branches per search trace) must be >= 1.")
        if self.group_size < 2:
            raise ValueError(f"group_size={self.group_size}: GRPO needs >= 2 rollouts per prompt to compare them.")
        if not 0 <= self.pass_rate_low <= self.pass_rate_high <= 1:
            raise ValueError(
                f"pass-rate window [{self.pass_rate_low}, {self.pass_rate_high}] must satisfy 0 <= low <= high <= 1."
            )
        if self.eval_samples < 1:
            raise ValueError(f"eval_samples={self.eval_samples}: use >= 1 (paper: 16).")
        if self.backend == "vllm" and not self.model and self.runnable_here:
            raise ValueError("backend='vllm' needs --model (a checkpoint vLLM can load); the embedded model uses transformers.")

    @property
    def models(self) -> list[str]:
        """Evaluated models, in report order."""
        return ["base", "direct-sft", "astro-sft", "direct-rl", "astro-rl"]


PRESETS: dict[str, RunConfig] = {
    "default": RunConfig(),
    "smoke": RunConfig(
        preset="smoke",
        n_train=24,
        n_test=16,
        pretrain_steps=60,
        n_iterations=16,
        n_children=4,
        n_rollouts=4,
        max_depth=8,
        grpo_steps=3,
        prompts_per_step=4,
        pass_rate_samples=4,
        max_new_tokens=96,
        eval_samples=2,
        sft_epochs=1,
    ),
    "replicate": RunConfig(preset="replicate", seeds=(0, 1, 2)),
    "paper": RunConfig(
        preset="paper",
        n_train=20_700,
        n_test=500,
        model="meta-llama/Llama-3.1-70B-Instruct",
        backend="vllm",
        n_iterations=32,
        n_children=8,
        n_rollouts=16,
        max_depth=50,
        sft_lr=3e-6,
        sft_batch_size=128,
        grpo_steps=1000,
        group_size=4,
        prompts_per_step=64,
        grpo_lr=2e-7,
        pass_rate_samples=16,
        max_new_tokens=15_360,
        eval_samples=16,
        sft_epochs=1,
        deepspeed_config="training/configs/accelerate_zero3.yaml",
        runnable_here=False,
    ),
}


def config_hash(obj: Any) -> str:
    """Stable short hash of a JSON-serialisable configuration."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class StageRunner:
    """Runs named stages under `run_dir`, skipping those already done with the same configuration."""

    run_dir: Path
    timings: dict[str, float] = field(default_factory=dict)

    def __call__(self, name: str, config: dict[str, Any], body: Callable[[Path], Any]) -> Path:
        out = self.run_dir / name
        marker = out / "stage.json"
        digest = config_hash(config)
        if marker.exists():
            done = json.loads(marker.read_text())
            if done.get("config_hash") == digest:
                log.info("stage %-14s done already (config %s), skipped", name, digest)
                self.timings[name] = 0.0
                return out
            log.warning("stage %s: configuration changed (%s -> %s), running it again", name, done.get("config_hash"), digest)
            marker.unlink()
        out.mkdir(parents=True, exist_ok=True)
        log.info("stage %-14s running", name)
        start = time.perf_counter()
        body(out)
        seconds = time.perf_counter() - start
        self.timings[name] = seconds
        write_json(marker, {"stage": name, "config_hash": digest, "config": config, "seconds": round(seconds, 2)})
        log.info("stage %-14s finished in %.1fs", name, seconds)
        return out


def parse_args(argv: Sequence[str] | None) -> tuple[RunConfig, argparse.Namespace]:
    """RunConfig from `--preset` plus one flag per field that differs from the preset."""
    parser = argparse.ArgumentParser(
        prog="astro run",
        description="Direct-vs-ASTRO end to end on the embedded default (Countdown, a locally built model, CPU).",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default", help="starting values (default: %(default)s)")
    parser.add_argument("--out", default=None, help="run folder (default: runs/<preset>)")
    parser.add_argument("--dry-run", action="store_true", help="validate the configuration, print the plan, run nothing")
    parser.add_argument("-v", "--verbose", action="store_true")
    docs = _field_docs()
    hints = typing.get_type_hints(RunConfig)
    for f in fields(RunConfig):
        if f.name in ("preset", "runnable_here"):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(RunConfig(), f.name)
        helptext = docs.get(f.name, "")
        if isinstance(default, bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=helptext)
        elif isinstance(default, tuple):
            parser.add_argument(flag, dest=f.name, type=int, nargs="+", default=None, help=helptext)
        elif typing.get_origin(hints[f.name]) is Literal:
            parser.add_argument(flag, dest=f.name, choices=typing.get_args(hints[f.name]), default=None, help=helptext)
        else:
            parser.add_argument(flag, dest=f.name, type=type(default), default=None, help=helptext)
    args = parser.parse_args(list(argv) if argv is not None else None)
    overrides = {
        f.name: (tuple(getattr(args, f.name)) if isinstance(getattr(args, f.name), list) else getattr(args, f.name))
        for f in fields(RunConfig)
        if hasattr(args, f.name) and getattr(args, f.name) is not None
    }
    return replace(PRESETS[args.preset], **overrides), args


def _field_docs() -> dict[str, str]:
    """Attribute docstrings of RunConfig, for --help."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(RunConfig))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for prev, node in zip(body, body[1:]):
        if isinstance(prev, ast.AnnAssign) and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            docs[prev.target.id] = str(node.value.value).replace("%", "%%")  # type: ignore[attr-defined]
    return docs


def plan(config: RunConfig) -> list[str]:
    """The stages `astro run` executes for `config`, in order."""
    stages = ["problems", "base", "trees", "traces"]
    for seed in config.seeds:
        for arm in ARMS:
            stages += [f"seed{seed}/sft-{arm}", f"seed{seed}/rl-{arm}"]
        stages += [f"seed{seed}/eval-{m}" for m in config.models]
    return stages + ["report"]


def main(argv: Sequence[str] | None = None) -> int:
    config, args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    run_dir = Path(args.out or f"runs/{config.preset}")
    if args.dry_run or not config.runnable_here:
        print(json.dumps({"config": asdict(config), "plan": plan(config), "run_dir": str(run_dir)}, indent=2))
        if not config.runnable_here and not args.dry_run:
            print(
                f"\nPreset {config.preset!r} needs GPUs (model {config.model}, backend {config.backend}); "
                "the configuration is valid. Launch its stages on a cluster with `accelerate launch` as in README.md."
            )
        return 0
    import torch

    from astro.pipeline import run_pipeline

    torch.set_num_threads(config.threads)

    report = run_pipeline(config, run_dir)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
