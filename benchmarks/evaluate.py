"""Evaluation of a policy on a problem set: `EvalRecord` per completion, `EvalReport` per run.

`evaluate(policy, problems, config, out_dir)` samples `config.samples` completions per
problem, judges each with its problem's task (the same `Task.reward` the environment pays
during RL: one definition of "correct"), parses backtracks, restarts and the first attempt's
answer with `search.verbalize.parse_trace`, appends every completion to
`out_dir/completions.jsonl` and returns the aggregated report. A killed evaluation resumes:
(bench, problem, sample) triples already in the file are not sampled again.

`astro eval` (this module's `main`) runs it on MATH-500 / AMC 2023 / AIME 2024 (or any
problem file) and writes `report.json` and `report.md` beside the completions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

import astro_env
from agents.base import Completion, PolicyAgent, SamplingConfig
from astro_env.jsonl import JsonlWriter, read_jsonl, write_json
from astro_env.problem import Problem
from astro_env.state import DEFAULT_DELIMITER
from benchmarks import metrics

__all__ = ["EvalConfig", "EvalRecord", "BenchResult", "EvalReport", "evaluate", "score_completion", "summarize", "main"]

COMPLETIONS_FILE = "completions.jsonl"
CONFIG_FILE = "eval_config.json"


@dataclass(frozen=True)
class EvalConfig:
    """How to sample and score completions (`astro eval`'s options)."""

    samples: int = 16
    """Completions per problem (paper: pass@1 averaged over 16 samples)."""
    temperature: float = 0.6
    """Sampling temperature (ours, recorded in every report; the paper does not state it)."""
    top_p: float = 0.95
    """Nucleus sampling mass (ours, recorded in every report)."""
    max_tokens: int = 1024
    """Most new tokens per completion."""
    seed: int = 0
    """Base seed; each batch of prompts is sampled with seed + the index of its first problem."""
    benches: tuple[str, ...] = ("math500", "amc23", "aime24")
    """Benchmarks `astro eval` runs: names (math500, amc23, aime24, aime25) or .jsonl paths."""
    limit: int | None = None
    """Evaluate only the first N problems of each benchmark (None: all)."""
    pass_ks: tuple[int, ...] = (1, 4, 8, 16)
    """k values of the unbiased pass@k reported (those larger than `samples` are skipped)."""
    maj_k: int = 8
    """k of maj@k (paper: maj@8), capped at `samples`."""
    batch_size: int = 8
    """Prompts per `policy.complete` call (each with `samples` completions)."""
    delimiter: str = DEFAULT_DELIMITER
    """Step delimiter given to the trace parser (must match the one the traces were written with)."""
    stop: tuple[str, ...] = ()
    """Stop strings passed to the policy."""
    extraction: str = "standard"
    """Where a completion's final answer is read (math tasks): `boxed` (only a box), `standard` (a box,
    else an answer phrase or cue; what rewards use) or `lenient` (then the last expression; for models
    that do not box). The hack rules hold in every policy. Recorded in the report."""

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples={self.samples}: use >= 1 (paper: 16).")
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature}: use >= 0 (0 = greedy).")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p}: use a value in (0, 1].")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens={self.max_tokens}: use >= 1.")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit={self.limit}: use >= 1, or None for every problem.")
        if any(k < 1 for k in self.pass_ks):
            raise ValueError(f"pass_ks={self.pass_ks}: every k must be >= 1.")
        if self.maj_k < 1:
            raise ValueError(f"maj_k={self.maj_k}: use >= 1 (paper: 8).")
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size}: use >= 1.")
        if self.extraction not in ("boxed", "standard", "lenient"):
            raise ValueError(f"extraction={self.extraction!r}: use boxed, standard or lenient.")
        if isinstance(self.benches, str) or isinstance(self.stop, str):
            raise ValueError("benches and stop are tuples of strings, e.g. benches=('math500',).")

    @property
    def sampling(self) -> dict[str, Any]:
        """The settings that decide the samples (recorded in reports and checked on resume)."""
        return {
            "samples": self.samples,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "stop": list(self.stop),
            "delimiter": self.delimiter,
            "extraction": self.extraction,
        }


