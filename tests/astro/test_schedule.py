"""`schedule_arms`: each arm's stages run after their inputs, in both the serial and the pooled form."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from astro import pipeline
from astro.config import PRESETS
from astro.plan import run_stages


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    calls: list[tuple[str, str]] = []

    def run_job(stage, run_dir, threads, accelerate_config=""):
        if stage.command == "grpo":
            assert ("sft", stage.arm) in calls
        if stage.command == "eval":
            assert Path(stage.config.policy.model).is_dir(), "an evaluation starts only once its model exists"
        calls.append((stage.command, stage.name.split("/")[-1].replace("eval-", "")) if stage.command == "eval" else (stage.command, stage.arm))
        Path(stage.config.out if stage.command != "eval" else stage.config.out).mkdir(parents=True, exist_ok=True)
        return {stage.name: 1.0}

    monkeypatch.setattr(pipeline, "run_job", run_job)
    return calls


def _stages(tmp_path):
    (tmp_path / "base").mkdir(exist_ok=True)  # the stages before these ran: the base model exists
    return {s.name: s for s in run_stages(PRESETS["smoke"], tmp_path)}


@pytest.mark.parametrize("pooled", [False, True])
def test_every_stage_runs_once_after_its_input(recorded, tmp_path, pooled):
    args = (PRESETS["smoke"], tmp_path, 0, _stages(tmp_path))
    if pooled:
        with ThreadPoolExecutor(max_workers=2) as pool:
            timings = pipeline.schedule_arms(pool.submit, *args)
    else:
        timings = pipeline.schedule_arms(pipeline._run_now, *args)
    assert sorted(recorded) == sorted([("sft", "direct"), ("sft", "astro"), ("grpo", "direct"), ("grpo", "astro"),
                                       ("eval", "direct-sft"), ("eval", "astro-sft"), ("eval", "direct-rl"), ("eval", "astro-rl"),
                                       ("eval", "base"), ("competence", "")])
    for arm in ("direct", "astro"):
        assert recorded.index(("sft", arm)) < recorded.index(("grpo", arm)) < recorded.index(("eval", f"{arm}-rl"))
        assert recorded.index(("sft", arm)) < recorded.index(("eval", f"{arm}-sft"))
        # the competence table reads both arms' SFT and RL models, and nothing waits for it
        assert recorded.index(("grpo", arm)) < recorded.index(("competence", ""))
    assert timings["seed0/rl-astro"] == 1.0 and len(timings) == 10
    if not pooled:  # serial: the same order every time (GRPO submitted before the SFT model's evaluation)
        assert recorded[:5] == [("sft", "direct"), ("sft", "astro"), ("eval", "base"), ("grpo", "direct"), ("eval", "direct-sft")]


def test_only_the_first_seed_measures_competence(recorded, tmp_path):
    from dataclasses import replace

    config = replace(PRESETS["smoke"], seeds=(0, 1))
    (tmp_path / "base").mkdir()
    stages = {s.name: s for s in run_stages(config, tmp_path)}
    pipeline.schedule_arms(pipeline._run_now, config, tmp_path, 1, stages)
    assert ("competence", "") not in recorded and ("eval", "base") in recorded


def test_a_failing_stage_stops_the_schedule(recorded, monkeypatch, tmp_path):
    record = pipeline.run_job

    def broken(stage, *args):
        if stage.command == "grpo":
            raise RuntimeError("GRPO diverged")
        return record(stage, *args)

    monkeypatch.setattr(pipeline, "run_job", broken)
    with pytest.raises(RuntimeError, match="GRPO diverged"):
        pipeline.schedule_arms(pipeline._run_now, PRESETS["smoke"], tmp_path, 0, _stages(tmp_path))
    assert not any(kind == "eval" and name.endswith("-rl") for kind, name in recorded)
