"""The stages of `astro run`, wired from the packages' public functions, for any task.

Each stage body reads the previous stages' files and writes its own folder. `StageRunner`
keys each stage on what it consumes plus the key hashes of its inputs: unchanged -> skipped,
changed -> cleared and re-run (and so is everything downstream, whose keys include it). The
long stages (search, SFT, GRPO, evaluation) resume their own partial output, so a killed run
continues.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

from astro.config import ARMS, HELD_OUT, RunConfig, search_options, stage_keys, to_json
from astro.stages import StageRunner, stage_hash
from astro_env.jsonl import JsonlWriter, read_jsonl, write_json
from astro_env.processes import die_with_parent

log = logging.getLogger("astro.run")

N_TREE_PAGES = 3
"""Trees drawn as HTML pages in the run folder."""


# ----------------------------------------------------------------------------- problems


def _content_key(problem) -> tuple:
    return (problem.task, " ".join(problem.problem.split()), problem.answer.strip())


def _problems_stage(config: RunConfig, out: Path) -> None:
    """train.jsonl (search, SFT, GRPO) and one file per evaluation set under eval/, never overlapping."""
    import astro_env
    from astro_env.loaders import load_problems, write_problems

    task = astro_env.get_task(config.task)
    eval_sets: dict[str, list] = {}
    if config.bench:
        for spec, label in zip(config.bench, config.benches):
            eval_sets[label] = load_problems(spec, data_dir=config.data_dir or None, limit=config.bench_limit or None)
    held_out = {_content_key(p) for problems in eval_sets.values() for p in problems}
    if config.train_problems:
        pool = load_problems(config.train_problems, data_dir=config.data_dir or None)
        wrong_task = [p.id for p in pool if p.task != config.task]
        if wrong_task:
            raise ValueError(
                f"--train-problems {config.train_problems}: {len(wrong_task)} problems have a task other than "
                f"{config.task!r} (first: {wrong_task[0]}); pass --task to match the file."
            )
        train = [p for p in pool if _content_key(p) not in held_out]
        n_overlap = len(pool) - len(train)
        train = train[: config.n_train] if config.n_train else train
    else:
        if not callable(getattr(task, "generate", None)):
            raise ValueError(f"task {config.task!r} generates no problems: pass --train-problems FILE_OR_NAME.")
        need = config.n_train + (0 if config.bench else config.n_test)
        pool = _generate(config, task, 3 * need)
        unique, seen = [], set(held_out)
        for problem in pool:
            key = _content_key(problem)
            if key not in seen:
                seen.add(key)
                unique.append(problem)
        n_overlap = len(pool) - len(unique)
        if len(unique) < need:
            raise ValueError(
                f"only {len(unique)} distinct {config.task} problems for {need} (train + held-out); "
                "lower --n-train/--n-test" + (" or raise --n-numbers." if config.task == "countdown" else ".")
            )
        if not config.bench:
            eval_sets[HELD_OUT] = unique[: config.n_test]
        train = unique[len(eval_sets.get(HELD_OUT, [])) :][: config.n_train]
    if not train:
        raise ValueError("no training problems left after removing those in the evaluation sets.")
    write_problems(train, out / "train.jsonl")
    for label, problems in eval_sets.items():
        write_problems(problems, out / "eval" / f"{label}.jsonl")
    write_json(out / "summary.json", {
        "n_train": len(train), "eval": {k: len(v) for k, v in eval_sets.items()},
        "n_removed_overlap_or_duplicate": n_overlap,
    })


def _generate(config: RunConfig, task, n: int) -> list:
    if config.task == "countdown":
        from astro_env.countdown import generate_problems

        return generate_problems(n, seed=config.data_seed, config=config.countdown)
    return list(task.generate(n, config.data_seed))


def _train_problems(run_dir: Path) -> list:
    from astro_env.loaders import read_problems

    return read_problems(run_dir / "problems" / "train.jsonl")


# ----------------------------------------------------------------------------- models


def _base_stage(config: RunConfig, out: Path) -> None:
    from training.embedded import PretrainConfig, pretrain

    pretrain(PretrainConfig(out=str(out), n_steps=config.pretrain_steps, seed=config.data_seed,
                            countdown=config.countdown, threads=config.pretrain_threads))


def _policy(path: str, config: RunConfig, seed: int = 0):
    """The policy at `path` on the run's backend (a stand-in that Ray workers load, with --executor ray)."""
    from agents.base import PolicyConfig
    from search.executor import policy_for

    return policy_for(PolicyConfig(backend=config.backend, model=path, seed=seed, step_max_tokens=config.step_max_tokens),
                      config.executor_config)


