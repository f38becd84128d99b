"""`RunConfig`: everything that decides an `astro run`, its presets, and what each stage consumes.

A run config is saved (resolved) as `run_config.json` in the run folder. Every stage's key
(`stage_keys`) is exactly the part of the config that stage consumes plus the key of the
stages it reads from, so a changed flag re-runs the stage that uses it and every stage after
it, and nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

ARMS = ("direct", "astro")
MODEL_LABELS = {
    "base": "Base",
    "direct-sft": "Direct-SFT",
    "astro-sft": "ASTRO-SFT",
    "direct-rl": "Direct-RL",
    "astro-rl": "ASTRO-RL",
}
HELD_OUT = "test"
"""Evaluation set name of a task's generated held-out split (when `bench` is empty)."""
STEP_MAX_TOKENS = 64
"""Token budget of one proposed step during search on the embedded default (Countdown steps are short)."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a Direct-vs-ASTRO run; saved as run_config.json in the run folder."""

    preset: str = "default"
    """Name of the preset these values came from (informational)."""
    seeds: tuple[int, ...] = (0,)
    """Training/evaluation seeds: SFT, GRPO and evaluation are repeated per seed (95% intervals need >= 2)."""
    # --- task and problems -----------------------------------------------------------------
    task: str = "countdown"
    """Task: countdown, math, reasoning_gym:<dataset>, a plug-in's name, or package.module:Class."""
    train_problems: str = ""
    """Problems for search, SFT and GRPO: a .jsonl file or a set name (math_train, numinamath, ...);
    empty = the task generates them (Countdown, the synthetic MATH-style task, reasoning_gym)."""
    bench: tuple[str, ...] = ()
    """Evaluation sets (math500, amc23, aime24, aime25, or .jsonl files); empty = a held-out split the task generates."""
    bench_limit: int = 0
    """Evaluate on the first N problems of each set (0 = all)."""
    data_dir: str = ""
    """Benchmark data directory (empty: $ASTRO_DATA_DIR, else ../shared/data, else the hub)."""
    n_train: int = 300
    """Training problems (generated, or the first N of --train-problems; 0 = all of the file)."""
    n_test: int = 200
    """Held-out generated problems for evaluation when --bench is empty (disjoint from train)."""
    n_numbers: int = 3
    """Numbers per Countdown problem (Countdown only)."""
    max_number: int = 9
    """Largest number in a Countdown problem (Countdown only)."""
    max_target: int = 50
    """Largest Countdown target (Countdown only)."""
    data_seed: int = 1234
    """Seed of the problem generator and of the search."""
    # --- models ------------------------------------------------------------------------------
    model: str = ""
    """Base policy: empty = pre-train the embedded model here; else a save_pretrained dir or hub name."""
    backend: str = "transformers"
    """Generation backend of the policy (search with --search-policy base, GRPO rollouts, evaluation)."""
    pretrain_steps: int = 2500
    """Optimiser steps of the embedded base model's pre-training (only without --model; 2000 left the
    base's legal-step rate at 0.940 on the default run's test split, under the 0.95 gate)."""
    pretrain_threads: int = 2
    """torch threads of the embedded pre-training, which runs alone (1.6x faster than one thread on two
    idle cores; on a machine other work keeps busy, 1 is steadier). Part of the base model's key: the
    thread count changes float rounding, so a changed value re-trains the base."""
    search_policy: str = "countdown"
    """Who proposes steps during search: `base` (the policy itself, as in the paper), or a policy backend
    name built with --teacher as its model (`countdown`: the symbolic Countdown proposer; `reference`: the
    reference-solution teacher, a plumbing check; `transformers`/`vllm`/`openai`: a teacher model)."""
    teacher: str = ""
    """Model of the search policy when it is not `base` (transformers/vllm dir or hub name, openai model name)."""
    teacher_url: str = "http://127.0.0.1:8000/v1"
    """OpenAI-compatible server of a teacher with --search-policy openai."""
    judge: str = ""
    """Self-evaluation judge model (--self-eval); empty = the base model."""
    # --- search ------------------------------------------------------------------------------
    search_agent: str = "mcts"
    """Search agent: mcts, best_of_n, beam, a plug-in's name, or package.module:Class."""
    search_options: tuple[str, ...] = ()
    """Fields of the search agent's own config as key=value (e.g. c_puct=1.5); they win over the budget below."""
    n_iterations: int = 32
    """MCTS iterations per problem (paper: 32); given to any agent whose config has this field."""
    n_children: int = 8
    """Candidate steps per expansion (paper: 8); given to any agent whose config has this field."""
    n_rollouts: int = 16
    """Rollouts valuing each new child (paper: 16); given to any agent whose config has this field."""
    max_depth: int = 12
    """Deepest node of a tree (paper: 50); given to any agent whose config has this field."""
    step_max_tokens: int = STEP_MAX_TOKENS
    """Token budget of one proposed step during search."""
    # --- traces ------------------------------------------------------------------------------
    k_values: tuple[int, ...] = (1, 2, 3)
    """Wrong branches visited before the correct one in a search trace (paper: 1..2; ours reaches 3)."""
    style: Literal["phrases", "markers", "off"] = "phrases"
    """How backtracks are verbalised: ASTRO's reflection phrases, explicit marker tokens, or nothing (ablation)."""
    confirm_intermediate: bool = False
    """Write the positive reflection ("... seems to be correct so far.") after high-Q intermediate steps
    of ASTRO traces, as the paper does (the paper preset: on). Off in the embedded presets: on Countdown
    a small model learns that a step without it belongs to a failed attempt and rejects by that cue
    instead of by the comparison with the target (measured: ASTRO-SFT greedy solve rate 0.21 with it,
    0.355 without; see the README)."""
    self_eval: bool = False
    """Keep only correct solutions the judge approves unanimously (paper: 8 votes)."""
    # --- SFT ---------------------------------------------------------------------------------
    sft_epochs: int = 3
    """Epochs over the traces (paper: 1, as an initialisation for RL; the embedded 1M-parameter model meets
    the reflection phrases for the first time in SFT and underfits them in one epoch, so the embedded
    default takes 3 for both arms)."""
    sft_lr: float = 2e-3
    """Peak learning rate of SFT (paper, 70B: 3e-6)."""
    sft_batch_size: int = 16
    """Sequences per optimiser step."""
    sft_max_length: int = 2048
    """Longest SFT example in tokens (paper: 8192)."""
    # --- GRPO --------------------------------------------------------------------------------
    grpo_engine: str = "astro"
    """GRPO trainer: astro (in-house, fastest on a CPU) or trl (TRL's GRPOTrainer: accelerate, DeepSpeed, vLLM)."""
    grpo_steps: int = 40
    """GRPO optimiser steps per arm (40 keeps the default run within 15 minutes on two cores)."""
    group_size: int = 4
    """Rollouts per prompt (paper: 4)."""
    prompts_per_step: int = 8
    """Prompts per GRPO step."""
    grpo_lr: float = 2e-4
    """GRPO learning rate (paper, 70B: 2e-7)."""
    grpo_warmup_steps: int = 0
    """Linear warm-up steps of the GRPO learning rate (paper: 80)."""
    pass_rate_low: float = 0.01
    """Keep prompts whose SFT pass rate is at least this (paper: 1%)."""
    pass_rate_high: float = 0.75
    """... and at most this (paper: 75%)."""
    pass_rate_samples: int = 8
    """Samples per prompt to estimate its pass rate."""
    max_new_tokens: int = 256
    """Completion budget of rollouts (search, GRPO) and evaluation."""
    eval_every: int = 0
    """Evaluate GRPO checkpoints every N steps (0 = the final model only); the report plots the dynamics."""
    # --- evaluation --------------------------------------------------------------------------
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
    # --- scale-out ----------------------------------------------------------------------------
    executor: Literal["local", "ray"] = "local"
    """Where search, self-evaluation, the difficulty filter and evaluation run: in process, or shards on Ray."""
    ray_address: str = ""
    """Ray cluster to join (`auto` on a node of a started cluster); empty = a local cluster started by the run."""
    ray_gpus_per_worker: float = 0.0
    """GPUs each Ray worker (one policy engine) reserves (paper preset: 1)."""
    deepspeed_config: str = ""
    """accelerate/DeepSpeed config file for SFT and GRPO on GPUs (empty: single process)."""
    runnable_here: bool = True
    """False for presets that need GPUs (the paper preset): on a machine without a CUDA GPU, `astro run`
    validates and prints the plan and the launch commands only."""
    plumbing_check: bool = False
    """True for presets whose numbers mean nothing (smoke-math): the report says so first."""

    def __post_init__(self) -> None:
        def fail(message: str) -> None:
            raise ValueError(message)

        if not self.seeds:
            fail("seeds is empty: give at least one seed, e.g. --seeds 0.")
        for name, low in (("n_train", 0), ("n_test", 1), ("n_numbers", 2), ("pretrain_steps", 1), ("pretrain_threads", 1), ("n_iterations", 1),
                          ("n_children", 1), ("n_rollouts", 1), ("max_depth", 1), ("step_max_tokens", 1),
                          ("sft_epochs", 1), ("sft_batch_size", 1), ("sft_max_length", 16), ("grpo_steps", 1),
                          ("group_size", 2), ("prompts_per_step", 1), ("pass_rate_samples", 1),
                          ("max_new_tokens", 1), ("eval_samples", 1), ("threads", 1), ("bench_limit", 0),
                          ("eval_every", 0), ("grpo_warmup_steps", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                fail(f"{name}={value!r}: use an integer >= {low} (--{name.replace('_', '-')}).")
        for name in ("sft_lr", "grpo_lr"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                fail(f"{name}={value!r}: use a finite learning rate > 0 (--{name.replace('_', '-')}).")
        if not all(isinstance(k, int) and k >= 1 for k in self.k_values) or not self.k_values:
            fail(f"k_values={self.k_values}: give each k (wrong branches per search trace) as an integer >= 1.")
        for name in ("pass_rate_low", "pass_rate_high", "top_p", "temperature"):
            if not math.isfinite(getattr(self, name)):
                fail(f"{name}={getattr(self, name)}: use a finite number.")
        if not 0 <= self.pass_rate_low <= self.pass_rate_high <= 1:
            fail(f"pass-rate window [{self.pass_rate_low}, {self.pass_rate_high}] must satisfy 0 <= low <= high <= 1.")
        if self.temperature < 0:
            fail(f"temperature={self.temperature}: use >= 0 (0 = greedy).")
        if not 0 < self.top_p <= 1:
            fail(f"top_p={self.top_p}: use a value in (0, 1].")
        if self.style not in ("phrases", "markers", "off"):
            fail(f"style={self.style!r}: use phrases, markers or off.")
        if self.backend == "vllm" and not self.model and self.runnable_here:
            fail("backend='vllm' needs --model (a checkpoint vLLM can load); the embedded model uses transformers.")
        if self.grpo_engine not in ("astro", "trl"):
            fail(f"grpo_engine={self.grpo_engine!r}: use astro or trl.")
        if self.search_policy != "base" and self.search_policy not in ("countdown", "reference") and not self.teacher:
            fail(f"search_policy={self.search_policy!r} needs --teacher MODEL (or use --search-policy base).")
        if self.train_problems == "" and self.n_train < 1:
            fail("n_train=0 means 'all of --train-problems', which is empty: give --n-train >= 1 or --train-problems.")
        for item in self.search_options:
            if "=" not in item:
                fail(f"search option {item!r}: write key=value, e.g. --search-options c_puct=1.5.")

    @property
    def executor_config(self):
        """The `search.executor.ExecutorConfig` every parallel stage of this run uses."""
        from search.executor import ExecutorConfig

        return ExecutorConfig(kind=self.executor, ray_address=self.ray_address or None, gpus_per_worker=self.ray_gpus_per_worker)

    @property
    def countdown(self):
        """The `CountdownConfig` of this run's problems and of the embedded model's pre-training."""
        from astro_env.countdown import CountdownConfig

        return CountdownConfig(n_numbers=self.n_numbers, max_number=self.max_number, max_target=self.max_target)

    @property
    def models(self) -> list[str]:
        """Evaluated models, in report order."""
        return ["base", "direct-sft", "astro-sft", "direct-rl", "astro-rl"]

    @property
    def benches(self) -> tuple[str, ...]:
        """Evaluation set names as they appear in reports (the held-out split is `test`)."""
        return tuple(_bench_label(b) for b in self.bench) if self.bench else (HELD_OUT,)

    @property
    def embedded(self) -> bool:
        """True when the base model is pre-trained here (no --model)."""
        return not self.model


def _bench_label(spec: str) -> str:
    name = spec.rsplit("/", 1)[-1]
    return name[: -len(".jsonl")] if name.endswith(".jsonl") else name


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
    "smoke-math": RunConfig(
        preset="smoke-math",
        task="math",
        train_problems="math500",
        bench=("math500", "amc23"),
        bench_limit=8,
        n_train=12,
        pretrain_steps=60,
        search_policy="reference",
        n_iterations=8,
        n_children=4,
        n_rollouts=2,
        max_depth=12,
        step_max_tokens=128,
        sft_epochs=1,
        sft_max_length=1024,
        grpo_steps=2,
        prompts_per_step=4,
        pass_rate_samples=2,
        max_new_tokens=64,
        eval_samples=1,
        plumbing_check=True,
    ),
    "replicate": RunConfig(preset="replicate", seeds=(0, 1, 2)),
    "paper": RunConfig(
        preset="paper",
        task="math",
        train_problems="math_train",
        bench=("math500", "amc23", "aime24"),
        n_train=0,
        model="meta-llama/Llama-3.1-70B-Instruct",
        backend="vllm",
        search_policy="base",
        n_iterations=32,
        n_children=8,
        n_rollouts=16,
        max_depth=50,
        step_max_tokens=512,
        confirm_intermediate=True,
        sft_epochs=1,
        sft_lr=3e-6,
        sft_batch_size=128,
        sft_max_length=8192,
        grpo_engine="trl",
        grpo_steps=1000,
        group_size=4,
        prompts_per_step=64,
        grpo_lr=2e-7,
        grpo_warmup_steps=80,
        pass_rate_samples=16,
        max_new_tokens=15_360,
        eval_every=100,
        eval_samples=16,
        temperature=0.6,
        top_p=0.95,
        deepspeed_config="training/configs/accelerate_zero3.yaml",
        executor="ray",
        ray_address="auto",
        ray_gpus_per_worker=1.0,
        runnable_here=False,
    ),
}


def config_hash(obj: Any) -> str:
    """Stable short hash of a JSON-serialisable configuration."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def changed_fields(config: RunConfig) -> dict[str, Any]:
    """{field: value} of `config` that differ from its preset (what the command line changed)."""
    base = PRESETS.get(config.preset, RunConfig())
    return {f.name: getattr(config, f.name) for f in fields(RunConfig)
            if f.name != "preset" and getattr(config, f.name) != getattr(base, f.name)}


def search_options(config: RunConfig) -> dict[str, Any]:
    """The search agent's config values this run sets: the budget fields the agent's config has,
    best-of-N at the MCTS rollout budget (equal compute), then --search-options (which win)."""
    from search.agent import parse_options, search_agent_class

    names = {f.name for f in dataclasses.fields(search_agent_class(config.search_agent).Config)}
    budget = {
        "n_iterations": config.n_iterations,
        "n_children": config.n_children,
        "n_rollouts": config.n_rollouts,
        "max_depth": config.max_depth,
        "step_max_tokens": config.step_max_tokens,
        "rollout_max_tokens": config.max_new_tokens,
        "max_tokens": config.max_new_tokens,
        # best-of-N and beam at equal compute: as many whole samples as MCTS spends on rollouts
        "n_samples": config.n_iterations * config.n_children * config.n_rollouts,
        "beam_width": config.n_children,
        "n_expansions": config.n_children,
    }
    options: dict[str, Any] = {k: v for k, v in budget.items() if k in names}
    options.update(parse_options(config.search_options))
    return options


def stage_keys(config: RunConfig) -> dict[str, dict[str, Any]]:
    """What each kind of stage consumes from `config` (the stage runner adds the keys of its inputs)."""
    cfg = asdict(config)

    def pick(*names: str) -> dict[str, Any]:
        return {k: cfg[k] for k in names}

    from search.verbalize import PhraseBank, phrase_fragments

    # the phrase bank's text is an input too: the base's corpus writes its comparisons, the traces all of it
    keys = {
        "problems": pick("task", "train_problems", "bench", "bench_limit", "n_train", "n_test", "data_seed")
        | (pick("n_numbers", "max_number", "max_target") if config.task == "countdown" else {}),
        # the embedded model is pre-trained on Countdown walks of the run's Countdown settings
        "base": pick("model") if config.model else pick("pretrain_steps", "pretrain_threads", "data_seed", "n_numbers", "max_number", "max_target")
        | {"phrases": asdict(PhraseBank()), "phrase_tokens": phrase_fragments()},
        "trees": pick("search_agent", "search_policy", "data_seed", "max_new_tokens")
        | {"agent_config": _agent_config_dict(config)}
        | (pick("backend") if config.search_policy == "base" else pick("teacher", "teacher_url")),
        "traces": pick("k_values", "style", "confirm_intermediate", "self_eval", "data_seed")
        | {"phrases": asdict(PhraseBank.load(style=config.style))} | (pick("judge", "backend") if config.self_eval else {}),
        "sft": pick("sft_epochs", "sft_lr", "sft_batch_size", "sft_max_length", "deepspeed_config"),
        "rl": pick("grpo_engine", "grpo_steps", "group_size", "prompts_per_step", "grpo_lr", "grpo_warmup_steps",
                   "pass_rate_low", "pass_rate_high", "pass_rate_samples", "max_new_tokens", "backend", "eval_every"),
        "eval": pick("eval_samples", "temperature", "top_p", "max_new_tokens", "backend"),
    }
    return keys


def _agent_config_dict(config: RunConfig) -> dict[str, Any]:
    from search.agent import agent_config

    return asdict(agent_config(config.search_agent, search_options(config)))


def plan(config: RunConfig) -> list[str]:
    """The stages `astro run` executes for `config`, in order."""
    stages = ["problems"] + ([] if config.model else ["base"]) + ["trees", "traces"]
    for seed in config.seeds:
        for arm in ARMS:
            stages += [f"seed{seed}/sft-{arm}", f"seed{seed}/rl-{arm}"]
        stages += [f"seed{seed}/eval-{m}" for m in config.models]
    return stages + ["report"]


def to_json(config: RunConfig) -> dict[str, Any]:
    """The resolved configuration as saved in run_config.json (the search agent's own config included)."""
    out = asdict(config)
    try:
        out["search_agent_config"] = _agent_config_dict(config)
    except ValueError:
        pass
    return out


__all__ = ["ARMS", "HELD_OUT", "MODEL_LABELS", "PRESETS", "RunConfig", "changed_fields", "config_hash", "plan",
           "search_options", "stage_keys", "to_json"]
