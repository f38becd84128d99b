"""The `Task` interface: how a family of problems is prompted, ends and is verified.

Reward comes only from a task, and evaluation calls the same method: one definition of
"correct". Implementations: `astro_env.math_task.MathTask` (LaTeX answers, the verifier)
and `astro_env.countdown.CountdownTask` (exact check of an arithmetic expression).

A task is a plug-in: `astro_env.get_task(name)` resolves registered names (entry-point group
`astro.tasks`, where the built-ins are declared too) and `package.module:Class` import paths,
and `gymnasium.make("astro/Reasoning-v0", task=name)` runs any of them. A task that can make
its own problems also has `generate(n, seed) -> list[Problem]` (`ProceduralTask`); `astro run
--task NAME` then needs no problem files. See `examples/custom_task.py`.
"""

from __future__ import annotations

import dataclasses
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


@runtime_checkable
class ProceduralTask(Task, Protocol):
    """A task that generates its own problems (Countdown, the synthetic MATH-style task, plug-ins)."""

    def generate(self, n: int, seed: int) -> list[Problem]:
        """`n` problems whose `task` is this task's name; the same list for the same seed."""
        ...


@runtime_checkable
class SelfCheckingTask(Task, Protocol):
    """A task whose prompts let a solver check its own answer (optional hook; Countdown has it, math tasks do not).

    `self_check` must use only what `format_prompt(problem)` states, never `problem.answer` or
    any other gold field: it is the stop rule "sample until a completion passes the check" that
    any model could run at test time (`benchmarks.retry`, the compute-matched baselines). It may
    accept a completion the verifier rejects (or reject one it accepts); the baselines count
    the verifier's verdict of the completion they stop at.
    """

    def self_check(self, problem: Problem, completion: str) -> bool:
        """Whether `completion`'s final answer passes the check the prompt allows. Never raises."""
        ...


def task_config_class(name: str) -> type | None:
    """The `Config` dataclass the task `name` takes (None when it declares none); imports the task's module only."""
    from astro_env.registry import TASKS

    factory, _ = TASKS.load(name)
    config_cls = getattr(factory, "Config", None)
    return config_cls if isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls) else None


def default_search_policy(task: Task) -> str:
    """The policy backend that proposes search steps for `task` by default: its `default_search_policy`, else "base" (the policy itself)."""
    name = getattr(task, "default_search_policy", None)
    return name if isinstance(name, str) and name else "base"
