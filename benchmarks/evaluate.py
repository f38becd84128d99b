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

import dataclasses

import functools
import hashlib
import json
import math
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

import astro_env
from agents.base import Completion, PolicyAgent, SamplingConfig
from astro_env.jsonl import JsonlWriter, manifest_mismatch, read_jsonl, remove_manifest, write_json, write_manifest
from astro_env.errors import UserError
from astro_env.problem import Problem
from astro_env.state import DEFAULT_DELIMITER
from astro_env.task import SelfCheckingTask
from benchmarks import metrics
from benchmarks.records import BenchResult, EvalRecord, EvalReport
from search.executor import ExecutorConfig, Shard, make_shards, map_shards

__all__ = ["EvalConfig", "EvalRecord", "BenchResult", "EvalReport", "evaluate", "score_completion", "summarize"]

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
    executor: ExecutorConfig = field(default_factory=ExecutorConfig, compare=False)
    """Where the batches are sampled and scored (local, or one shard per batch on a Ray cluster); samples do not depend on it."""
    extraction: str = "standard"
    """Where a completion's final answer is read (math tasks): `boxed` (only a box), `standard` (a box,
    else an answer phrase or cue; what rewards use) or `lenient` (then the last expression; for models
    that do not box). The hack rules hold in every policy. Recorded in the report."""

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples={self.samples}: use >= 1 (paper: 16).")
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise ValueError(f"temperature={self.temperature}: use a finite value >= 0 (0 = greedy).")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p}: use a value in (0, 1], e.g. 0.95.")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens={self.max_tokens}: use >= 1.")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit={self.limit}: use >= 1, or None for every problem.")
        if not self.benches:
            raise ValueError("benches is empty: name at least one benchmark (math500, amc23, aime24, aime25) or a .jsonl path.")
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
    is correct when the parser's first attempt answer passes task.is_correct; self_check is the
    task's prompt-only check (`SelfCheckingTask`), None for a task without one.
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
        # the task's comparison sentences too; a restart's restated problem is not a step
        parsed = parse_trace(text, delimiter=delimiter, task=task, problem=problem.problem)
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
        problem_hash=problem.content_hash,
        self_check=_self_check(task, problem, text),
    )


def _self_check(task, problem, text: str) -> bool | None:
    """The task's `self_check` verdict, None when the task has none or the problem's prompt allows no check."""
    verdict = task.self_check(problem, text) if isinstance(task, SelfCheckingTask) else None
    return None if verdict is None else bool(verdict)


def _check_config(out_dir: Path, model: str, config: EvalConfig, chat: Any = None) -> None:
    """Write out_dir's eval_config.json, or check that existing completions used the same settings
    (the policy's chat template and system prompt among them: they change every prompt)."""
    path = out_dir / CONFIG_FILE
    # batch_size decides each prompt's seed and position in its call, so it decides the samples
    wanted = {"model": model, **{k: v for k, v in config.sampling.items() if k != "samples"}, "batch_size": config.batch_size}
    if dataclasses.is_dataclass(chat):
        wanted["chat"] = dataclasses.asdict(chat)
    if path.exists():
        found = json.loads(path.read_text(encoding="utf-8"))
        found.setdefault("batch_size", config.batch_size)  # written before batch_size was recorded
        if found != wanted:
            diff = {k: (found.get(k), wanted.get(k)) for k in set(found) | set(wanted) if found.get(k) != wanted.get(k)}
            raise ValueError(
                f"{path} holds completions sampled with other settings {diff} (stored, requested); "
                "use a fresh output directory or the stored settings."
            )
        return
    write_json(path, wanted)


