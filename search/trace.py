"""The `Trace` record: one SFT example (a line of traces.jsonl)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Mapping


@dataclass(frozen=True)
class Trace:
    """One line of traces.jsonl (an SFT example, TRL prompt-completion format).

    Invariants: `completion` ends in the correct terminal's boxed answer;
    `arm == "direct"` implies `n_backtracks == n_restarts == 0`.
    """

    problem_id: str
    arm: Literal["astro", "direct"]
    prompt: str
    completion: str
    n_backtracks: int = 0
    n_restarts: int = 0
    n_tokens: int = 0
    """Completion length in tokens of the tokenizer given to `astro linearize` (characters when none)."""
    k: int = 0
    """Wrong branches visited before the correct one (0 for a direct solution)."""
    node_ids: tuple[int, ...] = ()
    """The node sequence in the source tree that was verbalised."""
    source: str = ""
    masked_spans: tuple[tuple[int, int], ...] = ()
    """Character spans `[start, end)` of `completion` kept out of the SFT loss (they stay in the
    context): what wrong attempts write off the correct path, under `--traces.mask-wrong-steps`."""

    def __post_init__(self) -> None:
        if self.arm not in ("astro", "direct"):
            raise ValueError(f"arm={self.arm!r}: use 'astro' or 'direct'.")
        if self.arm == "direct" and (self.n_backtracks or self.n_restarts):
            raise ValueError("a direct trace has no backtracks or restarts.")
        end = 0
        for span in self.masked_spans:
            if len(span) != 2 or not end <= span[0] < span[1] <= len(self.completion):
                raise ValueError(f"masked_spans={list(map(list, self.masked_spans))}: give ordered, disjoint [start, end) spans inside the completion.")
            end = span[1]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["node_ids"] = list(self.node_ids)
        if self.masked_spans:
            out["masked_spans"] = [list(s) for s in self.masked_spans]
        else:
            del out["masked_spans"]  # absent when nothing is masked: such a line holds only the other fields
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Trace":
        known = cls.__dataclass_fields__
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["node_ids"] = tuple(kwargs.get("node_ids", ()))
        kwargs["masked_spans"] = tuple(tuple(s) for s in kwargs.get("masked_spans", ()))
        return cls(**kwargs)
