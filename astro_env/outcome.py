"""How a task states the outcome of an attempt against its goal: the comparison sentences.

A task whose prompt names a goal the answer can be compared with (Countdown's target) writes,
after a final step, one sentence that states the value reached, copies the goal and gives the
verdict: "That gives 8; the target is 6, so this is not it." The text is the task's own (a small
JSON file beside the task, like the search phrase bank), so the verbaliser, the trace parser,
the pre-training corpus and the competence audits all read one definition. A task without a goal
has no `OutcomePhrases` and writes none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

PLACEHOLDER = re.compile(r"\{(answer|target|goal)\}")
"""Placeholders of the phrase templates: `{answer}`, `{goal}` here, `{target}` in backtrack phrases."""


def template_fragments(template: str, min_chars: int = 4) -> list[str]:
    """The fixed text of `template` between its placeholders, pieces shorter than `min_chars` (stripped) left out.

    >>> template_fragments("That gives {answer}; the target is {goal}, so we have it.")
    ['That gives ', '; the target is ', ', so we have it.']
    """
    return [part for part in PLACEHOLDER.split(template)
            if part not in ("answer", "target", "goal") and len(part.strip()) >= min_chars]


class Comparison(NamedTuple):
    """What a comparison sentence states."""

    value: str
    """The value the attempt reached."""
    goal: str | None
    """The goal it names (None when the phrase does not name it)."""
    reached: bool
    """Whether it says the value is the goal."""

    @property
    def true(self) -> bool:
        """Whether the statement is consistent: the verdict matches value == goal (when the goal is named)."""
        return self.goal is None or (self.value == self.goal) is self.reached


@dataclass(frozen=True)
class OutcomePhrases:
    """The two comparison sentences of a task; `{answer}` is the value reached, `{goal}` the goal.

    Neither may box anything (several conflicting boxed answers make a completion score 0).
    """

    reached: str
    """After a final step whose value is the goal (written before the boxed answer)."""
    missed: str
    """After a final step whose value misses the goal (a wrong attempt's text: no box)."""

    def __post_init__(self) -> None:
        for kind in ("reached", "missed"):
            text = getattr(self, kind)
            if not isinstance(text, str) or "{answer}" not in text or "boxed" in text:
                raise ValueError(f"{kind}={text!r}: a comparison must contain '{{answer}}' (the value) and no \\boxed.")
        if "{goal}" not in self.missed:
            raise ValueError(f"missed={self.missed!r}: add '{{goal}}' (the goal the value misses).")
        if self.reached == self.missed:
            raise ValueError("reached and missed are the same text: a comparison must say which it is.")

    @classmethod
    def load(cls, path: str | Path) -> "OutcomePhrases":
        """The phrases of a JSON file holding `reached` and `missed` (other keys, such as `_doc`, are ignored)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        missing = [k for k in ("reached", "missed") if not isinstance(data.get(k), str)]
        if missing:
            raise ValueError(f"{path}: no {' or '.join(missing)} phrase; an outcome phrase file holds 'reached' and 'missed'.")
        return cls(reached=data["reached"], missed=data["missed"])

    def sentence(self, value: str, goal: str) -> str:
        """`reached` when `value == goal`, else `missed`, with both filled in literally."""
        template = self.reached if value == goal else self.missed
        return template.replace("{answer}", value).replace("{goal}", goal)

    def parse(self, text: str) -> Comparison | None:
        """The `Comparison` a chunk states, None when `text` (stripped) is not one of the two sentences. Never raises."""
        flat = text.strip() if isinstance(text, str) else ""
        for kind in ("reached", "missed"):
            pattern = re.escape(getattr(self, kind)).replace(re.escape("{answer}"), r"(?P<answer>[^\s,.;]+)")
            pattern = pattern.replace(re.escape("{goal}"), r"(?P<goal>[^\s,.;]+)")
            m = re.fullmatch(pattern, flat)
            if m:
                return Comparison(m.group("answer"), m.groupdict().get("goal"), kind == "reached")
        return None

    def fragments(self, min_chars: int = 4) -> list[str]:
        """The fixed text of both sentences (see `template_fragments`), in order, duplicates kept."""
        return template_fragments(self.reached, min_chars) + template_fragments(self.missed, min_chars)
