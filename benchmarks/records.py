"""Evaluation records: one sampled completion (`EvalRecord`), one benchmark's aggregates
(`BenchResult`) and a model's report over several benchmarks (`EvalReport`).

`benchmarks.evaluate` produces them and `benchmarks.report` renders them; both import this
module, which imports neither.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class EvalRecord:
    """One line of completions.jsonl: a sampled completion and its verdicts.

    `n_tokens` is what the backend generated (`count_tokens(completion)` when the backend
    reports no token ids). `n_backtracks`, `n_restarts` and `first_attempt_correct` are None
    when the trace parser is unavailable; `first_attempt_correct` is False for a completion
    with no answer at all. `answer` is None when the completion states no final answer;
    `finish_reason == "length"` when the token budget cut it.
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
    problem_hash: str | None = None
    """`Problem.content_hash` of the problem sampled (None in files written before it was recorded)."""
    self_check: bool | None = None
    """The task's `self_check(problem, completion)`: whether a check that reads only the prompt accepts the
    completion (Countdown: its boxed expression reaches the stated target legally); None when the task
    has no such check. The stop rule of the retry baselines (`benchmarks.retry`)."""

    @property
    def truncated(self) -> bool:
        """True when the token budget cut the completion."""
        return self.finish_reason == "length"

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
    """maj@k keyed by str(k) (exact expectation over k-subsets; ties split evenly; a completion without
    an answer votes for "no answer", which is never right)."""
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
    maj_at_k_abstain: Mapping[str, float] = field(default_factory=dict)
    """maj@k keyed by str(k) with completions without an answer abstaining (`metrics.maj_at_k_abstain`):
    shows how much abstentions would inflate the vote; not a score to compare models by."""
    no_answer_rate: float | None = None
    """Share of completions that state no final answer (None in reports written before it was recorded)."""
    truncated_rate: float | None = None
    """Share of completions cut at the token budget (`finish_reason == "length"`; None as above)."""
    self_check_rate: float | None = None
    """Share of completions the task's self-check accepts (None when the task has none)."""

    @property
    def mean_jumps(self) -> float | None:
        """Jumps back per completion (`mean_jumps`)."""
        return mean_jumps(self.mean_backtracks, self.mean_restarts)


def mean_jumps(mean_backtracks: float | None, mean_restarts: float | None) -> float | None:
    """Jumps back per completion: backtracks to an earlier step plus restarts (a jump to the root is
    a backtrack in the paper's sense); None without backtrack counts."""
    if mean_backtracks is None:
        return None
    return mean_backtracks + (mean_restarts or 0.0)


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
            out.update({f"eval/{name}_maj@{k}_abstain": v for k, v in r.maj_at_k_abstain.items()})
            for key in ("mean_backtracks", "mean_restarts", "first_attempt_accuracy", "no_answer_rate", "truncated_rate"):
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
