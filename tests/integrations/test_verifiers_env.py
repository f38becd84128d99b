"""The `verifiers` environment (`integrations/astro_verifiers`): built for Countdown and math, a
right and a wrong reply scored 1 and 0 through verifiers' own scoring (no model server)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "integrations" / "astro_verifiers"
HAS_VERIFIERS = importlib.util.find_spec("verifiers") is not None
pytestmark = pytest.mark.skipif(not HAS_VERIFIERS, reason="verifiers is not installed (pip install 'astro-gym[verifiers]')")


@pytest.fixture()
def av(monkeypatch):
    """The package as a checkout import (the slow test below installs it for real)."""
    monkeypatch.syspath_prepend(str(PACKAGE))
    import astro_verifiers

    return astro_verifiers


@pytest.mark.parametrize("task", ["countdown", "math"])
def test_right_and_wrong_replies_score_1_and_0_through_verifiers(av, task):
    import verifiers.v1 as vf

    env = av.load_environment(task=task, n_problems=4, seed=3)
    assert isinstance(env, vf.Env)
    tasks = list(env.taskset)
    assert len(tasks) == 4 and all(isinstance(t, av.AstroTask) for t in tasks)
    from astro_env import get_task
    from astro_env.problem import Problem

    for item in tasks:
        problem = item.data.problem
        assert problem["task"] == task
        assert item.data.prompt == get_task(task).format_prompt(Problem.from_dict(problem))
        right = problem["solution"] if task == "countdown" else f"Simplifying gives \\boxed{{{problem['answer']}}}."
        assert av.score_completion(env, item, right) == 1.0
        assert av.score_completion(env, item, "I give up: \\boxed{-987654}") == 0.0
        assert av.score_completion(env, item, "no final answer") == 0.0


def test_verifiers_resolves_the_taskset_id_to_this_package(av):
    import verifiers.v1 as vf

    assert vf.taskset_config_type(av.TASKSET_ID) is av.AstroTasksetConfig
    assert vf.task_type(av.TASKSET_ID) is av.AstroTask
    config = vf.resolve_env_config({"taskset": {"id": av.TASKSET_ID, "astro_task": "countdown", "n_problems": 2},
                                    "agent": {"harness": {"id": "null"}}})
    env = vf.load_environment(config)
    (first, second) = list(env.taskset)
    assert first.data.problem["task"] == "countdown" and first.data.idx == 0 and second.data.idx == 1
    trace_reward = av.score_completion(env, first, first.data.problem["solution"])
    assert trace_reward == 1.0


def test_the_reward_is_recorded_under_its_name(av):
    import asyncio

    import verifiers.v1 as vf
    from verifiers.v1.graph import MessageNode

    env = av.load_environment(task="countdown", n_problems=1)
    (item,) = list(env.taskset)
    trace = vf.Trace(task=vf.TraceTask(type="AstroTask", data=item.data), agent=vf.AgentInfo(config=env.config.agent),
                     nodes=[MessageNode(message=vf.AssistantMessage(content=item.data.problem["solution"]), sampled=True)])
    asyncio.run(item.score(trace))
    assert trace.rewards["correct"].score == 1.0 and trace.rewards["correct"].weight == 1.0


def test_problems_from_a_file_and_bad_names(av, tmp_path):
    from astro_env.loaders import write_problems
    from astro_env.problem import Problem

    write_problems([Problem(id="p1", problem="What is 2+3?", answer="5")], tmp_path / "p.jsonl")
    env = av.load_environment(task="math", problems=str(tmp_path / "p.jsonl"))
    (item,) = list(env.taskset)
    assert av.score_completion(env, item, "\\boxed{5}") == 1.0 and av.score_completion(env, item, "\\boxed{6}") == 0.0
    with pytest.raises(ValueError, match="not_a_task"):
        av.load_environment(task="not_a_task")


@pytest.mark.slow
def test_pip_install_makes_the_taskset_id_loadable_outside_the_checkout(tmp_path):
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(PACKAGE)], check=True, cwd=ROOT)
    try:
        code = ("import verifiers.v1 as vf, astro_verifiers as av;"
                "env = vf.load_environment(vf.resolve_env_config({'taskset': {'id': 'astro-verifiers', 'n_problems': 1},"
                " 'agent': {'harness': {'id': 'null'}}}));"
                "(t,) = list(env.taskset); print(av.score_completion(env, t, t.data.problem['solution']))")
        run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        assert run.stdout.strip().splitlines()[-1] == "1.0"
    finally:
        subprocess.run([*pip, "uninstall", "-y", "astro-verifiers"], check=True, cwd=ROOT)
