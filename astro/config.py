"""`RunConfig`: the config tree of an `astro run`, composed of the component configs, and its presets.

Each field has one home: the config of the component that reads it. The tree holds

| field | config | what reads it |
|---|---|---|
| `task` | `TaskConfig` (the task's name and own `Config`, the problem sets) | the `problems` stage |
| `chat` | `agents.chat.ChatConfig` | every stage that renders prompts (one value for all) |
| `policy` | `agents.base.PolicyConfig` | the base policy everywhere (`model` empty: pre-train the embedded one) |
| `pretrain` | `training.embedded.PretrainConfig` | the `base` stage (only without a model) |
| `proposer` | `agents.base.PolicyConfig` | who proposes steps during search (`base`: the policy itself) |
| `search` | `search.run.SearchConfig` (agent, the agent's own `Config`, the budget) | the `trees` stage |
| `traces`, `self_eval`, `judge`, `curation` | `search.linearize.LinearizeConfig`, `search.curation.SelfEvalConfig` | the `traces` stage |
| `sft`, `grpo`, `eval` | `training.sft.SFTConfig`, `training.grpo.GRPOConfig`, `benchmarks.evaluate.EvalConfig` | the per-seed stages |
| `executor` | `search.executor.ExecutorConfig` | every parallel stage |

plus a few run-level fields (seeds, the data seed, threads, parallel arms, `eval_every`, where SFT
and GRPO report their scalars, the accelerate config that launches them). Fields that tie a component to a place in the
run (input and output paths, seeds, the executor; `PER_STAGE`) are filled by the pipeline for
each stage (`astro.plan`) and must be left at their defaults here. Presets are instances of the
tree; `run_config.json` is the tree (`astro.configfile` reads it back into the same objects).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

from agents.base import PolicyConfig
from agents.chat import ChatConfig
from astro_env.errors import UserError
from astro_env.registry import component_config_field
from astro_env.task import task_config_class
from benchmarks.evaluate import EvalConfig
from search.builder import SearchBudget
from search.curation import SelfEvalConfig
from search.executor import ExecutorConfig
from search.linearize import LinearizeConfig
from search.run import SearchConfig
from training.embedded import PretrainConfig
from training.grpo import GRPOConfig
from training.sft import SFTConfig
from training.tracking import ReportTo

ARMS = ("direct", "astro")
MODELS = ("base", "direct-sft", "astro-sft", "direct-rl", "astro-rl")
"""Evaluated models, in report order."""
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
class TaskConfig:
    """The task and its problem sets: what the `problems` stage makes (training problems, evaluation sets)."""

    name: str = "countdown"
    """Task: countdown, math, reasoning_gym:<dataset>, a plug-in's name, or package.module:Class."""
    config: Any = component_config_field("name", task_config_class)
    """The task's own `Config` (its flags appear once --task.name names the task); None: its defaults,
    or nothing for a task that declares no Config. A mapping of its fields is turned into one."""
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
    """Training problems (generated, or the first N of --task.train-problems; 0 = all of the file)."""
    n_test: int = 200
    """Held-out generated problems for evaluation when --task.bench is empty (disjoint from train)."""
    n_rl: int = 0
    """Problems only GRPO trains on, disjoint from the training and evaluation problems (generated, or the
    next N of --task.train-problems); 0 = GRPO on the training problems, as the paper."""

    def __post_init__(self) -> None:
        config_cls = task_config_class(self.name)  # UserError naming the registered tasks
        if isinstance(self.config, Mapping) and config_cls is not None:
            object.__setattr__(self, "config", config_cls(**self.config))
        if self.config is None and config_cls is not None:
            object.__setattr__(self, "config", config_cls())
        elif self.config is not None and (config_cls is None or not isinstance(self.config, config_cls)):
            want = "no config" if config_cls is None else f"a {config_cls.__name__}"
            raise UserError(f"task {self.name!r} takes {want}, not a {type(self.config).__name__}.")
        for name, low in (("n_train", 0), ("n_test", 1), ("n_rl", 0), ("bench_limit", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise UserError(f"task.{name}={value!r}: use an integer >= {low} (--task.{name.replace('_', '-')}).")
        if isinstance(self.bench, str):
            raise UserError("task.bench is a list of set names or files, e.g. --task.bench math500 amc23.")
        if self.train_problems == "" and self.n_train < 1:
            raise UserError("task.n_train=0 means 'all of --task.train-problems', which is empty: give --task.n-train >= 1 or --task.train-problems.")
        if self.n_rl and self.train_problems and self.n_train == 0:
            raise UserError("task.n_rl needs problems after the training ones: give --task.n-train >= 1 with --task.train-problems.")

    @property
    def benches(self) -> tuple[str, ...]:
        """Evaluation set names as they appear in reports (the held-out split is `test`)."""
        return tuple(_bench_label(b) for b in self.bench) if self.bench else (HELD_OUT,)


def _bench_label(spec: str) -> str:
    name = spec.rsplit("/", 1)[-1]
    return name[: -len(".jsonl")] if name.endswith(".jsonl") else name


PER_STAGE: dict[str, dict[str, str]] = {
    "policy": {"seed": "--seeds / --data-seed", "chat": "--chat.*"},
    "proposer": {"seed": "--data-seed", "chat": "--chat.*"},
    "judge": {"seed": "--data-seed", "chat": "--chat.*"},
    "pretrain": {"out": "the run folder", "seed": "--data-seed", "task": "--task.name", "task_config": "--task.config",
                 "exclude": "the run's evaluation sets"},
    "search": {"seed": "--data-seed", "executor": "--executor"},
    "curation": {"seed": "--data-seed", "executor": "--executor"},
    "sft": {"traces": "the run folder", "model": "the run folder", "out": "the run folder", "seed": "--seeds",
            "report_to": "--report-to", "chat": "--chat.*"},
    "grpo": {"model": "the run folder", "problems": "the run folder", "out": "the run folder", "task": "--task.name",
             "task_config": "--task.config", "seed": "--seeds",
             "threads": "--threads", "executor": "--executor", "backend": "--policy.backend",
             "device": "--policy.device", "max_batch_size": "--policy.max-batch-size", "report_to": "--report-to",
             "chat": "--chat.*"},
    "eval": {"seed": "--seeds", "executor": "--executor", "benches": "--task.bench"},
}
"""Fields of the tree's component configs that the pipeline fills for each stage, and where their value comes from."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a Direct-vs-ASTRO run; saved as run_config.json in the run folder."""

    preset: str = "default"
    """The preset the values start from (`--preset NAME`; recorded in run_config.json and the report)."""
    seeds: tuple[int, ...] = (0,)
    """Training/evaluation seeds: SFT, GRPO and evaluation are repeated per seed (95% intervals need >= 2)."""
    data_seed: int = 1234
    """Seed of the data-side stages: problem generation, pre-training, search, linearisation, self-evaluation."""
    task: TaskConfig = TaskConfig(name="countdown", config={"n_numbers": 3, "max_number": 9, "max_target": 50})
    """The task and its problem sets."""
    chat: ChatConfig = ChatConfig()
    """The chat template and system prompt every stage renders task prompts with (search, SFT, GRPO,
    evaluation, the judge); the default keeps raw prompts, as the embedded model was pre-trained on."""
    policy: PolicyConfig = PolicyConfig(step_max_tokens=STEP_MAX_TOKENS)
    """The base policy: `model` empty = pre-train the embedded model here; else a save_pretrained dir or hub name,
    on `backend` (search with the base as proposer, GRPO rollouts, evaluation)."""
    pretrain: PretrainConfig = PretrainConfig(out="", n_steps=1250, batch_size=48, lr=4.2e-3, threads=1)
    """Pre-training of the embedded base model (only without --policy.model): 60,000 pairs as 1,250 steps of 48
    (docs/task-hooks.md: on the default run's unseen test split, legal-step rate 0.977 and arithmetic accuracy 0.983
    against 0.950 / 0.963 for 2,500 steps of 24, in 6 % fewer CPU seconds). One thread: two threads on a 2-core
    machine that anything else keeps busy run many times slower; the thread count changes float rounding, so it is
    part of the base model's key."""
    proposer: PolicyConfig = PolicyConfig(backend="", step_max_tokens=STEP_MAX_TOKENS)
    """Who proposes steps during search: backend `base` (the policy itself, as in the paper), a policy backend
    with its model (`countdown`: the symbolic Countdown proposer; `reference`: the reference-solution teacher, a
    plumbing check; `transformers`/`vllm`/`openai`: a teacher model), or empty: the task's default proposer."""
    search: SearchConfig = SearchConfig(budget=SearchBudget(n_iterations=32, n_children=8, n_rollouts=16, max_depth=12,
                                                            step_max_tokens=STEP_MAX_TOKENS, rollout_max_tokens=256))
    """The search agent, its own config and the equal-compute budget (paper: depth 50; the embedded default 12)."""
    traces: LinearizeConfig = LinearizeConfig(confirm_intermediate=False, mask_wrong_steps=True, backtrack_point="root",
                                              restate_problem=True)
    """How trees become ASTRO and Direct traces. confirm_intermediate is off in the embedded presets: on Countdown
    a small model learns that a step without the positive reflection belongs to a failed attempt and rejects by
    that cue instead of by the comparison with the target (measured: ASTRO-SFT greedy solve rate 0.21 with it,
    0.355 without). mask_wrong_steps is on in the embedded presets: trained on every token, ASTRO-SFT learns to
    miss first. Every jump is a restart that writes the problem again (backtrack_point root, restate_problem):
    a jump to the step just written lands where the target cannot be reached (four in five of the model's
    backtracks on Countdown), and after a restart without the restated problem the model copies its earlier
    attempt and misstates the target (docs/recipe.md: one flag each, and the replicate with and without them);
    the paper's presets keep the paper's."""
    self_eval: bool = False
    """Keep only correct solutions the judge approves (paper: unanimous, 8 votes)."""
    judge: PolicyConfig = PolicyConfig(backend="")
    """The self-evaluation judge: empty backend = the policy's; empty model = the base model."""
    curation: SelfEvalConfig = SelfEvalConfig()
    """How the judge votes (with --self-eval)."""
    sft: SFTConfig = SFTConfig(n_epochs=3, lr=2e-3, batch_size=16, max_length=2048)
    """SFT of each arm (paper, 70B: 1 epoch at 3e-6; the embedded model meets the reflection phrases for the first
    time in SFT and underfits them in one epoch, so the embedded default takes 3 for both arms)."""
    grpo: GRPOConfig = GRPOConfig(n_steps=40, group_size=4, prompts_per_step=8, lr=1e-4, warmup_steps=0,
                                  pass_rate_low=0.01, pass_rate_high=0.75, pass_rate_samples=8, max_new_tokens=256,
                                  if_none_kept="train_all")
    """GRPO of each arm's SFT model (40 steps keep the default run within 15 minutes on two cores; lr 1e-4 chosen
    over 2e-4 on five replicas, docs/recipe.md)."""
    eval: EvalConfig = EvalConfig(samples=8, temperature=0.6, top_p=0.95, max_tokens=256)
    """Evaluation of every model (paper: 16 samples per problem)."""
    eval_every: int = 0
    """Evaluate GRPO checkpoints every N steps (0 = the final model only; sets GRPO's save_every to N and keeps
    every checkpoint); the report plots the dynamics."""
    executor: ExecutorConfig = ExecutorConfig()
    """Where search, self-evaluation, the difficulty filter and evaluation run: in process, or shards on Ray."""
    threads: int = 1
    """torch CPU threads per process (one is fastest for the embedded model, and steady on a shared machine)."""
    parallel_arms: bool = True
    """Train and evaluate the Direct and ASTRO arms in two processes at once (one per core)."""
    report_to: ReportTo = "tensorboard"
    """Where SFT and GRPO send their scalars (TRL's names): tensorboard (OUT/tb of each stage), wandb, or none."""
    accelerate_config: str = ""
    """accelerate config file (DeepSpeed ZeRO: training/configs/accelerate_zero3.yaml) that SFT and GRPO are
    launched with (`accelerate launch --config_file FILE`); empty: they run in the run's own processes."""
    runnable_here: bool = True
    """False for presets that need GPUs (the paper preset): on a machine without a CUDA GPU, `astro run`
    validates and prints the plan and the launch commands only."""
    plumbing_check: bool = False
    """True for presets whose numbers mean nothing (smoke-math): the report says so first."""

    def __post_init__(self) -> None:
        if not self.seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in self.seeds):
            raise UserError(f"seeds={self.seeds!r}: give at least one integer seed, e.g. --seeds 0.")
        for name, low in (("threads", 1), ("eval_every", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise UserError(f"{name}={value!r}: use an integer >= {low} (--{name.replace('_', '-')}).")
        defaults = {f.name: f.default for f in fields(RunConfig)}
        for section, per_stage in PER_STAGE.items():
            value, default = getattr(self, section), defaults[section]
            for name, source in per_stage.items():
                if getattr(value, name) != getattr(default, name):
                    raise UserError(f"--{section}.{name.replace('_', '-')} is set per stage from {source}; leave it out.")
        if self.eval_every and (self.grpo.save_every, self.grpo.keep_checkpoints) != (defaults["grpo"].save_every, defaults["grpo"].keep_checkpoints):
            raise UserError("--eval-every sets GRPO's checkpoints (save_every = N, all kept): leave --grpo.save-every and --grpo.keep-checkpoints out.")
        if self.policy.backend == "vllm" and not self.policy.model and self.runnable_here:
            raise UserError("policy backend 'vllm' needs --policy.model (a checkpoint vLLM can load); the embedded model uses transformers.")
        if self.proposer.backend in ("transformers", "vllm", "openai") and not self.proposer.model:
            raise UserError(f"proposer backend {self.proposer.backend!r} needs --proposer.model (a teacher model), or use --proposer.backend base.")

    @property
    def models(self) -> list[str]:
        """Evaluated models, in report order."""
        return list(MODELS)

    @property
    def benches(self) -> tuple[str, ...]:
        """Evaluation set names as they appear in reports (the held-out split is `test`)."""
        return self.task.benches

    @property
    def embedded(self) -> bool:
        """True when the base model is pre-trained here (no --policy.model)."""
        return not self.policy.model


def _budget(**changes: int) -> SearchConfig:
    return SearchConfig(budget=replace(RunConfig().search.budget, **changes))


_SMOKE = RunConfig()


_PAPER_GRPO = replace(_SMOKE.grpo, engine="trl", n_steps=1000, group_size=4, prompts_per_step=64, lr=2e-7, warmup_steps=80,
                      pass_rate_samples=16, max_new_tokens=15_360, aggregation="token")
"""The paper's GRPO (ASTRO section 7): batch 256 = 64 prompts x 4, LR 2e-7, 80 warmup steps, token-level loss."""


def _paper(name: str, student: str, teacher: str, teacher_gpus: int) -> RunConfig:
    """The paper's recipe (ASTRO sections 3-8): `teacher` proposes the search steps through vLLM (Llama-3.3-70B-Instruct
    in the paper), `student` is fine-tuned and trained with GRPO; both read prompts in their own chat template;
    self-evaluation keeps unanimous approvals; SFT scores every token (no prompt masking); token-level GRPO.
    Each search worker holds one teacher engine over `teacher_gpus` GPUs (vLLM tensor parallelism)."""
    return replace(
        _SMOKE,
        preset=name,
        task=TaskConfig(name="math", train_problems="math_train", bench=("math500", "amc23", "aime24"), n_train=0),
        chat=ChatConfig(template="auto"),
        policy=PolicyConfig(backend="vllm", model=student, step_max_tokens=512),
        proposer=PolicyConfig(backend="vllm", model=teacher, step_max_tokens=512, extra={"tensor_parallel_size": teacher_gpus}),
        search=SearchConfig(budget=SearchBudget(n_iterations=32, n_children=8, n_rollouts=16, max_depth=50,
                                                step_max_tokens=512, rollout_max_tokens=15_360)),
        traces=LinearizeConfig(confirm_intermediate=True),
        self_eval=True,
        judge=PolicyConfig(backend="", model=teacher),
        sft=replace(_SMOKE.sft, n_epochs=1, lr=3e-6, batch_size=128, max_length=8192, loss_on="all"),
        grpo=_PAPER_GRPO,
        eval=replace(_SMOKE.eval, samples=16, temperature=0.6, top_p=0.95, max_tokens=15_360),
        eval_every=100,
        executor=ExecutorConfig(kind="ray", ray_address="auto", gpus_per_worker=float(teacher_gpus)),
        accelerate_config="training/configs/accelerate_zero3.yaml",
        runnable_here=False,
    )
PRESETS: dict[str, RunConfig] = {
    "default": RunConfig(),
    "smoke": replace(
        _SMOKE,
        preset="smoke",
        task=replace(_SMOKE.task, n_train=24, n_test=16),
        pretrain=replace(_SMOKE.pretrain, n_steps=30),
        search=_budget(n_iterations=16, n_children=4, n_rollouts=4, max_depth=8, rollout_max_tokens=96),
        sft=replace(_SMOKE.sft, n_epochs=1),
        grpo=replace(_SMOKE.grpo, n_steps=3, prompts_per_step=4, pass_rate_samples=4, max_new_tokens=96),
        eval=replace(_SMOKE.eval, samples=2, max_tokens=96),
    ),
    "smoke-math": replace(
        _SMOKE,
        preset="smoke-math",
        # the base pre-trains on the math task's equations (the kinds with a step grammar); the problems are MATH text
        task=TaskConfig(name="math", config={"kinds": ("linear_equation", "quadratic_root")}, train_problems="math500",
                        bench=("math500", "amc23"), bench_limit=8, n_train=12),
        policy=replace(_SMOKE.policy, step_max_tokens=128),
        pretrain=replace(_SMOKE.pretrain, n_steps=30),
        proposer=PolicyConfig(backend="reference", step_max_tokens=128),
        search=_budget(n_iterations=8, n_children=4, n_rollouts=2, max_depth=12, step_max_tokens=128, rollout_max_tokens=64),
        sft=replace(_SMOKE.sft, n_epochs=1, max_length=1024),
        grpo=replace(_SMOKE.grpo, n_steps=2, prompts_per_step=4, pass_rate_samples=2, max_new_tokens=64),
        eval=replace(_SMOKE.eval, samples=1, max_tokens=64),
        plumbing_check=True,
    ),
    "replicate": replace(_SMOKE, preset="replicate", seeds=(0, 1, 2)),
    # the default with the trees built by the policy itself, as in the paper (the embedded base proposes every step
    # and completes every rollout; docs/recipe.md: its cost per tree against the symbolic proposer's)
    "self-search": replace(_SMOKE, preset="self-search", proposer=replace(_SMOKE.proposer, backend="base")),
    # the MATH-style equations on the CPU (README: its table): the embedded base pre-trained on the math task's
    # attempts at linear and quadratic equations (the evaluation split left out), trees from the task's symbolic
    # proposer with c_puct 4 (at 1.0 MCTS settles on the first solving path and few trees hold a wrong terminal);
    # 2,500 pre-training steps (at 1,250 the base's arithmetic reads 0.936 and its checks 0.840, under the gates) on
    # two threads: the base stage runs alone, and on 2 idle cores two threads take 645 s against 1,154 s and give the
    # same weights bit for bit (docs/task-hooks.md; on a machine other work keeps busy, --pretrain.threads 1);
    # every token of a trace trained (with --traces.mask-wrong-steps ASTRO-RL reads 46.7 against 49.3), jumps to the
    # lowest common ancestor without a restated problem, GRPO at lr 2e-4 (as it was measured)
    "math-cpu": replace(
        _SMOKE,
        preset="math-cpu",
        task=TaskConfig(name="math", config={"kinds": ("linear_equation", "quadratic_root"), "max_root": 20}),
        pretrain=replace(_SMOKE.pretrain, n_steps=2500, threads=2),
        traces=replace(_SMOKE.traces, mask_wrong_steps=False, backtrack_point="lca", restate_problem=False),
        grpo=replace(_SMOKE.grpo, lr=2e-4),
        search=SearchConfig(budget=_SMOKE.search.budget,
                            agent_config=replace(_SMOKE.search.agent_config, c_puct=4.0)),
    ),
    "paper": _paper("paper", student="meta-llama/Llama-3.1-70B-Instruct", teacher="meta-llama/Llama-3.3-70B-Instruct",
                    teacher_gpus=4),
    # the paper's recipe on one 8-GPU node (docs/models.md: its estimated compute): the same teacher building the
    # trees (two engines of 4 GPUs) for 1,000 problems with 4 rollouts per child, a Llama-3.1-8B-Instruct student,
    # GRPO at 128 rollouts a step for 300 steps
    "paper-8b": replace(
        _paper("paper-8b", student="meta-llama/Llama-3.1-8B-Instruct", teacher="meta-llama/Llama-3.3-70B-Instruct",
               teacher_gpus=4),
        task=TaskConfig(name="math", train_problems="math_train", bench=("math500", "amc23", "aime24"), n_train=1000),
        search=SearchConfig(budget=SearchBudget(n_iterations=32, n_children=8, n_rollouts=4, max_depth=50,
                                                step_max_tokens=512, rollout_max_tokens=4096)),
        grpo=replace(_PAPER_GRPO, n_steps=300, prompts_per_step=32, lr=1e-6, warmup_steps=20,
                     max_new_tokens=8192),
        eval=replace(_SMOKE.eval, samples=16, temperature=0.6, top_p=0.95, max_tokens=8192),
        eval_every=50,
    ),
}
"""Presets: instances of the tree (`astro run --preset NAME`); every flag overrides one field."""


def config_hash(obj: Any) -> str:
    """Stable short hash of a JSON-serialisable configuration."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def changed_fields(config: RunConfig) -> dict[str, Any]:
    """{dotted field: value} of `config` that differ from its preset (what the command line changed)."""
    base = PRESETS.get(config.preset, RunConfig())
    return {k: v for k, v in _flat(dataclasses.asdict(config)).items()
            if k != "preset" and _flat(dataclasses.asdict(base)).get(k, _MISSING) != v}


_MISSING = object()


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out


def to_json(config: RunConfig) -> dict[str, Any]:
    """The config tree as saved in run_config.json (`astro.configfile.config_from_dict(RunConfig, ...)` reads it back)."""
    return dataclasses.asdict(config)


__all__ = ["ARMS", "HELD_OUT", "MODELS", "MODEL_LABELS", "PER_STAGE", "PRESETS", "RunConfig", "TaskConfig",
           "changed_fields", "config_hash", "to_json"]
