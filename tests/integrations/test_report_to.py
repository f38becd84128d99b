"""`--report-to tensorboard|wandb|none` (TRL's names) on SFT and GRPO; W&B runs offline here."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.grpo import GRPOConfig
from training.sft import SFTConfig
from training.tracking import REPORT_TO

ROOT = Path(__file__).resolve().parents[2]
HAS_WANDB = importlib.util.find_spec("wandb") is not None
needs_wandb = pytest.mark.skipif(not HAS_WANDB, reason="wandb is not installed (pip install 'astro-gym[wandb]')")


def test_both_stages_take_trl_names_and_refuse_others():
    assert REPORT_TO == ("tensorboard", "wandb", "none")
    assert GRPOConfig().report_to == SFTConfig(traces="t", model="m", out="o").report_to == "tensorboard"
    for value in REPORT_TO:
        assert GRPOConfig(report_to=value).report_to == value
    with pytest.raises(ValueError, match="report_to='mlflow'.*tensorboard, wandb, none"):
        GRPOConfig(report_to="mlflow")
    with pytest.raises(ValueError, match="report_to='tb'"):
        SFTConfig(traces="t", model="m", out="o", report_to="tb")


def test_trl_engine_hands_the_value_to_trl(tmp_path):
    from training.grpo_trl import trl_arguments

    for value in REPORT_TO:
        assert trl_arguments(GRPOConfig(report_to=value), tmp_path, use_cpu=True)["report_to"] == value


def _wandb_records(run_dir: Path) -> list:
    """The records of an offline run's `run-*.wandb` file, parsed with wandb's protobuf schema.

    The file is a LevelDB-style log (a 7-byte W&B header, then 32 KiB blocks of chunks with a
    7-byte header each: crc32c, length, type FULL/FIRST/MIDDLE/LAST) holding `Record` messages.
    """
    import struct

    from wandb.proto import wandb_internal_pb2

    (path,) = run_dir.glob("run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, chunks, pending = 32768, 7, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if kind == 0:  # block trailer padding
            pos += left
            continue
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            chunks.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        else:
            chunks.append(pending + chunk)
    records = []
    for chunk in chunks:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        records.append(record)
    return records


def _items(items) -> dict:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def _grpo(tmp_path: Path, model: Path, out: Path, report_to: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_PROJECT": "astro-gym-test"}
    argv = [sys.executable, "-m", "astro.cli", "grpo", "--model", str(model), "--out", str(out), "--n-problems", "4",
            "--task-config.n-numbers", "2", "--group-size", "2", "--prompts-per-step", "2", "--max-new-tokens", "8",
            "--pass-rate-samples", "0", "--n-steps", "2", "--save-every", "0", "--threads", "1", "--report-to", report_to]
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@needs_wandb
def test_astro_grpo_report_to_wandb_leaves_the_metrics_in_the_offline_run(tmp_path, tiny_policy_dir):
    out = tmp_path / "grpo"
    run = _grpo(tmp_path, tiny_policy_dir, out, "wandb")
    assert run.returncode == 0, run.stderr[-3000:]
    (run_dir,) = (out / "wandb").glob("offline-run-*")
    assert not (out / "tb").exists()  # W&B instead of TensorBoard, not both
    assert not (tmp_path / "wandb").exists()  # the run lives in OUT, not in the working directory
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    records = _wandb_records(run_dir)
    history = [_items(r.history.item) for r in records if r.WhichOneof("record_type") == "history"]
    logged = [row for row in history if "grpo/reward_mean" in row]
    assert [row["_step"] for row in logged] == [1, 2]
    for row, record in zip(logged, metrics):
        for key in ("reward_mean", "loss", "completion_len", "entropy"):
            assert row[f"grpo/{key}"] == pytest.approx(record[key]), key
    (start,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    config = _items(start.config.update)
    assert config["group_size"] == 2 and config["report_to"] == "wandb"  # the stage's config rides along
    assert start.project == "astro-gym-test" and start.job_type == "grpo"


@pytest.mark.slow
def test_astro_grpo_report_to_none_writes_no_tracker_files(tmp_path, tiny_policy_dir):
    out = tmp_path / "grpo"
    run = _grpo(tmp_path, tiny_policy_dir, out, "none")
    assert run.returncode == 0, run.stderr[-3000:]
    assert not (out / "tb").exists() and not (out / "wandb").exists()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_missing_wandb_is_one_line_naming_the_flag(tmp_path, tiny_policy_dir, monkeypatch):
    import builtins

    from training.tracking import import_wandb

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb" or name.startswith("wandb."):
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    from astro_env.errors import UserError

    with pytest.raises(UserError, match=r"--report-to wandb needs the wandb package: pip install 'astro-gym\[wandb\]'"):
        import_wandb()
