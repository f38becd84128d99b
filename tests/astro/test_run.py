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
    assert json.loads((tmp_path / "a" / "stage.json").read_text())["status"] == "running"
    stage("a", {}, lambda out: calls.append(2))
    assert calls == [1, 2]


def test_paper_dry_run_plans_math_with_real_training_problems(capsys):
    assert cli_main(["run", "--preset", "paper", "--dry-run"]) == 0
    out = capsys.readouterr().out
    plan_json = json.loads(out[: out.index("\n\n# launch commands")])
    config = plan_json["config"]
    assert config["task"] == "math" and config["train_problems"] == "math_train"
    assert config["bench"] == ["math500", "amc23", "aime24"] and config["search_policy"] == "base"
    assert (config["sft_lr"], config["sft_max_length"], config["grpo_lr"], config["max_new_tokens"]) == (3e-6, 8192, 2e-7, 15360)
    assert plan_json["estimated_compute"]["trees"]["rollouts"] > 0
    assert "accelerate launch --config_file training/configs/accelerate_zero3.yaml" in out


def test_launch_commands_parse_with_the_subcommands_own_parsers(tmp_path):
    import shlex

    from astro.launch import launch_commands
    from astro.cli import SUBCOMMANDS

    import importlib

    for stage, command in launch_commands(PRESETS["paper"], tmp_path / "run"):
        if stage == "cluster":
            assert command.startswith("ray start --head")
            continue
        words = shlex.split(command.split("#")[0])
        sub = words.index("astro") + 1 if "astro" in words else words.index("astro.cli") + 1
        module = importlib.import_module(SUBCOMMANDS[words[sub]][0])
        parser = getattr(module, "build_parser", None) or getattr(module, "_parser", None)
        if parser is None:
            continue
        parser().parse_args(words[sub + 1:])  # raises SystemExit on an unknown flag


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--grpo-steps", "-5"], "grpo_steps=-5"),
        (["--sft-epochs", "0"], "sft_epochs=0"),
        (["--temperature", "-2"], "temperature=-2"),
        (["--top-p", "0"], "top_p=0"),
        (["--threads", "0"], "threads=0"),
        (["--sft-lr", "nan"], "sft_lr=nan"),
        (["--deepspeed-config", "no/such.yaml"], "no such file"),
        (["--train-problems", "no_such.jsonl", "--task", "math"], "no_such.jsonl"),
        (["--bench", "math501"], "math501"),
        (["--search-agent", "dfs"], "unknown search agent 'dfs'"),
        (["--task", "chess"], "unknown task 'chess'"),
        (["--search-options", "c_puct"], "key=value"),
        (["--search-options", "n_samples=3"], "no option n_samples"),
        (["--model", "./no/such/model"], "no model there"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2_before_anything_is_written(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert cli_main(["run", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith("astro run: error:")
    assert not out.exists()


def test_a_busy_run_folder_is_refused_with_one_line(tmp_path, capsys):
    import subprocess
    import sys

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = tmp_path / "run"
        out.mkdir()
        (out / ".astro.lock").write_text(str(sleeper.pid))
        assert cli_main(["run", "--preset", "smoke", "--out", str(out)]) == 2
        assert f"in use by process {sleeper.pid}" in capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [".astro.lock"]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_reproducible_math_fills_only_what_the_user_left_unset(monkeypatch):
    import platform

    from astro.cli import REPRODUCIBLE_MATH, set_reproducible_math

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    environ = {"MKL_CBWR": "COMPATIBLE"}
    set_reproducible_math(environ)
    assert environ == {**REPRODUCIBLE_MATH, "MKL_CBWR": "COMPATIBLE"}
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    other: dict[str, str] = {}
    set_reproducible_math(other)
    assert other == {}