def _search_policy(config: RunConfig, base_model: str):
    from agents.base import PolicyConfig
    from search.executor import policy_for

    if config.search_policy == "base":
        return _policy(base_model, config, seed=config.data_seed)
    return policy_for(PolicyConfig(backend=config.search_policy, model=config.teacher, base_url=config.teacher_url,
                                   seed=config.data_seed, step_max_tokens=config.step_max_tokens), config.executor_config)


# ----------------------------------------------------------------------------- trees and traces


def _trees_stage(config: RunConfig, run_dir: Path, base_model: str, out: Path) -> None:
    from search.agent import agent_config
    from search.run import SearchConfig, search_trees
    from search.viewer import render_html

    search = SearchConfig(agent=config.search_agent, agent_config=agent_config(config.search_agent, search_options(config)),
                          seed=config.data_seed, executor=config.executor_config)
    trees = search_trees(_train_problems(run_dir), _search_policy(config, base_model), search,
                         out_path=out / "trees.jsonl", progress=True)
    # a viewer page for the first trees that hold both a correct and a wrong terminal
    mixed = [t for t in trees if t.correct_terminals() and t.wrong_terminals()][:N_TREE_PAGES]
    for idx, tree in enumerate(mixed):
        (out / f"tree_{idx}.html").write_text(render_html(tree, title=tree.problem.id), encoding="utf-8")


def _traces_stage(config: RunConfig, trees_path: Path, base_model: str, out: Path) -> None:
    from transformers import AutoTokenizer

    from search.linearize import LinearizeConfig, build_traces, trace_stats
    from search.tree import SearchTree

    trees = [SearchTree.from_dict(r) for r in read_jsonl(trees_path)]
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    lin = LinearizeConfig(k_values=config.k_values, style=config.style, confirm_intermediate=config.confirm_intermediate)
    good = None
    if config.self_eval:
        from search.curation import SelfEvalConfig, self_evaluate

        judge = _policy(config.judge or base_model, config, seed=config.data_seed)
        good = self_evaluate(trees, judge, SelfEvalConfig(seed=config.data_seed, executor=config.executor_config))
        n_correct = sum(len(t.correct_terminals()) for t in trees)
        n_kept = sum(len(ids) for ids in good.values())
        write_json(out / "self_eval.json", {"n_correct_terminals": n_correct, "n_approved": n_kept})
        if n_kept == 0:
            raise ValueError(
                f"--self-eval kept no solution: the judge ({config.judge or 'the base model'}) approved 0 of {n_correct} "
                "correct terminals unanimously (8 votes); use a stronger --judge or drop --self-eval."
            )
    stats = {}
    for arm in ARMS:
        traces = build_traces(trees, lin, arm=arm, seed=config.data_seed, tokenizer=tokenizer, good=good)
        if not traces:
            raise ValueError(
                f"no {arm} traces from {len(trees)} trees ({sum(bool(t.correct_terminals()) for t in trees)} with a correct leaf): "
                "raise the search budget or use a stronger search policy."
            )
        with JsonlWriter(out / f"traces_{arm}.jsonl") as writer:
            for trace in traces:
                writer.write(trace.to_dict())
        stats[arm] = trace_stats(traces)
    write_json(out / "stats.json", stats)


# ----------------------------------------------------------------------------- SFT, GRPO, evaluation


def _sft_stage(config: RunConfig, traces: Path, base_model: str, seed: int, out: Path) -> None:
    from training.sft import SFTConfig, train_sft

    train_sft(SFTConfig(traces=str(traces), model=base_model, out=str(out), n_epochs=config.sft_epochs, lr=config.sft_lr,
                        batch_size=config.sft_batch_size, max_length=config.sft_max_length, seed=seed))


def _rl_stage(config: RunConfig, run_dir: Path, sft_model: str, seed: int, out: Path) -> None:
    from training.grpo import GRPOConfig, train_grpo

    grpo = GRPOConfig(
        model=sft_model,
        problems=str(run_dir / "problems" / "train.jsonl"),
        out=str(out),
        n_steps=config.grpo_steps,
        group_size=config.group_size,
        prompts_per_step=config.prompts_per_step,
        lr=config.grpo_lr,
        warmup_steps=config.grpo_warmup_steps,
        pass_rate_low=config.pass_rate_low,
        pass_rate_high=config.pass_rate_high,
        pass_rate_samples=config.pass_rate_samples,
        max_new_tokens=config.max_new_tokens,
        backend=config.backend,
        if_none_kept="train_all",
        seed=seed,
        threads=config.threads,
        executor=config.executor_config,
        engine=config.grpo_engine,
    )
    if config.eval_every:
        grpo = replace(grpo, save_every=config.eval_every, keep_checkpoints=0)
    train_grpo(grpo)