def _rewrite_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Replace `path` atomically by `rows`, one JSON object per line."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    tmp.replace(path)


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

    Samples `config.samples` completions per problem in batches of `config.batch_size`
    problems, each batch with seed `config.seed` + the index of its first problem, appends one
    `EvalRecord` per completion (flushed per record), and aggregates every record of
    `bench_name` for these problems. On resume, a batch with any (problem, sample) pair
    missing is sampled again as a whole and only the missing pairs are written, so a batch cut
    short by a kill, or samples raised on resume, end with the completions of an uninterrupted
    run (on a backend whose samples follow its seed); complete batches are not sampled again.
    Saved records of a problem whose content changed since (same id, other `content_hash`)
    are removed from the file and sampled again. `model_name` defaults to `policy.name`; `data_path` adds that file's name and
    sha256 to the report. Raises ValueError when `out_dir` holds completions sampled with
    other settings (model, temperature, top-p, max tokens, seed, stop, delimiter, batch size);
    raising `samples` on resume is allowed and writes only the new indices. `config.executor` decides
    where the batches are sampled and scored (one shard per batch, same seeds, same records);
    with Ray, records are written as each batch returns and `ShardsFailed` names what failed.
    """
    if not problems:
        raise ValueError(f"evaluate({bench_name!r}): no problems to evaluate.")
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:3]
        raise ValueError(f"evaluate({bench_name!r}): duplicate problem ids {dupes}; ids must be unique.")
    model = model_name or getattr(policy, "name", type(policy).__name__)
    out = Path(out_dir)
    path = out / COMPLETIONS_FILE
    rows = read_jsonl(path)  # a garbage line is refused before anything is written
    out.mkdir(parents=True, exist_ok=True)
    _check_config(out, model, config, getattr(getattr(policy, "config", None), "chat", None))
    hashes = {p.id: p.content_hash for p in problems}
    done: dict[tuple[str, int], EvalRecord] = {}
    kept_rows: list[dict[str, Any]] = []
    n_stale = 0
    why = manifest_mismatch(path)
    if why is not None:
        print(f"eval {bench_name}: {path} {why} (cut short or changed since it was finished); sampling what is missing again.", file=sys.stderr)
    remove_manifest(path)  # written again once every completion is in the file
    for line_no, row in enumerate(rows, start=1):
        try:
            record = EvalRecord.from_dict(row)
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{path}: record {line_no} is not an evaluation record ({type(exc).__name__}: {exc}); "
                            "give --out a folder of its own.") from None
        mine = record.bench == bench_name and record.problem_id in hashes
        if mine and record.problem_hash is not None and record.problem_hash != hashes[record.problem_id]:
            n_stale += 1  # sampled for another version of this problem (a regenerated problem file)
            continue
        kept_rows.append(row)
        if mine and record.sample_idx < config.samples:
            done[(record.problem_id, record.sample_idx)] = record
    if n_stale:
        _rewrite_jsonl(path, kept_rows)
        print(f"eval {bench_name}: {n_stale} saved completion(s) were sampled for another version of their problem; sampling them again.", file=sys.stderr)

    def missing(problem: Problem) -> tuple[int, ...]:
        return tuple(i for i in range(config.samples) if (problem.id, i) not in done)

    # one shard per batch of `batch_size` problems: the sampling seed is config.seed + the batch's start
    jobs = [(p, missing(p)) for p in problems]
    shards = make_shards(jobs, config.batch_size, lambda job: job[0].id, skip=lambda part: not any(m for _, m in part))
    bar = None
    if progress:
        from tqdm import tqdm

        n_open = sum(len(s) for s in shards)
        bar = tqdm(total=len(problems), initial=len(problems) - n_open, desc=f"eval {bench_name}", unit="problem", dynamic_ncols=True)
    with JsonlWriter(path) as writer:

        def collect(shard: Shard, records: list[EvalRecord]) -> None:
            for record in records:
                if (record.problem_id, record.sample_idx) in done:
                    continue
                writer.write(record.to_dict())
                done[(record.problem_id, record.sample_idx)] = record
            if bar is not None:
                bar.update(len(shard))

        work = functools.partial(eval_shard, config=config, bench_name=bench_name, model=model, count_tokens=count_tokens)
        try:
            map_shards(shards, work, policy, config.executor, collect)
        finally:
            if bar is not None:
                bar.close()

    records = [done[(p.id, i)] for p in problems for i in range(config.samples)]
    write_manifest(path)
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


def eval_shard(
    policy: PolicyAgent,
    shard: Shard[tuple[Problem, tuple[int, ...]]],
    config: EvalConfig,
    bench_name: str,
    model: str,
    count_tokens: Callable[[str], int] = _word_count,
) -> list[EvalRecord]:
    """Scored records of one batch: `shard.items` are (problem, sample indices still missing) pairs.

    The whole batch is sampled exactly as an uninterrupted run samples it (same prompts in the
    same positions, n = `config.samples`, seed `config.seed + shard.start`), and only the missing
    pairs are scored: a batch cut short by a kill, or samples raised on resume, get the
    completions an uninterrupted run would have (backends key each sample by seed, prompt
    position and sample index). An executor's `work`.
    """
    batch = [problem for problem, _ in shard.items]
    prompts = [astro_env.get_task(p.task).format_prompt(p) for p in batch]
    sampling = SamplingConfig(
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        stop=config.stop,
        seed=config.seed + shard.start,
    )
    outputs = policy.complete(prompts, config.samples, sampling)
    if len(outputs) != len(batch) or any(len(o) != config.samples for o in outputs):
        raise RuntimeError(
            f"policy {model!r} returned {[len(o) for o in outputs]} completions for {len(batch)} prompts "
            f"x {config.samples} samples; a PolicyAgent must return n completions per prompt."
        )
    records: list[EvalRecord] = []
    for (problem, missing), completions in zip(shard.items, outputs):
        for sample_idx in missing:
            records.append(score_completion(problem, completions[sample_idx], bench=bench_name, sample_idx=sample_idx,
                                            delimiter=config.delimiter, count_tokens=count_tokens, extraction=config.extraction))
    return records


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
    `task.is_equivalent`, and counts a completion without an answer as a vote for "no answer"
    (never right); `maj_at_k_abstain` lets it abstain. No-answer and truncated shares are over
    all completions.
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
    maj_scores, maj_abstain_scores = [], []
    for problem, rs in zip(problems, per_problem):
        task = astro_env.get_task(problem.task)
        n = len(rs)
        exact = math.comb(n, maj_k) <= metrics.MAX_EXACT_SUBSETS
        answers, flags = [r.answer for r in rs], [r.correct for r in rs]
        for fn, scores in ((metrics.maj_at_k, maj_scores), (metrics.maj_at_k_abstain, maj_abstain_scores)):
            rng = None if exact else np.random.default_rng(config.seed)
            scores.append(fn(answers, flags, maj_k, same=task.is_equivalent, rng=rng))
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
        maj_at_k_abstain={str(maj_k): float(np.mean(maj_abstain_scores))},
        no_answer_rate=metrics.share([r.answer is None for r in flat]),
        truncated_rate=metrics.share([r.truncated for r in flat]),
        self_check_rate=metrics.mean_or_none([None if r.self_check is None else float(r.self_check) for r in flat]),
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
