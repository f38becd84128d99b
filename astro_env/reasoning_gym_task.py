"""`reasoning_gym:<dataset>`: the procedural tasks of reasoning-gym behind the `Task` interface.

reasoning-gym (a maintained library of verifiable task generators) supplies the problems and
each dataset's own scorer; this module adds the parts our environment needs: the prompt, the
final answer as the last `\\boxed{...}` of a completion, and the 0/1 reward. Install it with
`pip install 'astro-gym[reasoning-gym]'`; `astro run --task reasoning_gym:chain_sum` then
trains and evaluates on generated problems. The dataset's entry (question, answer,
metadata) travels in `Problem.metadata["entry"]`, so scoring needs nothing but the problem.
"""

from __future__ import annotations

import json
from typing import Any

from astro_env.boxes import scan_boxes
from astro_env.problem import Problem

PROMPT = "Problem: {question}\n\nGive the final answer as \\boxed{{...}}.\n\nSolution:\n"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: sorted(v) if isinstance(v, (set, frozenset)) else str(v)))


class ReasoningGymTask:
    """One reasoning-gym dataset as a `ProceduralTask`; its scorer decides correctness (score >= 1)."""

    def __init__(self, dataset: str) -> None:
        try:
            import reasoning_gym
        except ImportError:
            raise ValueError(
                f"task reasoning_gym:{dataset} needs the reasoning-gym package: pip install 'astro-gym[reasoning-gym]'."
            ) from None
        from reasoning_gym.factory import DATASETS

        if dataset not in DATASETS:
            close = sorted(d for d in DATASETS if dataset[:4] in d)[:8]
            raise ValueError(f"reasoning-gym has no dataset {dataset!r}" + (f"; similar: {', '.join(close)}." if close else "."))
        self.dataset = dataset
        self.name = f"reasoning_gym:{dataset}"
        self._score = reasoning_gym.get_score_answer_fn(dataset)

    def generate(self, n: int, seed: int) -> list[Problem]:
        """`n` problems of the dataset (reasoning-gym's own generator, seeded)."""
        import reasoning_gym

        out = []
        for idx, entry in enumerate(reasoning_gym.create_dataset(self.dataset, size=n, seed=seed)):
            out.append(Problem(
                id=f"reasoning_gym/{self.dataset}/{seed}/{idx}",
                problem=str(entry["question"]),
                answer=str(entry["answer"]),
                source=f"reasoning-gym {self.dataset} (seed {seed})",
                task=self.name,
                metadata={"entry": _jsonable(entry)},
            ))
        return out

    def format_prompt(self, problem: Problem) -> str:
        return PROMPT.format(question=problem.problem)

    def extract_answer(self, text: str) -> str | None:
        """The last boxed answer of `text`, None if there is none."""
        if not isinstance(text, str):
            return None
        boxes = scan_boxes(text).contents
        return boxes[-1].strip() if boxes else None

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        """The dataset's scorer gives `answer` full marks. Never raises."""
        if answer is None:
            return False
        entry = dict(problem.metadata.get("entry") or {"question": problem.problem, "answer": problem.answer, "metadata": {}})
        try:
            return float(self._score(answer, entry)) >= 1.0
        except Exception:  # a scorer choking on model text is a wrong answer
            return False

    def is_equivalent(self, answer_a: str, answer_b: str) -> bool:
        return " ".join(answer_a.split()) == " ".join(answer_b.split())

    def reward(self, problem: Problem, completion: str) -> float:
        """1.0 when the completion boxes one answer (or several identical ones) that the scorer accepts."""
        if not isinstance(completion, str):
            return 0.0
        boxes = scan_boxes(completion)
        answers = {" ".join(b.split()) for b in boxes.contents}
        if boxes.truncated or len(answers) != 1:
            return 0.0
        return 1.0 if self.is_correct(problem, answers.pop()) else 0.0