def _eval_stage(config: RunConfig, run_dir: Path, model: str, name: str, seed: int, out: Path) -> None:
    from astro_env.loaders import read_problems
    from benchmarks.evaluate import EvalConfig, evaluate
    from benchmarks.records import EvalReport

    policy = _policy(model, config, seed=seed)
    reports = []
    for label in config.benches:
        problems = read_problems(run_dir / "problems" / "eval" / f"{label}.jsonl")
        reports.append(evaluate(
            policy,
            problems,
            EvalConfig(samples=config.eval_samples, temperature=config.temperature, top_p=config.top_p,
                       max_tokens=config.max_new_tokens, seed=seed, executor=config.executor_config),
            out / label,
            bench_name=label,
            model_name=name,
        ))
    write_json(out / "summary.json", EvalReport.merge(reports).to_dict())


# ----------------------------------------------------------------------------- the run


def run_pipeline(config: RunConfig, run_dir: Path) -> str:
    """Run (or resume) every stage of `config` under `run_dir`; returns the report's Markdown.

    The caller holds the run folder's lock (`astro.stages.RunLock`).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "run_config.json", to_json(config))
    stage = StageRunner(run_dir)
    keys = stage_keys(config)

    problems_dir = stage("problems", keys["problems"], lambda out: _problems_stage(config, out))
    upstream = {"problems": stage_hash(problems_dir)}
    if config.model:
        base_model = config.model
        base_key = {**upstream, **keys["base"]}
    else:
        base_dir = stage("base", {**keys["base"]}, lambda out: _base_stage(config, out))
        base_model = str(base_dir)
        base_key = {**upstream, "base": stage_hash(base_dir)}

    tree_key = {**upstream, **keys["trees"]} | ({"base": base_key} if config.search_policy == "base" else {})
    trees_dir = stage("trees", tree_key, lambda out: _trees_stage(config, run_dir, base_model, out))
    trace_key = {"trees": stage_hash(trees_dir), "tokenizer": base_key, **keys["traces"]}
    traces_dir = stage("traces", trace_key, lambda out: _traces_stage(config, trees_dir / "trees.jsonl", base_model, out))

    for seed in config.seeds:
        _eval_model(stage, config, run_dir, "base", base_model, base_key, seed)
        arm_inputs = (config, run_dir, seed, base_model, base_key, traces_dir)
        if config.parallel_arms:
            # the arms are independent after the traces: their stages run in two processes (one
            # torch thread each), killed by the kernel if this process dies
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=len(ARMS), mp_context=ctx, initializer=_worker_init) as pool:
                stage.timings.update(schedule_arms(pool.submit, *arm_inputs))
        else:
            stage.timings.update(schedule_arms(_run_now, *arm_inputs))

    if config.task == "countdown":
        _competence(stage, config, run_dir, base_model, base_key)

    from astro.report import write_run_report

    report_key = {"config": to_json(config), "inputs": _input_hashes(config, run_dir)}
    stage("report", report_key, lambda out: write_run_report(config, run_dir, stage.timings))
    return (run_dir / "report.md").read_text()


def _competence(stage: StageRunner, config: RunConfig, run_dir: Path, base_model: str, base_key: Any) -> Path:
    """competence.json: the Countdown competence gates of the first seed's five models, beside
    random legal play and oracle-verified play (`benchmarks.competence`), on the held-out split."""
    seed = config.seeds[0]
    models = {"base": base_model, **{f"{arm}-{kind}": str(run_dir / f"seed{seed}" / f"{kind}-{arm}")
                                     for arm in ARMS for kind in ("sft", "rl")}}
    key = {"models": {name: (base_key if name == "base" else stage_hash(Path(path))) for name, path in models.items()},
           "problems": stage_hash(run_dir / "problems")}

    def body(out: Path) -> None:
        from astro.config import MODEL_LABELS
        from astro_env.loaders import read_problems
        from benchmarks.competence import CompetenceConfig, competence_table

        problems = read_problems(run_dir / "problems" / "eval" / f"{HELD_OUT}.jsonl")
        table = competence_table({MODEL_LABELS[name]: path for name, path in models.items()}, problems,
                                 CompetenceConfig(n_problems=len(problems), n_verify=min(100, len(problems)), seed=config.data_seed))
        write_json(out / "competence.json", table)

    return stage(f"seed{seed}/competence", key, body)


def _input_hashes(config: RunConfig, run_dir: Path) -> dict[str, Any]:
    """Key hashes of every stage the report reads (so it is rewritten whenever one of them changed)."""
    out = {}
    for path in sorted(run_dir.glob("**/stage.json")):
        name = str(path.parent.relative_to(run_dir))
        if name != "report":
            out[name] = stage_hash(path.parent)
    return out


def _eval_model(stage: StageRunner, config: RunConfig, run_dir: Path, name: str, model: str, model_key: Any, seed: int) -> Path:
    """The evaluation stage of one model (its key holds the model's own key, so it re-runs when the model changed)."""
    key = {**stage_keys(config)["eval"], "model": model_key, "problems": stage_hash(run_dir / "problems"), "seed": seed}
    return stage(f"seed{seed}/eval-{name}", key, lambda out: _eval_stage(config, run_dir, model, name, seed, out))


def _run_now(fn, *args) -> Future:
    """`fn(*args)` run here, as a finished future (the serial stand-in for a pool's `submit`)."""
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
        future.set_exception(exc)
    return future


def schedule_arms(submit, config: RunConfig, run_dir: Path, seed: int, base_model: str, base_key: Any,
                  traces_dir: Path) -> dict[str, float]:
    """Every stage of both arms for one seed, each submitted once its input exists; returns the stage timings.

    Per arm: SFT, then GRPO and the SFT model's evaluation, then the RL model's evaluation (and
    its checkpoints' with --eval-every). With `submit` a two-process pool's, the arm whose GRPO
    is longer (ASTRO's longer completions) no longer holds its evaluations behind it: the
    other process runs them while it trains. A stage's result does not depend on which process
    runs it or when (each is seeded and reads only its inputs' files).
    """
    timings: dict[str, float] = {}
    pending: dict[Future, tuple[int, str, str]] = {}
    order = itertools.count()

    def add(kind: str, arm: str, fn, *args) -> None:
        pending[submit(fn, *args)] = (next(order), kind, arm)

    for arm in ARMS:
        add("sft", arm, _arm_sft, config, run_dir, seed, arm, base_model, base_key, traces_dir)
    try:
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f][0]):
                _, kind, arm = pending.pop(future)
                stage_timings, out = future.result()
                timings.update(stage_timings)
                if kind == "sft":  # GRPO first: it is the longer path
                    add("rl", arm, _arm_rl, config, run_dir, seed, arm, out)
                    add("eval", arm, _arm_eval, config, run_dir, seed, arm, f"{arm}-sft", out, stage_hash(Path(out)))
                elif kind == "rl":
                    add("eval", arm, _arm_eval, config, run_dir, seed, arm, f"{arm}-rl", out, stage_hash(Path(out)))
                    if config.eval_every:
                        for ckpt in _grpo_checkpoints(Path(out)):
                            step = int(ckpt.name.split("-")[-1])
                            add("eval", arm, _arm_eval, config, run_dir, seed, arm, f"{arm}-rl-step{step:06d}", str(ckpt),
                                {"rl": stage_hash(Path(out)), "step": step})
    except BaseException:
        for future in pending:
            future.cancel()
        raise
    return timings


