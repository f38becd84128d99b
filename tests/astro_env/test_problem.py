"""The Problem record: validation, dict round trips, metadata handling."""

from __future__ import annotations

import pytest

from astro_env import get_task
from astro_env.countdown import CountdownTask
from astro_env.math_task import MathTask
from astro_env.problem import Problem
from astro_env.task import Task


def test_validation_names_the_field():
    with pytest.raises(ValueError, match="id"):
        Problem(id="", problem="p", answer="1")
    with pytest.raises(ValueError, match="problem"):
        Problem(id="x", problem="  ", answer="1")
    with pytest.raises(ValueError, match="answer"):
        Problem(id="x", problem="p", answer="")


def test_dict_round_trip_and_unknown_keys_to_metadata():
    p = Problem(id="x", problem="p", answer="1", solution="s", source="src", subject="Algebra", level=3, year=2024, task="math", metadata={"k": 1})
    assert Problem.from_dict(p.to_dict()) == p
    assert Problem.from_dict(p.to_dict()).metadata == {"k": 1}
    q = Problem.from_dict({"id": "y", "problem": "p", "answer": 42, "level": "Level 4", "url": "u"})
    assert q.answer == "42" and q.level == 4 and q.metadata == {"url": "u"}


def test_metadata_is_excluded_from_equality_and_hash():
    a = Problem(id="x", problem="p", answer="1", metadata={"a": 1})
    b = Problem(id="x", problem="p", answer="1", metadata={"b": 2})
    assert a == b and hash(a) == hash(b)


def test_get_task():
    assert isinstance(get_task("math"), MathTask) and isinstance(get_task("countdown"), CountdownTask)
    assert isinstance(get_task("math"), Task) and isinstance(get_task("countdown"), Task)
    with pytest.raises(ValueError, match="unknown task 'chess': use one of .*countdown.*math"):
        get_task("chess")


def test_math_task_prompt_and_verdicts():
    task = MathTask()
    p = Problem(id="x", problem="What is $\\frac{1}{2}+\\frac{1}{2}$?", answer="1")
    assert task.format_prompt(p) == "Problem: What is $\\frac{1}{2}+\\frac{1}{2}$?\n\nSolution:\n"
    assert task.extract_answer("so \\boxed{1}") == "1"
    assert task.is_correct(p, "1") and not task.is_correct(p, "2") and not task.is_correct(p, None)
    assert task.reward(p, "We get $\\boxed{1}$.") == 1.0 and task.reward(p, "We get $\\boxed{2}$.") == 0.0
    assert task.is_equivalent("\\frac{1}{2}", "0.5")
