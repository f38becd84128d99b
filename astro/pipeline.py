"""The stages of `astro run`, wired from the packages' public functions.

Each stage body reads the previous stages' files and writes its own folder; `StageRunner`
skips a stage whose configuration is unchanged, and the long stages (search, SFT, GRPO,
evaluation) resume their own partial output, so a killed run continues.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

from astro.run import ARMS, RunConfig, StageRunner
from astro_env.jsonl import read_jsonl, write_json

log = logging.getLogger("astro.run")

N_TREE_PAGES = 3
"""Trees drawn as HTML pages in the run folder."""
STEP_MAX_TOKENS = 64
"""Token budget of one proposed step during search (Countdown steps are short)."""


def _problems_stage(config: RunConfig, out: Path) -> None:
    """Train and test Countdown problems, disjoint by (numbers, target)."""
    from astro_env.countdown import CountdownConfig, generate_problems
    from astro_env.loaders import write_problems

    countdown = CountdownConfig(n_numbers=config.n_numbers)
    pool = generate_problems(3 * (config.n_train + config.n_test), seed=config.data_seed, config=countdown)
    seen: set[tuple] = set()
    unique = []
    for problem in pool:
        key = (tuple(sorted(problem.metadata["numbers"])), problem.metadata["target"])
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    if len(unique) < config.n_train + config.n_test:
        raise RuntimeError(
            f"only {len(unique)} distinct Countdown problems for n_train + n_test = {config.n_train + config.n_test}; "
            "raise --n-numbers or lower the counts."
        )
    test = unique[: config.n_test]
    train = unique[config.n_test : config.n_test + config.n_train]
    write_problems(train, out / "train.jsonl")
    write_problems(test, out / "test.jsonl")


def _base_stage(config: RunConfig, out: Path) -> None:
    from training.embedded import PretrainConfig, pretrain

    pretrain(PretrainConfig(out=str(out), n_steps=config.pretrain_steps, seed=config.data_seed))


def _policy(path: str, config: RunConfig, seed: int = 0):
    from agents import build_policy
    from agents.base import PolicyConfig

    return build_policy(PolicyConfig(backend=config.backend, model=path, seed=seed))


def _trees_stage(config: RunConfig, run_dir: Path, base_model: str, out: Path) -> None:
    from astro_env.loaders import load_problems
    from search.baselines import BeamConfig, BestOfNConfig
    from search.mcts import MCTSConfig
    from search.run import SearchConfig, search_trees

    problems = load_problems(str(run_dir / "problems" / "train.jsonl"))
    if config.search_policy == "countdown":
        from agents.countdown_policy import CountdownPolicy

        policy = CountdownPolicy(seed=config.data_seed)
    else:
        policy = _policy(base_model, config, seed=config.data_seed)
    budget = config.n_iterations * config.n_children * config.n_rollouts  # MCTS rollouts per problem
    search = SearchConfig(
        agent=config.search_agent,
        mcts=MCTSConfig(
            n_iterations=config.n_iterations,
            n_children=config.n_children,
            n_rollouts=config.n_rollouts,
            max_depth=config.max_depth,
            step_max_tokens=STEP_MAX_TOKENS,
            rollout_max_tokens=config.max_new_tokens,
        ),
        # best-of-N at equal compute: as many whole samples as MCTS spends on rollouts
        best_of_n=BestOfNConfig(n_samples=budget, max_tokens=config.max_new_tokens, max_depth=config.max_depth),
        beam=BeamConfig(
            beam_width=config.n_children,
            n_expansions=config.n_children,
            max_depth=config.max_depth,
            step_max_tokens=STEP_MAX_TOKENS,
            rollout_max_tokens=config.max_new_tokens,
        ),
        seed=config.data_seed,
    )
    trees = search_trees(problems, policy, search, out_path=out / "trees.jsonl", progress=True)
    from search.viewer import render_html

    # a viewer page for the first trees that hold both a correct and a wrong terminal
    mixed = [t for t in trees if t.correct_terminals() and t.wrong_terminals()][:N_TREE_PAGES]
    for idx, tree in enumerate(mixed):
        (out / f"tree_{idx}.html").write_text(render_html(tree, title=tree.problem.id), encoding="utf-8")


def _traces_stage(config: RunConfig, trees_path: Path, tokenizer_path: str, out: Path) -> None:
    from transformers import AutoTokenizer

    from search.linearize import LinearizeConfig, build_traces, trace_stats
    from search.tree import SearchTree
    from astro_env.jsonl import JsonlWriter

    trees = [SearchTree.from_dict(r) for r in read_jsonl(trees_path)]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    lin = LinearizeConfig(k_values=config.k_values, style=config.style)
    good = None
    if config.self_eval:
        from search.curation import SelfEvalConfig, self_evaluate

        good = self_evaluate(trees, _policy(tokenizer_path, config, seed=config.data_seed), SelfEvalConfig(seed=config.data_seed))
    stats = {}
    for arm in ARMS:
        traces = build_traces(trees, lin, arm=arm, seed=config.data_seed, tokenizer=tokenizer, good=good)
        with JsonlWriter(out / f"traces_{arm}.jsonl") as writer:
            for trace in traces:
                writer.write(trace.to_dict())
        stats[arm] = trace_stats(traces)
    write_json(out / "stats.json", stats)


def _sft_stage(config: RunConfig, traces: Path, base_model: str, seed: int, out: Path) -> None:
    from training.sft import SFTConfig, train_sft

    train_sft(
        SFTConfig(
            traces=str(traces),
            model=base_model,
            out=str(out),
            n_epochs=config.sft_epochs,
            lr=config.sft_lr,
            batch_size=config.sft_batch_size,
            seed=seed,
        )
    )


def _rl_stage(config: RunConfig, run_dir: Path, sft_model: str, seed: int, out: Path) -> None:
    from training.grpo import GRPOConfig, train_grpo

    train_grpo(
        GRPOConfig(
            model=sft_model,
            problems=str(run_dir / "problems" / "train.jsonl"),
            out=str(out),
            n_steps=config.grpo_steps,
            group_size=config.group_size,
            prompts_per_step=config.prompts_per_step,
            lr=config.grpo_lr,
            pass_rate_low=config.pass_rate_low,
            pass_rate_high=config.pass_rate_high,
            pass_rate_samples=config.pass_rate_samples,
            max_new_tokens=config.max_new_tokens,
            if_none_kept="train_all",
            seed=seed,
        )
    )


def _eval_stage(config: RunConfig, run_dir: Path, model: str, name: str, seed: int, out: Path) -> None:
    from astro_env.loaders import load_problems
    from benchmarks.evaluate import EvalConfig, evaluate

    problems = load_problems(str(run_dir / "problems" / "test.jsonl"))
    policy = _policy(model, config, seed=seed)
    report = evaluate(
        policy,
        problems,
        EvalConfig(
            samples=config.eval_samples,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_new_tokens,
            seed=seed,
        ),
        out,
        bench_name="countdown_test",
        model_name=name,
    )
    write_json(out / "summary.json", report.to_dict())


def run_pipeline(config: RunConfig, run_dir: Path) -> str:
    """Run (or resume) every stage of `config` under `run_dir`; returns the report's Markdown."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "run_config.json", asdict(config))
    stage = StageRunner(run_dir)
    cfg = asdict(config)

    def pick(*keys: str) -> dict:
        return {k: cfg[k] for k in keys}

    data_keys = pick("n_train", "n_test", "n_numbers", "data_seed")
    stage("problems", data_keys, lambda out: _problems_stage(config, out))

    base_keys = {**data_keys, **pick("model", "pretrain_steps")}
    if config.model:
        base_model = config.model
    else:
        base_model = str(stage("base", base_keys, lambda out: _base_stage(config, out)))

    tree_keys = {**base_keys, **pick("search_agent", "search_policy", "n_iterations", "n_children", "n_rollouts", "max_depth")}
    trees_dir = stage("trees", tree_keys, lambda out: _trees_stage(config, run_dir, base_model, out))

    trace_keys = {**tree_keys, **pick("k_values", "style", "self_eval")}
    traces_dir = stage("traces", trace_keys, lambda out: _traces_stage(config, trees_dir / "trees.jsonl", base_model, out))

    eval_common = {**base_keys, **pick("eval_samples", "temperature", "top_p", "max_new_tokens")}
    for seed in config.seeds:
        _eval_model(stage, config, run_dir, eval_common, "base", base_model, seed)
        jobs = [(config, run_dir, seed, arm, base_model, traces_dir, trace_keys, eval_common) for arm in ARMS]
        if config.parallel_arms:
            # the arms are independent after the traces: one process each (one torch thread each)
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=len(jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
                results = list(pool.map(_run_arm, *zip(*jobs)))
        else:
            results = [_run_arm(*job) for job in jobs]
        for timings in results:
            stage.timings.update(timings)

    report_keys = {"all": cfg, "stages": sorted(stage.timings)}
    stage("report", report_keys, lambda out: _report_stage(config, run_dir, stage.timings))
    return (run_dir / "report.md").read_text()


def _eval_model(stage: StageRunner, config: RunConfig, run_dir: Path, eval_common: dict, name: str, model: str, seed: int) -> None:
    """The evaluation stage of one model (re-run whenever that model's stage changed)."""
    eval_keys = {**eval_common, "model_path": model, "model_stage_hash": _stage_hash(Path(model)), "seed": seed}
    stage(f"seed{seed}/eval-{name}", eval_keys, lambda out: _eval_stage(config, run_dir, model, name, seed, out))


def _run_arm(
    config: RunConfig,
    run_dir: Path,
    seed: int,
    arm: str,
    base_model: str,
    traces_dir: Path,
    trace_keys: dict,
    eval_common: dict,
) -> dict[str, float]:
    """SFT, GRPO and both evaluations of one arm for one seed; returns the stage timings."""
    import torch

    if not logging.getLogger().handlers:  # a spawned worker
        logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [{arm}] %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(config.threads)
    stage = StageRunner(run_dir)
    cfg = asdict(config)
    sft_keys = {**trace_keys, **{k: cfg[k] for k in ("sft_epochs", "sft_lr", "sft_batch_size")}, "seed": seed, "arm": arm}
    sft_dir = stage(
        f"seed{seed}/sft-{arm}",
        sft_keys,
        lambda out: _sft_stage(config, traces_dir / f"traces_{arm}.jsonl", base_model, seed, out),
    )
    rl_names = ("grpo_steps", "group_size", "prompts_per_step", "grpo_lr", "pass_rate_low", "pass_rate_high",
                "pass_rate_samples", "max_new_tokens")
    rl_keys = {**sft_keys, **{k: cfg[k] for k in rl_names}}
    rl_dir = stage(f"seed{seed}/rl-{arm}", rl_keys, lambda out: _rl_stage(config, run_dir, str(sft_dir), seed, out))
    _eval_model(stage, config, run_dir, eval_common, f"{arm}-sft", str(sft_dir), seed)
    _eval_model(stage, config, run_dir, eval_common, f"{arm}-rl", str(rl_dir), seed)
    return stage.timings


def _stage_hash(stage_dir: Path) -> str | None:
    """The configuration hash of a finished stage (so evaluations re-run when their model changed)."""
    marker = stage_dir / "stage.json"
    return json.loads(marker.read_text())["config_hash"] if marker.exists() else None


def _report_stage(config: RunConfig, run_dir: Path, timings: dict[str, float]) -> None:
    from astro.report import write_run_report

    write_run_report(config, run_dir, timings)
