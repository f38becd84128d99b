"""`schedule_arms`: each arm's stages run after their inputs, in both the serial and the pooled form."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from astro import pipeline
from astro.config import PRESETS


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    calls: list[tuple[str, str]] = []

    def sft(config, run_dir, seed, arm, base_model, base_key, traces_dir):
        calls.append(("sft", arm))
        out = tmp_path / f"sft-{arm}"
        out.mkdir(exist_ok=True)
        return {f"sft-{arm}": 1.0}, str(out)

    def rl(config, run_dir, seed, arm, sft_dir):
        assert ("sft", arm) in calls
        calls.append(("rl", arm))
        out = tmp_path / f"rl-{arm}"
        out.mkdir(exist_ok=True)
        return {f"rl-{arm}": 2.0}, str(out)

    def evaluate(config, run_dir, seed, arm, name, model, model_key):
        assert Path(model).is_dir(), "an evaluation starts only once its model exists"
        calls.append(("eval", name))
        return {f"eval-{name}": 3.0}, str(tmp_path / name)

    monkeypatch.setattr(pipeline, "_arm_sft", sft)
    monkeypatch.setattr(pipeline, "_arm_rl", rl)
    monkeypatch.setattr(pipeline, "_arm_eval", evaluate)
    monkeypatch.setattr(pipeline, "stage_hash", lambda path: str(path))
    return calls


@pytest.mark.parametrize("pooled", [False, True])
def test_every_stage_runs_once_after_its_input(recorded, tmp_path, pooled):
    args = (PRESETS["smoke"], tmp_path, 0, "base", {}, tmp_path)
    if pooled:
        with ThreadPoolExecutor(max_workers=2) as pool:
            timings = pipeline.schedule_arms(pool.submit, *args)
    else:
        timings = pipeline.schedule_arms(pipeline._run_now, *args)
    assert sorted(recorded) == sorted([("sft", "direct"), ("sft", "astro"), ("rl", "direct"), ("rl", "astro"),
                                       ("eval", "direct-sft"), ("eval", "astro-sft"), ("eval", "direct-rl"), ("eval", "astro-rl")])
    for arm in ("direct", "astro"):
        assert recorded.index(("sft", arm)) < recorded.index(("rl", arm)) < recorded.index(("eval", f"{arm}-rl"))
        assert recorded.index(("sft", arm)) < recorded.index(("eval", f"{arm}-sft"))
    assert timings["rl-astro"] == 2.0 and len(timings) == 8
    if not pooled:  # serial: the same order every time (GRPO submitted before the SFT model's evaluation)
        assert recorded[:4] == [("sft", "direct"), ("sft", "astro"), ("rl", "direct"), ("eval", "direct-sft")]


def test_a_failing_stage_stops_the_schedule(recorded, monkeypatch, tmp_path):
    def broken(*args):
        raise RuntimeError("GRPO diverged")

    monkeypatch.setattr(pipeline, "_arm_rl", broken)
    with pytest.raises(RuntimeError, match="GRPO diverged"):
        pipeline.schedule_arms(pipeline._run_now, PRESETS["smoke"], tmp_path, 0, "base", {}, tmp_path)
    assert not any(kind == "eval" and name.endswith("-rl") for kind, name in recorded)
