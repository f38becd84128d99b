"""The `Problem` record: one verifiable problem, whatever task it belongs to."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Problem:
    """One problem with a gold final answer.

    `task` names the `Task` that formats and verifies it (`"math"` or `"countdown"`);
    `metadata` carries task-specific structure (Countdown: `{"numbers": [...], "target": n}`)
    and is excluded from equality and hashing.
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
        if not isinstance(self.problem, str) or not self.problem.strip():
            raise ValueError(f"Problem {self.id!r}: `problem` text is empty")
        if not isinstance(self.answer, str) or not self.answer.strip():
            raise ValueError(f"Problem {self.id!r}: gold `answer` is empty")

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
            kwargs["metadata"] = {**dict(kwargs.get("metadata") or {}), **extra}
        if "answer" in kwargs and not isinstance(kwargs["answer"], str) and kwargs["answer"] is not None:
            kwargs["answer"] = str(kwargs["answer"])
        if isinstance(kwargs.get("level"), str):
            digits = "".join(ch for ch in kwargs["level"] if ch.isdigit())
            kwargs["level"] = int(digits) if digits else None
        return cls(**kwargs)
