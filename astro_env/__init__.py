"""astro_env: problems, tasks (math, Countdown), the verifier and the Gymnasium environments.

Importing the package registers `astro/MathReasoning-v0`, `astro/Countdown-v0` and the
task-generic `astro/Reasoning-v0` (`task=` any registered task) with Gymnasium; the
environment modules themselves load only when `gymnasium.make` builds one.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Mapping

import gymnasium

if TYPE_CHECKING:
    from astro_env.task import Task

__all__ = ["get_task"]


def get_task(name: str, config: Any = None) -> "Task":
    """The `Task` instance a `Problem.task` name stands for (one instance per name and config).

    `name` is a registered task ("math", "countdown", plug-ins through the `astro.tasks`
    entry-point group), a registered name with an argument ("reasoning_gym:chain_sum"), or a
    `package.module:Class` import path. ValueError naming the registered tasks otherwise.
    `config` is an instance of the task's `Config` dataclass, or a mapping of its fields (`{}`:
    its defaults; text values are converted to the fields' types), handed to the constructor as
    `config=`; None (or `{}` for a task without a `Config`) builds the task as it comes. A
    task's config shapes what it generates and pre-trains on, never how it scores, so
    `get_task(problem.task)` scores any problem whatever config made it. A config for a task
    that declares no `Config`, or a field it does not have, raises `UserError` naming the fields.
    """
    if config is None:
        return _task(name, None)
    from astro_env.errors import UserError
    from astro_env.task import config_from_mapping, task_config_class

    config_cls = task_config_class(name)
    if config_cls is None:
        if isinstance(config, Mapping) and not config:
            return _task(name, None)
        raise UserError(f"task {name!r} takes no config (it declares no Config dataclass); leave its config empty.")
    if isinstance(config, Mapping):
        config = config_from_mapping(config_cls, config, f"task {name!r}")
    elif not isinstance(config, config_cls):
        raise UserError(f"task {name!r} takes a {config_cls.__name__}, got {type(config).__name__}.")
    try:
        if config == config_cls():
            return _task(name, None)  # the default config: the instance get_task(name) gives
    except TypeError:  # a Config with required fields has no default
        pass
    try:
        hash(config)
    except TypeError:
        return _build_task(name, config)
    return _task(name, config)


@functools.lru_cache(maxsize=None)
def _task(name: str, config: Any) -> "Task":
    return _build_task(name, config)


def _build_task(name: str, config: Any) -> "Task":
    from astro_env.registry import TASKS

    factory, arg = TASKS.load(name)
    args = (arg,) if arg is not None else ()
    task = factory(*args, config=config) if config is not None else factory(*args)
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
        gymnasium.register(id="astro/Countdown-v0", entry_point="astro_env.countdown_env:CountdownEnv")
    if "astro/Reasoning-v0" not in registered:
        gymnasium.register(id="astro/Reasoning-v0", entry_point="astro_env.envs:ReasoningEnv")


_register()
