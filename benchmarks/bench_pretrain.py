"""Embedded pre-training: speed and the base model's competence gates, per recipe variant.

    python -m benchmarks.bench_pretrain --out DIR [--variants default,blocks] [--steps 2500] [--threads 1]
    python -m benchmarks.bench_pretrain --out DIR --probe 150 --repeats 3   # steps/s only, variants alternated

Workload: the default run's pre-training (`training.embedded.PretrainConfig` with the run's
Countdown space, 3 numbers 1-9 and targets 1-50, seed 1234, `--steps` steps) with the default
run's test split excluded from the corpus: the first 200 distinct problems of
`generate(1500, 1234)`, as `astro run` splits them, written to `DIR/test.jsonl`. A variant
overrides some `PretrainConfig` fields (`VARIANTS`, or `--variant NAME='{"field": value}'`).

Gates mode (default): each variant pre-trains once, in the order given; the record holds the
pre-training's wall and CPU seconds per phase (corpus and tokenizer, training, evaluation),
steps and pairs per second and per CPU second, and the base model's competence on the 200 test
problems (greedy, `benchmarks.competence`) with the gates legal-step rate and arithmetic
accuracy >= 0.95. With one thread, CPU seconds measure the work done whatever else runs on the
machine (wall seconds do not). Probe mode (`--probe N`): N training steps of every variant,
alternated `--repeats` times; the record holds each variant's median steps and pairs per CPU
second and the share of the positions it fed that were padding. Prints one JSON line per variant and writes `DIR/bench_pretrain.json` (with the threads
and the load average at the start and end). Compare only numbers from one run.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from astro_env.errors import OneLineParser

SPACE = {"n_numbers": 3, "max_number": 9, "max_target": 50}
"""The default run's Countdown space."""
SEED = 1234
"""The default run's data seed (pre-training corpus and problems)."""
N_TEST = 200
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "blocks": {"packing": "blocks", "seq_len": 129, "batch_size": 8},
    "batch48": {"batch_size": 48, "steps_factor": 0.5, "lr": 4.2e-3},
    "batch48-lr3e-3": {"batch_size": 48, "steps_factor": 0.5},
    "steps0.8": {"steps_factor": 0.8},
}
"""Recipe variants: `PretrainConfig` fields, plus `steps_factor` (a fraction of `--steps`).
"blocks": whole walks packed 3 to a 129-token block, 8 blocks a step (24 walks a step, as the
default); "batch48": twice the walks per step for half the steps (the same walks), lr x sqrt(2)."""


def test_split(task) -> list:
    """The default run's held-out split: the first `N_TEST` distinct problems of `generate(1500, SEED)`."""
    from astro_env.problem import prompt_key

    seen, out = set(), []
    for problem in task.generate(3 * (300 + N_TEST), SEED):
        key = (problem.task, prompt_key(problem), problem.answer.strip())
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out[:N_TEST]


def pretrain_config(out: Path, overrides: dict[str, Any], steps: int, threads: int, exclude: str, n_eval: int = 0):
    from training.embedded import PretrainConfig

    fields = dict(overrides)
    factor = fields.pop("steps_factor", 1.0)
    fields.setdefault("n_steps", max(1, round(steps * factor)))
    return PretrainConfig(out=str(out), task="countdown", task_config=dict(SPACE), exclude=(exclude,), seed=SEED,
                          threads=threads, n_eval=n_eval, **fields)


def pairs_trained(config, summary: dict) -> int | None:
    """Pairs the training loop fed (None for wrapped packing, which cuts pairs across blocks)."""
    if config.packing in ("none", "grouped"):
        return config.n_steps * config.batch_size
    if config.packing == "blocks":
        return int(summary["n_walks"])
    return None


def run_gates(name: str, overrides: dict, root: Path, steps: int, threads: int, test_path: str, problems) -> dict:
    """One full pre-training of variant `name` and its base model's competence on the test split."""
    import astro_env
    from benchmarks.competence import CompetenceConfig, competence_report
    from training.embedded import pretrain

    config = pretrain_config(root / name, overrides, steps, threads, test_path)
    t0 = time.perf_counter()
    out = pretrain(config)
    wall = time.perf_counter() - t0
    summary = json.loads((out / "pretrain_summary.json").read_text())
    corpus = json.loads((out / "corpus.json").read_text())
    task = astro_env.get_task("countdown", SPACE)
    report = competence_report(task, {"Base": str(out)}, problems, CompetenceConfig(n_problems=len(problems), n_verify=100, seed=SEED))
    row = report["table"]["Base"]
    n_pairs = pairs_trained(config, summary)
    return {
        "variant": name, "overrides": overrides, "n_steps": config.n_steps, "threads": threads,
        "pretrain_wall_seconds": round(wall, 1), "prepare_seconds": round(summary["prepare_seconds"], 1),
        "train_seconds": round(summary["train_seconds"], 1), "steps_per_s": round(summary["steps_per_s"], 3),
        "pairs_per_s": None if n_pairs is None else round(n_pairs / summary["train_seconds"], 1),
        "prepare_cpu_seconds": round(summary["prepare_cpu_seconds"], 1), "train_cpu_seconds": round(summary["train_cpu_seconds"], 1),
        "eval_cpu_seconds": round(summary.get("eval_cpu_seconds", 0.0), 1),
        "steps_per_cpu_s": round(config.n_steps / summary["train_cpu_seconds"], 3),
        "pairs_per_cpu_s": None if n_pairs is None else round(n_pairs / summary["train_cpu_seconds"], 1),
        "tokens_per_s": round(summary["tokens_per_s"], 1), "padding_share": round(summary["padding_share"], 4),
        "final_loss": summary["loss_curve"][-1],
        "corpus_overlap_with_test": corpus["exclude"][0]["n_in_corpus"],
        "legal_step_rate": round(row["legal_step_rate"], 4), "arithmetic_accuracy": round(row["arithmetic_accuracy"], 4),
        "target_copy_rate": round(row["target_copy_rate"], 4), "solve_rate": round(row["solve_rate"], 4),
        "verification_auc": round(row["verification_auc"], 4),
        "gates_pass": row["legal_step_rate"] >= 0.95 and row["arithmetic_accuracy"] >= 0.95,
    }


