"""`astro run`: the config tree, presets, flags, the dry run's stage files, stage skipping (the pipeline runs in the slow tier)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from astro.cli import main as cli_main
from astro.config import PRESETS, RunConfig
from astro.configfile import config_from_dict, read_config_file
from astro.launch import launch_stages
from astro.run import parse_args
from astro.stages import StageRunner
from astro_env.errors import UserError


def _plan(config, run_dir="runs/x"):
    return [s.name for s in launch_stages(config, Path(run_dir))]


def test_every_preset_validates_plans_and_reads_back_from_json():
    for name, preset in PRESETS.items():
        stages = _plan(preset)
        assert stages[0] == "problems", name
        assert ("base" in stages) == (not preset.policy.model), name
        assert sum(1 for s in stages if "/eval-" in s and "-step" not in s) == len(preset.seeds) * 5, name
        assert config_from_dict(RunConfig, dataclasses.asdict(preset)) == preset, name  # run_config.json is the tree


def test_paper_preset_holds_paper_hyperparameters():
    paper = PRESETS["paper"]
    budget = paper.search.budget
    assert (budget.n_iterations, budget.n_children, budget.n_rollouts, budget.max_depth) == (32, 8, 16, 50)
    assert paper.search.agent_config.n_rollouts == 16 and paper.search.agent_config.max_depth == 50
    assert paper.grpo.group_size == 4 and paper.eval.samples == 16 and paper.sft.lr == 3e-6
    assert paper.policy.backend == "vllm" and paper.accelerate_config and not paper.runnable_here
    # the paper's models: Llama-3.3-70B-Instruct builds the trees (and judges them), Llama-3.1-70B-Instruct is trained
    assert (paper.proposer.backend, paper.proposer.model) == ("vllm", "meta-llama/Llama-3.3-70B-Instruct")
    assert paper.policy.model == "meta-llama/Llama-3.1-70B-Instruct" and paper.judge.model == paper.proposer.model
    assert paper.chat.template == "auto" and paper.self_eval and paper.sft.loss_on == "all" and paper.grpo.aggregation == "token"
    assert (paper.grpo.prompts_per_step * paper.grpo.group_size, paper.grpo.lr, paper.grpo.warmup_steps) == (256, 2e-7, 80)


@pytest.mark.parametrize("preset, student", [("paper", "meta-llama/Llama-3.1-70B-Instruct"),
                                             ("paper-8b", "meta-llama/Llama-3.1-8B-Instruct")])
def test_paper_plans_show_the_teacher_building_the_trees_and_the_student_trained(tmp_path, capsys, preset, student):
    run_dir = tmp_path / preset
    assert cli_main(["run", "--preset", preset, "--dry-run", "--out", str(run_dir)]) == 0
    out = capsys.readouterr().out
    plan = json.loads(out[: out.index("\n\n# launch commands")])
    assert plan["estimated_compute"]["grpo"]["rollouts_per_arm"] > 0
    trees = json.loads((run_dir / "stages" / "trees.json").read_text())["config"]
    assert trees["policy"]["model"] == "meta-llama/Llama-3.3-70B-Instruct" and trees["policy"]["chat"]["template"] == "auto"
    sft = json.loads((run_dir / "stages" / "seed0" / "sft-astro.json").read_text())["config"]
    assert sft["model"] == student and sft["chat"]["template"] == "auto"


def test_paper_preset_validates_without_running(tmp_path, capsys):
    assert cli_main(["run", "--preset", "paper", "--out", str(tmp_path / "paper")]) == 0
    out = capsys.readouterr().out
    assert "needs GPUs" in out
    plan_json = json.loads(out[: out.index("\n\n# launch commands")])
    assert plan_json["config"]["search"]["budget"]["n_children"] == 8 and plan_json["config"]["task"]["name"] == "math"


def test_bad_configs_name_the_fix():
    smoke = PRESETS["smoke"]
    cases = [
        (lambda: dataclasses.replace(smoke, seeds=()), "--seeds"),
        (lambda: dataclasses.replace(smoke, policy=dataclasses.replace(smoke.policy, backend="vllm")), "--policy.model"),
        (lambda: dataclasses.replace(smoke, sft=dataclasses.replace(smoke.sft, seed=3)), "--sft.seed is set per stage from --seeds"),
        (lambda: dataclasses.replace(smoke, sft=dataclasses.replace(smoke.sft, out="x")), "--sft.out is set per stage"),
        (lambda: dataclasses.replace(smoke, eval_every=1, grpo=dataclasses.replace(smoke.grpo, save_every=3)), "--eval-every"),
    ]
    for make, fix in cases:
        with pytest.raises(UserError, match=fix):
            make()


def test_nested_flags_and_aliases_override_one_field_each():
    config, args = parse_args(
        ["--preset", "smoke", "--traces.k-values", "1", "--traces.style", "off", "--self-eval", "--search-agent", "best_of_n",
         "--grpo.group-size", "8", "--sft.lr", "3e-6", "--model", "org/name", "--task", "countdown", "--out", "runs/y"]
    )
    smoke = PRESETS["smoke"]
    assert config.traces.k_values == (1,) and config.traces.style == "off" and config.self_eval is True
    assert config.search.agent == "best_of_n" and config.grpo.group_size == 8 and config.sft.lr == 3e-6
    assert config.policy.model == "org/name" and args.out == "runs/y"
    assert config.task == smoke.task and config.grpo.n_steps == smoke.grpo.n_steps  # untouched fields keep the preset's values
    # the search budget reaches best-of-N through its for_budget: as many samples as MCTS would spend on rollouts
    assert config.search.agent_config.n_samples == smoke.search.budget.n_rollouts_total


def test_a_task_config_gets_flags_once_the_task_is_named():
    config, _ = parse_args(["--preset", "smoke", "--task.config.n-numbers", "4", "--task.config.max-target", "60"])
    assert (config.task.config.n_numbers, config.task.config.max_target, config.task.config.max_number) == (4, 60, 9)
    config, _ = parse_args(["--preset", "smoke", "--task", "math", "--task.config.max-root", "20"])
    assert config.task.name == "math" and config.task.config.max_root == 20  # the math task's own MathConfig
    with pytest.raises(UserError, match="task.config.n-numbers"):
        parse_args(["--preset", "smoke", "--task", "math", "--task.config.n-numbers", "4"])


def test_run_config_json_starts_a_run_with_the_same_tree(tmp_path):
    config, _ = parse_args(["--preset", "smoke", "--sft.lr", "1e-3", "--search.agent-config.c-puct", "2.5"])
    saved = tmp_path / "run_config.json"
    saved.write_text(json.dumps(dataclasses.asdict(config)))
    again, _ = parse_args(["--config", str(saved)])
    assert again == config
    changed, _ = parse_args(["--config", str(saved), "--grpo.n-steps", "1"])
    assert changed == dataclasses.replace(config, grpo=dataclasses.replace(config.grpo, n_steps=1))


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


def test_paper_dry_run_plans_math_with_real_training_problems(tmp_path, capsys):
    out_dir = tmp_path / "paper"
    assert cli_main(["run", "--preset", "paper", "--dry-run", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    plan_json = json.loads(out[: out.index("\n\n# launch commands")])
    config = plan_json["config"]
    assert config["task"]["name"] == "math" and config["task"]["train_problems"] == "math_train"
    assert config["task"]["bench"] == ["math500", "amc23", "aime24"] and config["proposer"]["backend"] == "vllm"
    assert (config["sft"]["lr"], config["sft"]["max_length"], config["grpo"]["lr"], config["grpo"]["max_new_tokens"]) == (3e-6, 8192, 2e-7, 15360)
    assert plan_json["estimated_compute"]["trees"]["rollouts"] > 0
    assert f"-m astro.cli sft --config {out_dir}/stages/seed0/sft-astro.json" in out
    assert out.count("accelerate launch --config_file training/configs/accelerate_zero3.yaml") == 4  # SFT and GRPO of each arm
    assert f"astro eval --config {out_dir}/stages/seed0/eval-astro-rl.json" in out
    # the dry run writes the stage files the commands name, and nothing else
    written = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())
    assert written == sorted(["run_config.json"] + [f"stages/{name}.json" for name in plan_json["plan"] if name != "report"])


def test_dry_run_names_per_stage_fields_by_their_source_and_the_stage_files_hold_the_value(tmp_path, capsys):
    """The printed tree does not show a component default where the pipeline fills the field per stage: math-cpu's
    pre-training task is the run's task in its stage file, and the tree says where it comes from."""
    out_dir = tmp_path / "m"
    assert cli_main(["run", "--preset", "math-cpu", "--dry-run", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    config = json.loads(out[: out.index("\n\n# launch commands")])["config"]
    assert config["pretrain"]["task"].startswith("per stage, from --task.name")
    assert config["grpo"]["task_config"].startswith("per stage, from --task.config")
    assert config["task"]["name"] == "math" and config["grpo"]["lr"] == PRESETS["math-cpu"].grpo.lr
    base = json.loads((out_dir / "stages" / "base.json").read_text())["config"]
    assert base["task"] == "math"


def test_every_printed_command_parses_with_its_subcommand_and_names_its_stage_file(tmp_path, capsys):
    """Each launch command of the paper preset (SFT and GRPO included) parses with its own command's parser,
    and the config it parses to is, field for field, the config the in-process stage receives."""
    import importlib
    import shlex

    from astro.args import parse_command
    from astro.cli import SUBCOMMANDS

    run_dir = tmp_path / "paper"
    assert cli_main(["run", "--preset", "paper", "--dry-run", "--out", str(run_dir)]) == 0
    out = capsys.readouterr().out
    commands = [line for line in out.split("\n# launch commands", 1)[1].splitlines()[1:] if line and not line.startswith("#")]
    stages = {s.name: s for s in launch_stages(PRESETS["paper"], run_dir)}
    seen = set()
    for command in commands:
        words = shlex.split(command.split("#")[0])
        if words[0] == "ray":
            continue
        sub = words.index("astro") + 1 if "astro" in words else words.index("astro.cli") + 1
        name, argv = words[sub], words[sub + 1:]
        if name == "run":
            config, _ = parse_args(argv)
            assert config == PRESETS["paper"]
            continue
        module = importlib.import_module(SUBCOMMANDS[name][0])
        (stage,) = [s for s in stages.values() if str(s.file(run_dir)) == argv[argv.index("--config") + 1]]
        parsed, stage_file = parse_command(type(stage.config), argv, prog=name, description="", aliases=getattr(module, "ALIASES", {}))
        assert dataclasses.asdict(parsed) == dataclasses.asdict(stage.config), stage.name
        assert stage_file.stage == stage.name and stage_file.inputs == stage.inputs
        seen.add(stage.name)
    assert seen == set(stages)
    assert {s.command for s in stages.values()} >= {"problems", "search", "linearize", "sft", "grpo", "eval"}
    assert "competence" not in {s.command for s in stages.values()}  # the task's probes read its own problems, not MATH-500
    assert any("-rl-step" in name for name in seen)  # --eval-every's checkpoint evaluations are launched too


def test_stage_files_read_back_into_the_objects_the_stages_receive(tmp_path):
    run_dir = tmp_path / "run"
    assert cli_main(["run", "--preset", "smoke", "--dry-run", "--out", str(run_dir)]) == 0
    for stage in launch_stages(PRESETS["smoke"], run_dir):
        config, stage_file = read_config_file(type(stage.config), stage.file(run_dir))
        assert dataclasses.asdict(config) == dataclasses.asdict(stage.config), stage.name
        assert (stage_file.stage, stage_file.run_dir, stage_file.inputs) == (stage.name, str(run_dir), stage.inputs)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--grpo.n-steps", "-5"], "n_steps=-5"),
        (["--sft.n-epochs", "0"], "n_epochs=0"),
        (["--eval.temperature", "-2"], "temperature=-2"),
        (["--eval.top-p", "0"], "top_p=0"),
        (["--threads", "0"], "threads=0"),
        (["--sft.lr", "nan"], "lr=nan"),
        (["--sft.lr", "fast"], "--sft.lr"),
        (["--accelerate-config", "no/such.yaml"], "no such file"),
        (["--train-problems", "no_such.jsonl", "--task", "math"], "no_such.jsonl"),
        (["--bench", "math501"], "math501"),
        (["--search-agent", "dfs"], "unknown search agent 'dfs'"),
        (["--task", "chess"], "unknown task 'chess'"),
        (["--grpo.engine", "jax"], "unknown GRPO engine 'jax'"),
        (["--search.agent-config.c-puc", "2"], "did you mean --search.agent-config.c-puct"),
        (["--search-agent", "best_of_n", "--search.agent-config.n-iterations", "3"], "--search.agent-config.n-iterations"),
        (["--model", "./no/such/model"], "no model there"),
        (["--preset", "fast"], "--preset 'fast'"),
        (["--config", "no/such/run_config.json"], "--config no/such/run_config.json"),
        (["--sft.seed", "4"], "--sft.seed is set per stage"),
        (["--grpo-steps", "3"], "Unrecognized option: --grpo-steps"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2_before_anything_is_written(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert cli_main(["run", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith("astro run: error:"), err
    assert not out.exists()


def test_an_internal_error_shows_its_traceback_and_a_one_line_summary_last(tmp_path, capsys, monkeypatch):
    import astro.commands.problems as problems

    def broken(job):
        return {}["a key the code forgot"]

    monkeypatch.setattr(problems, "make_problems", broken)
    assert cli_main(["problems", "--out", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "Traceback (most recent call last):" and any("def broken" in line or "in broken" in line for line in err)
    assert err[-1] == "astro problems: internal error (a bug, not your input): a key the code forgot (KeyError)"


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


def test_the_self_search_preset_builds_the_trees_with_the_policy_itself(tmp_path):
    from astro.plan import run_stages

    stages = {s.name: s for s in run_stages(PRESETS["self-search"], tmp_path)}
    trees = stages["trees"]
    assert "base" in trees.inputs  # the trees wait for the pre-trained base, which proposes every step
    assert (trees.config.policy.backend, trees.config.policy.model) == ("transformers", str(tmp_path / "base"))
    default_trees = {s.name: s for s in run_stages(PRESETS["default"], tmp_path)}["trees"]
    assert default_trees.config.policy.backend == "countdown" and "base" not in default_trees.inputs
    assert dataclasses.replace(PRESETS["self-search"], preset="default", proposer=PRESETS["default"].proposer) == PRESETS["default"]


@pytest.mark.parametrize("preset", ["math-cpu", "smoke", "paper"])
def test_every_stage_that_names_a_task_gets_the_runs_task_and_its_config(tmp_path, preset):
    """No stage falls back to a task's defaults (GRPO once said Countdown 1-12 / 1-100 on a math run: a stage file that
    lied about what it trains on)."""
    from astro.config import PRESETS
    from astro.plan import run_stages

    config = PRESETS[preset]
    want = json.loads(json.dumps(dataclasses.asdict(config.task.config)))
    named = []
    for stage in run_stages(config, tmp_path):
        task = getattr(stage.config, "task", None)
        if not isinstance(task, str) or not task:
            continue
        named.append(stage.command)
        assert task == config.task.name, stage.name
        task_config = getattr(stage.config, "task_config", None)
        data = dataclasses.asdict(task_config) if dataclasses.is_dataclass(task_config) else task_config
        assert json.loads(json.dumps(data)) == want, stage.name
    assert "grpo" in named
