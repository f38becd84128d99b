"""A run launched stage by stage through the printed commands computes what the in-process run computes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from astro import pipeline
from astro.cli import main as cli_main
from astro.configfile import read_config_file

ROOT = Path(__file__).resolve().parents[2]


def _printed_commands(out: str) -> list[tuple[str, str]]:
    """(stage, command) pairs of a dry run's output."""
    lines = out.split("\n# launch commands", 1)[1].splitlines()[1:]
    return [(lines[i][2:], lines[i + 1]) for i in range(0, len(lines), 2)]


def _config_file(command: str) -> str:
    words = shlex.split(command)
    return words[words.index("--config") + 1]


def test_paper_stages_in_process_receive_exactly_the_printed_configs(tmp_path, capsys, monkeypatch):
    """Every field of every stage config `--preset paper --dry-run` prints equals what the in-process stage receives
    (the stage functions are stand-ins that record their config; SFT and GRPO are launched with the accelerate config)."""
    from astro.config import PRESETS
    from astro.launch import launch_stages

    run_dir = tmp_path / "paper"
    assert cli_main(["run", "--preset", "paper", "--no-parallel-arms", "--dry-run", "--out", str(run_dir)]) == 0
    printed = {}
    for stage, command in _printed_commands(capsys.readouterr().out):
        if stage in ("cluster", "report"):
            continue
        printed[stage] = (command, json.loads(Path(_config_file(command)).read_text()))
    received: dict[str, dict] = {}

    def stand_in(command):
        def run(config):
            name = str(Path(config.out).relative_to(run_dir)) if command != "search" else "trees"
            received[name] = dataclasses.asdict(config)
            out = Path(config.out)
            if command in ("sft", "grpo"):  # what the commands print from, and the checkpoints --eval-every evaluates
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{command}_summary.json").write_text("{}")
                for step in range(100, 1001, 100) if command == "grpo" else ():
                    (out / "checkpoints" / f"step-{step:08d}").mkdir(parents=True)
            return out
        return run

    monkeypatch.setattr("training.sft.train_sft", stand_in("sft"))
    monkeypatch.setattr("training.grpo.train_grpo", stand_in("grpo"))

    def launched(argv, check):  # `accelerate launch ... -m astro.cli sft|grpo --config FILE`, as printed
        from astro.cli import main as astro_main

        assert argv[argv.index("--config_file") + 1] == PRESETS["paper"].accelerate_config
        command, file = argv[argv.index("astro.cli") + 1], argv[argv.index("--config") + 1]
        data = json.loads(Path(file).read_text())
        assert astro_main([command, "--config", file]) == 0  # the launched command, with its stage function recorded
        assert data["stage"] in received

    monkeypatch.setattr(pipeline, "stage_function", stand_in)
    monkeypatch.setattr(pipeline.subprocess, "run", launched)
    # the stand-ins write no traces and the paper's model is not here: the launched commands' input checks are not what this test is about
    monkeypatch.setattr("astro.validate.validate", lambda *args, **kwargs: None)
    config = dataclasses.replace(PRESETS["paper"], parallel_arms=False)
    pipeline.run_pipeline(config, run_dir)

    assert set(received) == set(printed)
    classes = {s.name: type(s.config) for s in launch_stages(config, run_dir)}
    for stage, (command, data) in printed.items():
        parsed, _ = read_config_file(classes[stage], _config_file(command))
        assert json.loads(json.dumps(received[stage])) == json.loads(json.dumps(dataclasses.asdict(parsed))), stage
        assert data["stage"] == stage
    assert sum(1 for c, _ in printed.values() if c.startswith("accelerate launch")) == 4


def _digests(run_dir: Path) -> dict[str, str]:
    files = [run_dir / "trees" / "trees.jsonl", *sorted((run_dir / "traces").glob("traces_*.jsonl")),
             *sorted((run_dir / "problems").rglob("*.jsonl")), *sorted(run_dir.rglob("model.safetensors"))]
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _astro(*argv: str) -> subprocess.CompletedProcess:
    """`astro ARGV` in a fresh process, as a user runs it (the process sets the reproducible-math environment before
    torch loads, which a test session that imported torch already cannot)."""
    return subprocess.run([sys.executable, "-m", "astro.cli", *argv], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 9 minutes on two idle cores: the smoke run twice
def test_the_smoke_run_through_its_printed_commands_equals_the_in_process_run(tmp_path):
    in_process, launched = tmp_path / "in_process", tmp_path / "launched"
    done = _astro("run", "--preset", "smoke", "--out", str(in_process))
    assert done.returncode == 0, done.stderr[-3000:]
    dry = _astro("run", "--preset", "smoke", "--dry-run", "--out", str(launched))
    assert dry.returncode == 0, dry.stderr[-3000:]
    commands = _printed_commands(dry.stdout)
    for stage, command in commands[:-1]:  # the last one writes the report
        words = shlex.split(command)
        assert words[0] == "astro", command
        done = _astro(*words[1:])
        assert done.returncode == 0, f"{stage}: {done.stderr[-3000:]}"
    expected = _digests(in_process)
    assert len([k for k in expected if k.endswith("model.safetensors") and "checkpoints" not in k]) == 5  # base, SFT and GRPO per arm
    assert _digests(launched) == expected  # trees, traces, problems and every model (checkpoints too), byte for byte
    # every launched stage is marked done with the in-process key: `astro run` on the folder only writes the report
    markers = {p: p.stat().st_mtime_ns for p in launched.rglob("stage.json")}
    done = _astro("run", "--config", str(launched / "run_config.json"), "--out", str(launched))
    assert done.returncode == 0, done.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in markers} == markers
    assert (launched / "report.md").is_file()
    for marker in markers:
        twin = in_process / marker.relative_to(launched)
        assert json.loads(marker.read_text())["key_hash"] == json.loads(twin.read_text())["key_hash"], marker