def run_probe(variants: dict[str, dict], root: Path, n_steps: int, repeats: int, threads: int, test_path: str) -> list[dict]:
    """Median steps and pairs per CPU second of `n_steps` training steps per variant, variants alternated `repeats` times."""
    from training.embedded import pretrain

    rates: dict[str, list[tuple[float, float | None]]] = {name: [] for name in variants}
    padding: dict[str, float] = {}
    for _ in range(repeats):
        for name, overrides in variants.items():
            fields = {k: v for k, v in overrides.items() if k != "steps_factor"}
            config = pretrain_config(root / f"probe-{name}", dict(fields, n_steps=n_steps), n_steps, threads, test_path)
            summary = json.loads((pretrain(config) / "pretrain_summary.json").read_text())
            n_pairs = pairs_trained(config, summary)
            cpu = summary["train_cpu_seconds"]
            rates[name].append((config.n_steps / cpu, None if n_pairs is None else n_pairs / cpu))
            padding[name] = summary["padding_share"]
    out = []
    for name, values in rates.items():
        steps = [s for s, _ in values]
        pairs = [p for _, p in values if p is not None]
        out.append({"variant": name, "overrides": variants[name], "probe_steps": n_steps, "repeats": repeats, "threads": threads,
                    "steps_per_cpu_s": round(statistics.median(steps), 3),
                    "pairs_per_cpu_s": round(statistics.median(pairs), 1) if pairs else None,
                    "padding_share": round(padding[name], 4), "steps_per_cpu_s_all": [round(s, 3) for s in steps]})
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.bench_pretrain --out DIR ...`: print one JSON line per variant. Returns 0."""
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the base models, test.jsonl and bench_pretrain.json")
    parser.add_argument("--variants", default="default,blocks", help=f"comma-separated names of {', '.join(VARIANTS)}")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=JSON", help="an extra variant: PretrainConfig fields as JSON")
    parser.add_argument("--steps", type=int, default=2500, help="pre-training steps of the 'default' variant (batch 24; 'batch48' takes half as many steps of 48: the default run's 1250 x 48)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--probe", type=int, default=0, metavar="N", help="time N steps per variant instead of full runs")
    parser.add_argument("--repeats", type=int, default=3, help="alternations of the probe")
    args = parser.parse_args(argv)
    variants = {}
    for name in [v for v in args.variants.split(",") if v]:
        if name not in VARIANTS:
            parser.error(f"--variants: unknown variant {name!r}; use {', '.join(VARIANTS)} or --variant NAME=JSON.")
        variants[name] = VARIANTS[name]
    for item in args.variant:
        name, sep, text = item.partition("=")
        try:
            variants[name] = json.loads(text) if sep else None
            if not isinstance(variants[name], dict):
                raise ValueError
        except ValueError:
            parser.error(f"--variant {item!r}: write NAME='{{\"field\": value}}'.")
    if args.steps < 1 or args.threads < 1 or args.repeats < 1 or args.probe < 0:
        parser.error("--steps, --threads and --repeats must be >= 1 and --probe >= 0.")

    import astro_env
    from astro_env.loaders import write_problems

    logging_quiet()
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    task = astro_env.get_task("countdown", SPACE)
    problems = test_split(task)
    test_path = str(write_problems(problems, root / "test.jsonl"))
    load_start = os.getloadavg()
    if args.probe:
        records = run_probe(variants, root, args.probe, args.repeats, args.threads, test_path)
        for record in records:
            print(json.dumps(record), flush=True)
    else:
        records = []
        for name, overrides in variants.items():
            records.append(run_gates(name, overrides, root, args.steps, args.threads, test_path, problems))
            print(json.dumps(records[-1]), flush=True)
    import torch
    import transformers

    result = {"records": records, "threads": args.threads, "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
              "torch": torch.__version__, "transformers": transformers.__version__, "python": sys.version.split()[0],
              "command": "python -m benchmarks.bench_pretrain " + " ".join(argv if argv is not None else sys.argv[1:])}
    (root / "bench_pretrain.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def logging_quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


if __name__ == "__main__":
    raise SystemExit(main())
