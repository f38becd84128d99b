"""The `Problem` record: one verifiable problem, whatever task it belongs to."""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class Problem:
    """One problem with a gold final answer.

    `task` names the `Task` that formats and verifies it (`"math"` or `"countdown"`);
    `metadata` carries task-specific structure (Countdown: `{"numbers": [...], "target": n}`)
    and is excluded from equality and hashing. An id names a problem but does not pin its
    content (a generated Countdown id `countdown/<seed>/<idx>` names different problems under
    different generator settings); records that depend on a problem carry `content_hash`.
    """

    id: str
    problem: str
    answer: str
    solution: str | None = None
    source: str = ""
    subject: str | None = None
    level: int | None = None
    year: int | None = None
    task: str = "math"
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"Problem.id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.problem, str):
            raise ValueError(f"Problem {self.id!r}: `problem` must be a string (the statement's text), got {type(self.problem).__name__}")
        if not self.problem.strip():
            raise ValueError(f"Problem {self.id!r}: `problem` text is empty")
        if not isinstance(self.answer, str) or not self.answer.strip():
            raise ValueError(f"Problem {self.id!r}: gold `answer` is empty")
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"`task` must be a task name such as 'math' or 'countdown', got {self.task!r} (problem {self.id!r})")
        if not isinstance(self.metadata, Mapping):
            raise ValueError(f"`metadata` must be a JSON object, got {type(self.metadata).__name__} (problem {self.id!r})")
        for key in ("solution", "subject"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"`{key}` must be a string or null, got {value!r} (problem {self.id!r})")
        if not isinstance(self.source, str):
            raise ValueError(f"`source` must be a string, got {self.source!r} (problem {self.id!r})")
        for key in ("level", "year"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValueError(f"`{key}` must be an integer or null, got {value!r} (problem {self.id!r})")

    @property
    def content_hash(self) -> str:
        """Hex SHA-256 (first 16 digits) of what defines the problem: id, task, text, gold answer, metadata.

        Two problems with the same id but different numbers, target, text, answer or task get
        different hashes; `solution`, `source`, `subject`, `level` and `year` are descriptive and
        left out. Stable across processes and JSON round trips (`from_dict(to_dict())`).
        """
        payload = {"id": self.id, "task": self.task, "problem": self.problem, "answer": self.answer, "metadata": dict(self.metadata)}
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; `Problem.from_dict` inverts it."""
        out = asdict(self)
        out["metadata"] = dict(self.metadata)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Problem":
        """Build from a dict with at least `id`, `problem`, `answer`; unknown keys go to `metadata`."""
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        if extra:
            metadata = kwargs.get("metadata") or {}
            if not isinstance(metadata, Mapping):
                raise ValueError(f"`metadata` must be a JSON object, got {type(metadata).__name__}")
            kwargs["metadata"] = {**dict(metadata), **extra}
        answer = kwargs.get("answer")
        if isinstance(answer, float) and not math.isfinite(answer):
            raise ValueError(f"gold `answer` is {answer!r}, not a number: write the answer as a string, e.g. \"answer\": \"12\"")
        if isinstance(answer, (dict, list, bool)):
            raise ValueError(f"gold `answer` must be a string or a number, got {type(answer).__name__}")
        if answer is not None and not isinstance(answer, str):
            kwargs["answer"] = str(answer)
        if isinstance(kwargs.get("level"), str):
            digits = "".join(ch for ch in kwargs["level"] if ch.isdigit())
            kwargs["level"] = int(digits) if digits else None
        return cls(**kwargs)


def prompt_key(problem: Problem) -> str:
    """The normalised statement of `problem`: the unit of exclusion and overlap between problem sets.

    NFKC-normalised `problem.problem` with runs of whitespace collapsed to one space and the ends
    stripped; ids, answers and metadata play no part, so two records that show a model the
    same statement share a key.

    >>> prompt_key(Problem(id="a", problem="Numbers: 3 5 7\\nTarget:  26 ", answer="26"))
    'Numbers: 3 5 7 Target: 26'
    """
    return " ".join(unicodedata.normalize("NFKC", problem.problem).split())


def count_overlap(problems: Iterable[Problem], keys: "set[str] | frozenset[str]") -> int:
    """How many of `problems` have a `prompt_key` in `keys` (duplicates counted each time)."""
    return sum(prompt_key(problem) in keys for problem in problems)