@dataclass(frozen=True)
class EvalRecord:
    """One line of completions.jsonl: a sampled completion and its verdicts.

    `n_tokens` is what the backend generated (`count_tokens(completion)` when the backend
    reports no token ids). `n_backtracks`, `n_restarts` and `first_attempt_correct` are None
    when the trace parser is unavailable; `first_attempt_correct` is False for a completion
    with no answer at all.
    """

    problem_id: str
    bench: str
    sample_idx: int
    completion: str
    answer: str | None
    correct: bool
    n_tokens: int
    n_backtracks: int | None
    n_restarts: int | None
    first_attempt_correct: bool | None
    finish_reason: str = "eos"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EvalRecord":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class BenchResult:
    """Aggregates over one benchmark's records (rates in [0, 1], means per completion)."""

    bench: str
    n_problems: int
    n_samples: int
    """Samples per problem (the smallest count when a resumed run is partial)."""
    pass_at_1: float
    pass_at_k: Mapping[str, float]
    """Unbiased pass@k keyed by str(k)."""
    maj_at_k: Mapping[str, float]
    """maj@k keyed by str(k) (exact expectation over k-subsets; ties split evenly)."""
    mean_tokens: float
    mean_backtracks: float | None
    mean_restarts: float | None
    first_attempt_accuracy: float | None
    finish_reasons: Mapping[str, int] = field(default_factory=dict)
    by_subject: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """{subject: {"n_problems": n, "pass@1": p}} where the set has subjects."""
    by_level: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """{level: {"n_problems": n, "pass@1": p}} where the set has levels."""
    data_file: str | None = None
    """File name of the problem set (no directory)."""
    data_sha256: str | None = None
    """sha256 of that file's bytes."""
    problems_sha256: str = ""
    """sha256 of the evaluated problems themselves (canonical JSON), also for generated sets."""


