"""An outside task: modular sums, verifiable exactly, generated procedurally.

    Problem: What is (47 + 85) mod 9?
    steps:   47 + 85 = 132  /  132 = 14 * 9 + 6  /  The answer is \\boxed{6}.

Use it by import path (no installation): `astro run --preset smoke --task examples.custom_task:ModSumTask`,
or `gymnasium.make("astro/Reasoning-v0", task="examples.custom_task:ModSumTask")`. Installed
(`pip install -e examples/`), it is the task `modsum`.
"""

from __future__ import annotations

import random
import re
from typing import AbstractSet

from astro_env.problem import Problem, prompt_key

_BOXED = re.compile(r"\\boxed\{\s*(-?\d+)\s*\}")


class ModSumTask:
    """The `astro_env.task.Task` contract, plus `generate` (a `ProceduralTask`) and `pretrain_corpus` (a
    `PretrainingTask`: the embedded base can pre-train on it)."""

    name = "modsum"

    def generate(self, n: int, seed: int) -> list[Problem]:
        rng = random.Random(seed)
        return [self._draw(rng, f"modsum/{seed}/{idx}") for idx in range(n)]

    def pretrain_corpus(self, n: int, seed: int, exclude_keys: AbstractSet[str] = frozenset()) -> list[tuple[Problem, str]]:
        """The optional hook that lets `astro run` pre-train its embedded base on this task: `n` (problem, worked
        solution) pairs drawn from their own stream, none whose statement is in `exclude_keys` (the run's evaluation
        sets), so the base never sees a test problem. Deterministic, and a prefix of the corpus for a larger `n`."""
        rng = random.Random(f"modsum-corpus/{seed}")
        pairs: list[tuple[Problem, str]] = []
        while len(pairs) < n:
            problem = self._draw(rng, f"modsum-corpus/{seed}/{len(pairs)}")
            if prompt_key(problem) not in exclude_keys:
                pairs.append((problem, problem.solution))
        return pairs

    def _draw(self, rng: random.Random, problem_id: str) -> Problem:
        a, b, m = rng.randint(10, 99), rng.randint(10, 99), rng.randint(3, 12)
        total = a + b
        steps = [f"{a} + {b} = {total}", f"{total} = {total // m} * {m} + {total % m}", f"The answer is \\boxed{{{total % m}}}."]
        return Problem(id=problem_id, problem=f"What is ({a} + {b}) mod {m}?", answer=str(total % m),
                       solution="\n\n".join(steps), task=self.name, metadata={"a": a, "b": b, "m": m})

    def format_prompt(self, problem: Problem) -> str:
        return f"Problem: {problem.problem}\n\n"

    def extract_answer(self, text: str) -> str | None:
        found = _BOXED.findall(text) if isinstance(text, str) else []
        return found[-1] if found else None

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        return answer is not None and answer.strip().lstrip("+") == problem.answer

    def is_equivalent(self, answer_a: str, answer_b: str) -> bool:
        return answer_a.strip() == answer_b.strip()

    def reward(self, problem: Problem, completion: str) -> float:
        if not isinstance(completion, str):
            return 0.0
        answers = set(_BOXED.findall(completion))
        return 1.0 if len(answers) == 1 and self.is_correct(problem, answers.pop()) else 0.0
