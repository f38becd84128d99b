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
        return run

    def launched(argv, check):  # `accelerate launch ... -m astro.cli sft|grpo --config FILE`, as printed
        assert argv[argv.index("--config_file") + 1] == PRESETS["paper"].accelerate_config
        command, file = argv[argv.index("astro.cli") + 1], argv[argv.index("--config") + 1]
        data = json.loads(Path(file).read_text())
        received[data["stage"]] = data["config"]
        if command == "grpo":  # the checkpoints --eval-every evaluates
            for step in range(100, 1001, 100):
                (Path(data["config"]["out"]) / "checkpoints" / f"step-{step:08d}").mkdir(parents=True)

    monkeypatch.setattr(pipeline, "stage_function", stand_in)
    monkeypatch.setattr(pipeline.subprocess, "run", launched)
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


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 9 minutes on two idle cores: the smoke run twice
def test_the_smoke_run_through_its_printed_commands_equals_the_in_process_run(tmp_path, capsys):
    in_process, launched = tmp_path / "in_process", tmp_path / "launched"
    assert cli_main(["run", "--preset", "smoke", "--out", str(in_process)]) == 0
    capsys.readouterr()
    assert cli_main(["run", "--preset", "smoke", "--dry-run", "--out", str(launched)]) == 0
    commands = _printed_commands(capsys.readouterr().out)
    for stage, command in commands[:-1]:  # the last one writes the report
        words = shlex.split(command)
        assert words[0] == "astro", command
        done = subprocess.run([sys.executable, "-m", "astro.cli", *words[1:]], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, f"{stage}: {done.stderr[-3000:]}"
    expected = _digests(in_process)
    assert len([k for k in expected if k.endswith("model.safetensors")]) == 5  # base, and SFT and GRPO of both arms
    assert _digests(launched) == expected  # trees, traces, problems and every model, byte for byte
    # every launched stage is marked done with the in-process key: `astro run` on the folder only writes the report
    markers = {p: p.stat().st_mtime_ns for p in launched.rglob("stage.json")}
    assert cli_main(["run", "--config", str(launched / "run_config.json"), "--out", str(launched)]) == 0
    assert {p: p.stat().st_mtime_ns for p in markers} == markers
    assert (launched / "report.md").is_file()
    for marker in markers:
        twin = in_process / marker.relative_to(launched)
        assert json.loads(marker.read_text())["key_hash"] == json.loads(twin.read_text())["key_hash"], marker