def _worker_init() -> None:
    """A pool process: dies with the run, and prefixes every line it prints (logs included) with its job's arm."""
    import sys

    from astro_env.processes import PrefixedStream

    die_with_parent()
    sys.stdout, sys.stderr = PrefixedStream(sys.stdout, ""), PrefixedStream(sys.stderr, "")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")


def _enter_job(config: RunConfig, run_dir: Path, arm: str) -> StageRunner:
    import sys

    import torch

    from astro_env.processes import PrefixedStream

    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, PrefixedStream):
            stream.prefix = f"[{arm}] "
    torch.set_num_threads(config.threads)
    return StageRunner(run_dir)


def _arm_sft(config: RunConfig, run_dir: Path, seed: int, arm: str, base_model: str, base_key: Any,
             traces_dir: Path) -> tuple[dict[str, float], str]:
    stage = _enter_job(config, run_dir, arm)
    key = {"traces": stage_hash(traces_dir), "base": base_key, **stage_keys(config)["sft"], "seed": seed, "arm": arm}
    out = stage(f"seed{seed}/sft-{arm}", key, lambda o: _sft_stage(config, traces_dir / f"traces_{arm}.jsonl", base_model, seed, o))
    return stage.timings, str(out)


def _arm_rl(config: RunConfig, run_dir: Path, seed: int, arm: str, sft_dir: str) -> tuple[dict[str, float], str]:
    stage = _enter_job(config, run_dir, arm)
    key = {"sft": stage_hash(Path(sft_dir)), "problems": stage_hash(run_dir / "problems"), **stage_keys(config)["rl"], "seed": seed}
    out = stage(f"seed{seed}/rl-{arm}", key, lambda o: _rl_stage(config, run_dir, sft_dir, seed, o))
    return stage.timings, str(out)


def _arm_eval(config: RunConfig, run_dir: Path, seed: int, arm: str, name: str, model: str, model_key: Any) -> tuple[dict[str, float], str]:
    stage = _enter_job(config, run_dir, arm)
    out = _eval_model(stage, config, run_dir, name, model, model_key, seed)
    return stage.timings, str(out)


def _grpo_checkpoints(rl_dir: Path) -> list[Path]:
    from training.checkpoint import list_checkpoints

    return list_checkpoints(rl_dir / "checkpoints")
