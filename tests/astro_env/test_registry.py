"""Plug-in registries: names from entry points (built-ins too), import paths, `name:argument`."""

from __future__ import annotations

import gymnasium as gym
import pytest

import astro_env
from astro_env.registry import POLICIES, SEARCH_AGENTS, TASKS, UnknownComponentError


def test_builtins_are_registered_as_entry_points():
    assert {"math", "countdown"} <= set(TASKS.names())
    assert {"transformers", "vllm", "openai", "countdown", "reference"} <= set(POLICIES.names())
    assert {"mcts", "best_of_n", "beam"} <= set(SEARCH_AGENTS.names())


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(UnknownComponentError, match="mcts") as info:
        SEARCH_AGENTS.load("dfs")
    assert "package.module:attr" in str(info.value)
    with pytest.raises(ValueError, match="cannot import"):
        SEARCH_AGENTS.load("no_such_module_xyz:Agent")


def test_registered_name_takes_one_argument_after_a_colon():
    assert TASKS.split("countdown") == ("countdown", None)
    assert TASKS.split("countdown:hard") == ("countdown", "hard")
    with pytest.raises(UnknownComponentError):
        TASKS.split("chess:hard")


def test_a_task_by_import_path_runs_in_the_generic_environment():
    name = "examples.custom_task:ModSumTask"
    task = astro_env.get_task(name)
    problems = task.generate(3, seed=0)
    assert all(p.task == name for p in problems)  # problems find their task again by the name they carry
    env = gym.make("astro/Reasoning-v0", task=name, problems=problems)
    env.reset(seed=0, options={"problem": problems[0]})
    reward = 0.0
    for step in problems[0].solution.split("\n\n"):
        _, reward, terminated, truncated, _ = env.step(step)
    assert terminated and not truncated and reward == 1.0
    env.reset(seed=0, options={"problem": problems[0]})
    _, reward, terminated, _, _ = env.step(f"\\boxed{{{int(problems[0].answer) + 1}}}")
    assert terminated and reward == 0.0


def test_generic_environment_names_the_missing_task():
    with pytest.raises(ValueError, match="task"):
        gym.make("astro/Reasoning-v0")
