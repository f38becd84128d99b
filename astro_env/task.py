"""The `Task` interface: how a family of problems is prompted, ends and is verified.

Reward comes only from a task, and evaluation calls the same method: one definition of
"correct". Implementations: `astro_env.math_task.MathTask` (LaTeX answers, the verifier)
and `astro_env.countdown.CountdownTask` (exact check of an arithmetic expression).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from astro_env.problem import Problem


@runtime_checkable
class Task(Protocol):
    name: str
    """Short identifier stored in `Problem.task` ("math", "countdown")."""

    def format_prompt(self, problem: Problem) -> str:
        """The text a policy conditions on; the first reasoning step follows it directly."""
        ...

    def extract_answer(self, text: str) -> str | None:
        """The final answer stated in `text` (a step or a whole completion), None if there is none."""
        ...

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        """Whether an extracted final answer solves `problem`. Never raises."""
        ...

    def is_equivalent(self, answer_a: str, answer_b: str) -> bool:
        """Whether two final answers are the same answer (used to keep wrong answers distinct)."""
        ...

    def reward(self, problem: Problem, completion: str) -> float:
        """1.0 when the completion's final answer solves the problem, else 0.0. Never raises."""
        ...