def test_the_accelerate_config_reaches_sft_and_grpo_and_stays_out_of_their_keys(tmp_path):
    from astro.config import PRESETS
    from astro.plan import run_stages
    from astro.stages import stage_key

    paper = PRESETS["paper"]
    local = dataclasses.replace(paper, accelerate_config="")
    for with_it, without in zip(run_stages(paper, tmp_path), run_stages(local, tmp_path)):
        assert stage_key(with_it.command, with_it.config, with_it.inputs, tmp_path) == \
            stage_key(without.command, without.config, without.inputs, tmp_path), with_it.name
    sft = next(s for s in run_stages(paper, tmp_path) if s.command == "sft")
    argv = pipeline.launch_command_for(paper.accelerate_config, sft, tmp_path)
    assert argv[1:5] == ["-m", "accelerate.commands.launch", "--config_file", paper.accelerate_config]
    assert argv[-4:] == ["astro.cli", "sft", "--config", str(sft.file(tmp_path))]


@pytest.mark.slow
def test_an_sft_stage_launched_through_accelerate_is_marked_done_with_the_in_process_key(tmp_path):
    from astro.plan import Stage
    from astro.stages import StageRunner, read_marker, stage_key
    from search.trace import Trace
    from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy
    from training.sft import SFTConfig

    pairs = [(f"{a}+{b}=", f"{a + b}") for a in range(6) for b in range(4)]
    traces = tmp_path / "traces" / "traces_astro.jsonl"
    traces.parent.mkdir()
    traces.write_text("".join(json.dumps(Trace(problem_id=f"t/{i}", arm="astro", prompt=p, completion=c).to_dict()) + "\n"
                              for i, (p, c) in enumerate(pairs)))
    tokenizer = build_tokenizer([p + c for p, c in pairs], kind="char")
    base = save_policy(build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64,
                                                          max_position_embeddings=64), seed=0), tokenizer, tmp_path / "base")
    config = SFTConfig(traces=str(traces), model=str(base), out=str(tmp_path / "seed0" / "sft-astro"), max_steps=1, batch_size=8,
                       save_every=0, log_every=0, mixed_precision="no")
    stage = Stage("seed0/sft-astro", "sft", config, (), "astro")
    pipeline.run_stage(StageRunner(tmp_path), stage, accelerate_config=str(ROOT / "training" / "configs" / "accelerate_cpu.yaml"))
    marker = read_marker(tmp_path / "seed0" / "sft-astro")
    assert marker["status"] == "done"
    from astro.config import config_hash

    assert marker["key_hash"] == config_hash(stage_key("sft", config, (), tmp_path))
    assert json.loads((tmp_path / "seed0" / "sft-astro" / "sft_summary.json").read_text())["n_steps"] == 1


def test_a_stage_file_with_its_output_moved_runs_as_a_plain_command(tmp_path, capsys):
    """`--config STAGE_FILE --out ELSEWHERE` writes ELSEWHERE and leaves the run's stage folder as it was (not
    marked for output it does not hold, not cleared by a second process writing elsewhere)."""
    run_dir = tmp_path / "run"
    assert cli_main(["run", "--preset", "smoke", "--dry-run", "--out", str(run_dir)]) == 0
    stage_file = str(run_dir / "stages" / "problems.json")
    assert cli_main(["problems", "--config", stage_file]) == 0
    marker = run_dir / "problems" / "stage.json"
    before = (marker.read_text(), marker.stat().st_mtime_ns)
    assert json.loads(before[0])["status"] == "done"
    for other in ("a", "b"):
        assert cli_main(["problems", "--config", stage_file, "--out", str(tmp_path / other), "--seed", "7"]) == 0
        assert (tmp_path / other / "train.jsonl").is_file() and not (tmp_path / other / "stage.json").exists()
    assert (marker.read_text(), marker.stat().st_mtime_ns) == before
    assert (run_dir / "problems" / "train.jsonl").is_file()


def test_a_stage_file_whose_input_stages_have_not_run_is_refused_in_one_line_that_names_them(tmp_path, capsys):
    """`astro pretrain --config RUN/stages/base.json` before the problems stage: one line naming the stage it
    waits for and how to run it, exit 2, nothing written; after `astro problems --config ...` it passes that check."""
    run_dir = tmp_path / "run"
    assert cli_main(["run", "--preset", "smoke", "--dry-run", "--out", str(run_dir)]) == 0
    capsys.readouterr()
    assert cli_main(["pretrain", "--config", str(run_dir / "stages" / "base.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "stage base" in err and "stage(s) problems" in err and str(run_dir / "stages" / "problems.json") in err
    assert not (run_dir / "base").exists()
    assert cli_main(["problems", "--config", str(run_dir / "stages" / "problems.json")]) == 0
    from astro.stage_command import _check_inputs_done
    from astro.configfile import read_config_file
    from training.embedded import PretrainConfig

    _, stage = read_config_file(PretrainConfig, run_dir / "stages" / "base.json")
    _check_inputs_done("pretrain", stage)  # the problems stage is done: no refusal
