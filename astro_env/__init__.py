"""astro_env: problems, tasks (math, Countdown), the verifier and the Gymnasium environments.

Importing the package registers `astro/MathReasoning-v0`, `astro/Countdown-v0` and the
task-generic `astro/Reasoning-v0` (`task=` any registered task) with Gymnasium; the
environment modules themselves load only when `gymnasium.make` builds one.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import gymnasium

if TYPE_CHECKING:
    from astro_env.task import Task

__all__ = ["get_task"]


def get_task(name: str) -> "Task":
    """The `Task` instance a `Problem.task` name stands for (one instance per name).

    `name` is a registered task ("math", "countdown", plug-ins through the `astro.tasks`
    entry-point group), a registered name with an argument ("reasoning_gym:chain_sum"), or a
    `package.module:Class` import path. ValueError naming the registered tasks otherwise.
    """
    return _task(name)


@functools.lru_cache(maxsize=None)
def _task(name: str) -> "Task":
    from astro_env.registry import TASKS

    factory, arg = TASKS.load(name)
    task = factory(arg) if arg is not None else factory()
    for attr in ("format_prompt", "reward", "extract_answer", "is_correct", "is_equivalent"):
        if not callable(getattr(task, attr, None)):
            raise ValueError(f"task {name!r} ({type(task).__name__}) has no {attr}(); a Task implements astro_env.task.Task.")
    # problems made by this instance carry the name it was loaded by, so get_task finds it again
    object.__setattr__(task, "name", name)
    return task


def _register() -> None:
    registered = gymnasium.envs.registry
    if "astro/MathReasoning-v0" not in registered:
        gymnasium.register(id="astro/MathReasoning-v0", entry_point="astro_env.envs:MathReasoningEnv")
    if "astro/Countdown-v0" not in registered:
        gymnasium.register(id="astro/Countdown-v0", entry_point="astro_env.envs:CountdownEnv")
    if "astro/Reasoning-v0" not in registered:
        gymnasium.register(id="astro/Reasoning-v0", entry_point="astro_env.envs:ReasoningEnv")


_register()