@dataclass(frozen=True)
class EvalReport:
    """What `evaluate` returns: a model's results on one or more benchmarks."""

    model: str
    sampling: Mapping[str, Any]
    benches: Mapping[str, BenchResult]

    @property
    def data_sha256(self) -> dict[str, str | None]:
        """{bench: sha256 of its data file}."""
        return {name: result.data_sha256 for name, result in self.benches.items()}

    def metrics(self) -> dict[str, float]:
        """Flat namespaced scalars for logs: `eval/<bench>_pass@1`, `eval/<bench>_maj@8`, ..."""
        out: dict[str, float] = {}
        for name, r in self.benches.items():
            out[f"eval/{name}_pass@1"] = r.pass_at_1
            out.update({f"eval/{name}_pass@{k}": v for k, v in r.pass_at_k.items()})
            out.update({f"eval/{name}_maj@{k}": v for k, v in r.maj_at_k.items()})
            out[f"eval/{name}_mean_tokens"] = r.mean_tokens
            for key in ("mean_backtracks", "mean_restarts", "first_attempt_accuracy"):
                value = getattr(r, key)
                if value is not None:
                    out[f"eval/{name}_{key}"] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "sampling": dict(self.sampling),
            "benches": {name: asdict(result) for name, result in self.benches.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EvalReport":
        return cls(
            model=data["model"],
            sampling=dict(data["sampling"]),
            benches={name: BenchResult(**result) for name, result in data["benches"].items()},
        )

    @classmethod
    def merge(cls, reports: Sequence["EvalReport"]) -> "EvalReport":
        """One report holding every bench of `reports` (same model and sampling required)."""
        if not reports:
            raise ValueError("merge of no reports.")
        first = reports[0]
        benches: dict[str, BenchResult] = {}
        for report in reports:
            if report.model != first.model or dict(report.sampling) != dict(first.sampling):
                raise ValueError(
                    f"cannot merge reports of {report.model!r} and {first.model!r} or different sampling settings; "
                    "compare them with benchmarks.report.comparison_table instead."
                )
            benches.update(report.benches)
        return cls(model=first.model, sampling=dict(first.sampling), benches=benches)


def problems_sha256(problems: Sequence[Problem]) -> str:
    """sha256 of the problems as canonical JSON lines (order matters)."""
    digest = hashlib.sha256()
    for problem in problems:
        digest.update(json.dumps(problem.to_dict(), sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _word_count(text: str) -> int:
    return len(text.split())


def _parse_trace() -> Callable[..., Any] | None:
    """`search.verbalize.parse_trace`, or None while that module is unavailable."""
    try:
        from search.verbalize import parse_trace
    except ImportError:
        return None
    return parse_trace


def _first_attempt_answer(parsed: Any) -> str | None:
    """The answer stated before the first backtrack/restart, None when the first attempt stated none.

    Uses the parsed steps' attempt indices when the parser provides them (an unanswered first
    attempt then yields None), else the first of `attempt_answers`.
    """
    steps = getattr(parsed, "steps", None)
    if steps:
        answered = next((s for s in steps if getattr(s, "answer", None) is not None), None)
        if answered is None or getattr(answered, "attempt", 0) != 0:
            return None
        return answered.answer
    answers = list(parsed.attempt_answers)
    return answers[0] if answers else None


def score_completion(
    problem: Problem,
    completion: Completion,
    *,
    bench: str,
    sample_idx: int,
    delimiter: str = DEFAULT_DELIMITER,
    count_tokens: Callable[[str], int] = _word_count,
    extraction: str = "standard",
) -> EvalRecord:
    """The `EvalRecord` of one completion: answer and verdict from the problem's task, trace counts.

    correct = task.reward(problem, text) > 0 (the environment's reward); the first attempt
    is correct when the parser's first attempt answer passes task.is_correct.
    """
    task = astro_env.get_task(problem.task)
    if extraction != "standard" and hasattr(task, "with_extraction"):
        task = task.with_extraction(extraction)  # tasks without answer extraction policies keep their own
    text = completion.text
    answer = task.extract_answer(text)
    correct = task.reward(problem, text) > 0
    n_backtracks = n_restarts = None
    first_attempt_correct = None
    parse_trace = _parse_trace()
    if parse_trace is not None:
        parsed = parse_trace(text, delimiter=delimiter)
        n_backtracks, n_restarts = int(parsed.n_backtracks), int(parsed.n_restarts)
        first = _first_attempt_answer(parsed)
        if first is None:
            first_attempt_correct = False
        elif answer is not None and first.strip() == answer.strip() and len(parsed.attempt_answers) == 1:
            first_attempt_correct = bool(correct)
        else:
            first_attempt_correct = bool(task.is_correct(problem, first))
    n_tokens = completion.n_tokens or count_tokens(text)
    return EvalRecord(
        problem_id=problem.id,
        bench=bench,
        sample_idx=sample_idx,
        completion=text,
        answer=answer,
        correct=bool(correct),
        n_tokens=int(n_tokens),
        n_backtracks=n_backtracks,
        n_restarts=n_restarts,
        first_attempt_correct=first_attempt_correct,
        finish_reason=completion.finish_reason,
    )


def _check_config(out_dir: Path, model: str, config: EvalConfig) -> None:
    """Write out_dir's eval_config.json, or check that existing completions used the same settings."""
    path = out_dir / CONFIG_FILE
    wanted = {"model": model, **{k: v for k, v in config.sampling.items() if k != "samples"}}
    if path.exists():
        found = json.loads(path.read_text(encoding="utf-8"))
        if found != wanted:
            diff = {k: (found.get(k), wanted.get(k)) for k in set(found) | set(wanted) if found.get(k) != wanted.get(k)}
            raise ValueError(
                f"{path} holds completions sampled with other settings {diff} (stored, requested); "
                "use a fresh output directory or the stored settings."
            )
        return
    write_json(path, wanted)


def evaluate(
    policy: PolicyAgent,
    problems: Sequence[Problem],
    config: EvalConfig,
    out_dir: str | Path,
    bench_name: str = "eval",
    *,
    model_name: str | None = None,
    data_path: str | Path | None = None,
    count_tokens: Callable[[str], int] = _word_count,
    progress: bool = False,
) -> EvalReport:
    """The report of `policy` on `problems` (one bench), resuming from `out_dir/completions.jsonl`.

    Samples `config.samples` completions per problem (only the (problem, sample) pairs not
    already in the file), appends one `EvalRecord` per completion (flushed per batch of
    `config.batch_size` problems), and aggregates every record of `bench_name` for these
    problems. `model_name` defaults to `policy.name`; `data_path` adds that file's name and
    sha256 to the report. Raises ValueError when `out_dir` holds completions sampled with
    other settings (model, temperature, top-p, max tokens, seed, stop, delimiter); raising
    `samples` on resume is allowed and samples only the new indices.
    """
    if not problems:
        raise ValueError(f"evaluate({bench_name!r}): no problems to evaluate.")
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise ValueError(f"evaluate({bench_name!r}): duplicate problem ids {dupes}; ids must be unique.")
    model = model_name or getattr(policy, "name", type(policy).__name__)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_config(out, model, config)
    path = out / COMPLETIONS_FILE
    wanted_ids = set(ids)
    done: dict[tuple[str, int], EvalRecord] = {}
    for row in read_jsonl(path):
        record = EvalRecord.from_dict(row)
        if record.bench == bench_name and record.problem_id in wanted_ids and record.sample_idx < config.samples:
            done[(record.problem_id, record.sample_idx)] = record

    batches = range(0, len(problems), config.batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc=f"eval {bench_name}", unit="batch")
    with JsonlWriter(path) as writer:
        for start in batches:
            batch = problems[start : start + config.batch_size]
            groups: dict[tuple[int, ...], list[Problem]] = defaultdict(list)
            for problem in batch:
                missing = tuple(i for i in range(config.samples) if (problem.id, i) not in done)
                if missing:
                    groups[missing].append(problem)
            for missing, group in groups.items():
                prompts = [astro_env.get_task(p.task).format_prompt(p) for p in group]
                sampling = SamplingConfig(
                    max_tokens=config.max_tokens,
                    temperature=config.temperature,
                    top_p=config.top_p,
                    stop=config.stop,
                    seed=config.seed + start,
                )
                outputs = policy.complete(prompts, len(missing), sampling)
                if len(outputs) != len(group) or any(len(o) != len(missing) for o in outputs):
                    raise RuntimeError(
                        f"policy {model!r} returned {[len(o) for o in outputs]} completions for {len(group)} prompts "
                        f"x {len(missing)} samples; a PolicyAgent must return n completions per prompt."
                    )
                for problem, completions in zip(group, outputs):
                    for sample_idx, completion in zip(missing, completions):
                        record = score_completion(
                            problem,
                            completion,
                            bench=bench_name,
                            sample_idx=sample_idx,
                            delimiter=config.delimiter,
                            count_tokens=count_tokens,
                            extraction=config.extraction,
                        )
                        writer.write(record.to_dict())
                        done[(problem.id, sample_idx)] = record

    records = [done[(p.id, i)] for p in problems for i in range(config.samples)]
    data_file = data_sha = None
    if data_path is not None:
        data_file = Path(data_path).name
        data_sha = hashlib.sha256(Path(data_path).read_bytes()).hexdigest()
    result = summarize(
        problems,
        records,
        config,
        bench_name=bench_name,
        data_file=data_file,
        data_sha256=data_sha,
    )
    return EvalReport(model=model, sampling=config.sampling, benches={bench_name: result})


def summarize(
    problems: Sequence[Problem],
    records: Sequence[EvalRecord],
    config: EvalConfig,
    *,
    bench_name: str,
    data_file: str | None = None,
    data_sha256: str | None = None,
) -> BenchResult:
    """Aggregate `records` of `problems` into a `BenchResult` (pure: no sampling, no I/O).

    Problems without any record raise; maj@k clusters answers with the problem's
    `task.is_equivalent`.
    """
    by_problem: dict[str, list[EvalRecord]] = defaultdict(list)
    for record in records:
        by_problem[record.problem_id].append(record)
    missing = [p.id for p in problems if not by_problem.get(p.id)]
    if missing:
        raise ValueError(f"{len(missing)} problems have no completion (e.g. {missing[0]!r}); evaluate them first.")
    per_problem = [sorted(by_problem[p.id], key=lambda r: r.sample_idx) for p in problems]
    n_min = min(len(rs) for rs in per_problem)
    verdicts = [[r.correct for r in rs] for rs in per_problem]
    pass_k = {
        str(k): metrics.mean_pass_at_k([(len(v), sum(v)) for v in verdicts], k)
        for k in sorted(set(config.pass_ks))
        if k <= n_min
    }
    maj_k = min(config.maj_k, n_min)
    maj_scores = []
    for problem, rs in zip(problems, per_problem):
        task = astro_env.get_task(problem.task)
        n = len(rs)
        rng = np.random.default_rng(config.seed) if math.comb(n, maj_k) > metrics.MAX_EXACT_SUBSETS else None
        maj_scores.append(
            metrics.maj_at_k([r.answer for r in rs], [r.correct for r in rs], maj_k, same=task.is_equivalent, rng=rng)
        )
    flat = [r for rs in per_problem for r in rs]

    def breakdown(key: Callable[[Problem], Any]) -> dict[str, dict[str, float]]:
        groups: dict[str, list[list[bool]]] = defaultdict(list)
        for problem, v in zip(problems, verdicts):
            value = key(problem)
            if value is not None:
                groups[str(value)].append(v)
        return {
            name: {"n_problems": len(vs), "pass@1": metrics.pass_at_1(vs)}
            for name, vs in sorted(groups.items())
        }

    return BenchResult(
        bench=bench_name,
        n_problems=len(problems),
        n_samples=n_min,
        pass_at_1=metrics.pass_at_1(verdicts),
        pass_at_k=pass_k,
        maj_at_k={str(maj_k): float(np.mean(maj_scores))},
        mean_tokens=float(np.mean([r.n_tokens for r in flat])),
        mean_backtracks=metrics.mean_or_none([r.n_backtracks for r in flat]),
        mean_restarts=metrics.mean_or_none([r.n_restarts for r in flat]),
        first_attempt_accuracy=metrics.first_attempt_accuracy([r.first_attempt_correct for r in flat]),
        finish_reasons=dict(sorted(Counter(r.finish_reason for r in flat).items())),
        by_subject=breakdown(lambda p: p.subject),
        by_level=breakdown(lambda p: p.level),
        data_file=data_file,
        data_sha256=data_sha256,
        problems_sha256=problems_sha256(problems),
    )


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    defaults = EvalConfig()
    p = argparse.ArgumentParser(
        prog="astro eval",
        description="Evaluate a policy on MATH-500 / AMC 2023 / AIME 2024 (or .jsonl problem files): "
        "pass@1 over samples, pass@k, maj@k, tokens, backtracks, first-attempt accuracy.",
    )
    p.add_argument("--policy", required=True, help="model directory or hub name, or 'oracle' (answers with reference solutions)")
    p.add_argument("--backend", choices=["transformers", "vllm", "openai"], default="transformers", help="policy backend")
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
        from agents import build_policy
        from agents.base import PolicyConfig

        policy = build_policy(PolicyConfig(backend=args.backend, model=args.policy, base_url=args.base_url, device=args.device, seed=args.seed))
    count_tokens = _word_count
    tokenizer = getattr(policy, "tokenizer", None)
    if tokenizer is not None:
        count_tokens = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731

    reports = []
    for name, problems, path in sets:
        reports.append(
            evaluate(
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
        )
    report = EvalReport.merge(reports)
    markdown = write_report(report, args.out)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
