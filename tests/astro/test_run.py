"""`astro run`: configuration, presets, stage skipping (the pipeline itself runs in the slow tier)."""

from __future__ import annotations

import json

import pytest

from astro.cli import main as cli_main
from astro.config import PRESETS, RunConfig, plan
from astro.run import parse_args
from astro.stages import StageRunner


def test_every_preset_validates_and_plans():
    for name, preset in PRESETS.items():
        stages = plan(preset)
        assert stages[0] == "problems" and stages[-1] == "report", name
        n_evals = sum(1 for s in stages if "/eval-" in s)
        assert ("base" in stages) == (not preset.model), name
        assert n_evals == len(preset.seeds) * 5, name


def test_paper_preset_holds_paper_hyperparameters():
    paper = PRESETS["paper"]
    assert (paper.n_iterations, paper.n_children, paper.n_rollouts, paper.max_depth) == (32, 8, 16, 50)
    assert paper.group_size == 4 and paper.eval_samples == 16
    assert paper.backend == "vllm" and paper.deepspeed_config and not paper.runnable_here


def test_paper_preset_validates_without_running(capsys):
    assert cli_main(["run", "--preset", "paper"]) == 0
    out = capsys.readouterr().out
    assert "needs GPUs" in out
    plan_json = json.loads(out[: out.index("\n\n# launch commands")])
    assert plan_json["config"]["n_children"] == 8 and plan_json["config"]["task"] == "math"


@pytest.mark.parametrize(
    "kwargs, fix",
    [
        ({"k_values": (0,)}, ">= 1"),
        ({"group_size": 1}, ">= 2"),
        ({"seeds": ()}, "--seeds"),
        ({"pass_rate_low": 0.9, "pass_rate_high": 0.1}, "low <= high"),
        ({"backend": "vllm"}, "--model"),
    ],
)
def test_bad_configs_name_the_fix(kwargs, fix):
    with pytest.raises(ValueError, match=fix):
        RunConfig(**kwargs)


def test_ablation_flags_override_one_field_each():
    config, _ = parse_args(
        ["--preset", "smoke", "--k-values", "1", "--style", "off", "--self-eval", "--search-agent", "best_of_n", "--group-size", "8"]
    )
    smoke = PRESETS["smoke"]
    assert config.k_values == (1,) and config.style == "off" and config.self_eval is True
    assert config.search_agent == "best_of_n" and config.group_size == 8
    assert config.n_train == smoke.n_train  # untouched fields keep the preset's values


def test_stage_runner_skips_done_stage_and_reruns_changed_one(tmp_path):
    calls = []

    def body(out):
        calls.append(out.name)
        (out / "result.txt").write_text("x")

    stage = StageRunner(tmp_path)
    stage("a", {"lr": 1}, body)
    stage("a", {"lr": 1}, body)
    assert calls == ["a"]
    stage("a", {"lr": 2}, body)
    assert calls == ["a", "a"]


def test_stage_runner_reruns_a_stage_killed_before_its_marker(tmp_path):
    calls = []

    def crash(out):
        calls.append(1)
        raise KeyboardInterrupt

    stage = StageRunner(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        stage("a", {}, crash)
    assert not (tmp_path / "a" / "stage.json").exists()
    stage("a", {}, lambda out: calls.append(2))
    assert calls == [1, 2]
