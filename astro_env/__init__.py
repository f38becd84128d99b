"""astro_env: problems, tasks (math, Countdown), the verifier and the Gymnasium environments.

Importing the package registers `astro/MathReasoning-v0` and `astro/Countdown-v0` with
Gymnasium; the environment modules themselves load only when `gymnasium.make` builds one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gymnasium

if TYPE_CHECKING:
    from astro_env.task import Task

__all__ = ["get_task"]


def get_task(name: str) -> "Task":
    """The `Task` instance for a `Problem.task` name: "math" or "countdown"; ValueError otherwise."""
    if name == "math":
        from astro_env.math_task import MathTask

        return MathTask()
    if name == "countdown":
        from astro_env.countdown import CountdownTask

        return CountdownTask()
    raise ValueError(f"unknown task {name!r}: Problem.task must be 'math' or 'countdown'.")


def _register() -> None:
    registered = gymnasium.envs.registry
    if "astro/MathReasoning-v0" not in registered:
        gymnasium.register(id="astro/MathReasoning-v0", entry_point="astro_env.envs:MathReasoningEnv")
    if "astro/Countdown-v0" not in registered:
        gymnasium.register(id="astro/Countdown-v0", entry_point="astro_env.envs:CountdownEnv")


_register()
