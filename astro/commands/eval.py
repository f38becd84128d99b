"""`astro eval`: sample N completions per problem of each benchmark and score them with the
problem's task (the same reward as RL); resumable, with a Markdown and JSON report.

    astro eval --policy MODEL_DIR|oracle --bench math500,amc23,aime24 --samples 16 --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from astro_env.registry import POLICIES
from agents.base import PolicyAgent
from astro_env.problem import Problem
from benchmarks.evaluate import EvalConfig, _word_count, evaluate
from benchmarks.records import EvalReport
from search.executor import ShardsFailed, add_executor_arguments, configure_logging, executor_config, policy_for


def _parser() -> argparse.ArgumentParser:
    defaults = EvalConfig()
    p = argparse.ArgumentParser(
        prog="astro eval",
        description="Evaluate a policy on MATH-500 / AMC 2023 / AIME 2024 (or .jsonl problem files): "
        "pass@1 over samples, pass@k, maj@k, tokens, backtracks, first-attempt accuracy.",
    )
    p.add_argument("--policy", required=True, help="model directory or hub name, or 'oracle' (answers with reference solutions)")
    p.add_argument("--backend", default="transformers", help="policy backend: " + ", ".join(POLICIES.names()) + ", or package.module:factory")
    p.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="server address (openai backend)")
    p.add_argument("--device", default="auto", help="torch device (transformers backend)")
    p.add_argument("--bench", default=",".join(defaults.benches), help="comma-separated benchmark names or .jsonl paths")
    p.add_argument("--data-dir", default=None, help="benchmark folder (default: $ASTRO_DATA_DIR, else ../shared/data)")
    p.add_argument("--samples", type=int, default=defaults.samples, help="completions per problem")
    p.add_argument("--temperature", type=float, default=defaults.temperature)
    p.add_argument("--top-p", type=float, default=defaults.top_p)
    p.add_argument("--max-tokens", type=int, default=defaults.max_tokens)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--limit", type=int, default=None, help="first N problems of each benchmark")
    p.add_argument("--maj-k", type=int, default=defaults.maj_k, help="k of maj@k (capped at --samples)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="prompts per policy call")
    p.add_argument(
        "--extraction", choices=["boxed", "standard", "lenient"], default=defaults.extraction,
        help="where the final answer is read: only a box, a box else an answer cue (rewards), or then the last expression",
    )
    p.add_argument("--model-name", default=None, help="name recorded in the report (default: the policy's)")
    p.add_argument("--out", required=True, help="output folder: completions.jsonl, report.json, report.md")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_arguments(p)
    return p


def _bench_name(spec: str) -> str:
    """"math500" for a benchmark name, the file stem for a .jsonl path, "countdown-20-0" for "countdown:20:0"."""
    return Path(spec).stem if spec.endswith(".jsonl") else spec.replace(":", "-")


def _data_file(spec: str, data_dir: str | None, benchmark_path: Callable[..., Path]) -> Path | None:
    """The local file a problem set was read from, None for generated or hub-loaded sets."""
    if spec.endswith(".jsonl") or Path(spec).is_file():
        return Path(spec)
    try:
        return benchmark_path(spec, data_dir)
    except (FileNotFoundError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    """`astro eval`: evaluate, write report.json / report.md under --out, print the Markdown."""
    args = _parser().parse_args(argv)
    from astro_env.loaders import benchmark_path, load_problems
    from benchmarks.report import write_report

    benches = tuple(b.strip() for b in args.bench.split(",") if b.strip())
    try:
        config = EvalConfig(
            samples=args.samples,
            temperature=args.temperature,
            top_p=args.top_p,
            max_tokens=args.max_tokens,
            seed=args.seed,
            benches=benches,
            limit=args.limit,
            maj_k=args.maj_k,
            batch_size=args.batch_size,
            executor=executor_config(args),
            extraction=args.extraction,
        )
    except ValueError as exc:
        print(f"astro eval: {exc}", file=sys.stderr)
        return 2
    sets: list[tuple[str, list[Problem], Path | None]] = []
    for spec in benches:
        try:
            problems = load_problems(spec, data_dir=args.data_dir, limit=config.limit)
        except (FileNotFoundError, ValueError) as exc:
            print(f"astro eval: cannot load {spec!r}: {exc}", file=sys.stderr)
            return 2
        sets.append((_bench_name(spec), problems, _data_file(spec, args.data_dir, benchmark_path)))

    if args.policy == "oracle":
        from agents.oracle import OraclePolicy

        policy: PolicyAgent = OraclePolicy([p for _, problems, _ in sets for p in problems])
    else:
        from agents.base import PolicyConfig

        try:
            policy = policy_for(PolicyConfig(backend=args.backend, model=args.policy, base_url=args.base_url, device=args.device, seed=args.seed), config.executor)
        except ValueError as exc:  # a missing model directory, an unreachable hub: one line, nothing written
            print(f"astro eval: {exc}", file=sys.stderr)
            return 2
    count_tokens = _word_count
    tokenizer = getattr(policy, "tokenizer", None)
    if tokenizer is not None:
        count_tokens = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731

    if config.executor.kind == "ray":
        configure_logging()
    reports = []
    for name, problems, path in sets:
        try:
            report = evaluate(
                policy,
                problems,
                config,
                args.out,
                bench_name=name,
                model_name=args.model_name,
                data_path=path,
                count_tokens=count_tokens,
                progress=not args.no_progress,
            )
        except ShardsFailed as exc:
            print(f"astro eval: {exc}", file=sys.stderr)
            return 1
        reports.append(report)
    report = EvalReport.merge(reports)
    markdown = write_report(report, args.out)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
