"""The shipped accelerate / DeepSpeed configurations parse and agree with each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import yaml  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
REPO = CONFIGS.parents[1]
# "auto" values accelerate fills from the training script (training.sft sets the micro-batch size itself)
AUTO_FILLED = {"train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"}


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_json_stage_and_auto_values(stage):
    ds = json.loads((CONFIGS / f"ds_zero{stage}.json").read_text())
    assert ds["zero_optimization"]["stage"] == stage
    top_level_auto = {k for k, v in ds.items() if v == "auto"}
    assert top_level_auto == AUTO_FILLED
    assert ds["bf16"]["enabled"] is True and ds["fp16"]["enabled"] is False  # never both
    if stage == 3:  # save_pretrained needs the full weights gathered on save
        assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


@pytest.mark.parametrize("stage", [2, 3])
def test_accelerate_yaml_points_at_the_matching_deepspeed_json(stage):
    cfg = yaml.safe_load((CONFIGS / f"accelerate_zero{stage}.yaml").read_text())
    assert cfg["distributed_type"] == "DEEPSPEED"
    ds_file = REPO / cfg["deepspeed_config"]["deepspeed_config_file"]
    assert ds_file.is_file() and ds_file.name == f"ds_zero{stage}.json"
    assert cfg["deepspeed_config"]["zero3_init_flag"] is (stage == 3)
    # with a deepspeed_config_file accelerate refuses these keys (they belong in the JSON)
    assert "mixed_precision" not in cfg
    assert not {"zero_stage", "gradient_accumulation_steps", "gradient_clipping"} & set(cfg["deepspeed_config"])
    assert cfg["num_machines"] == 1 and cfg["num_processes"] >= 1 and cfg["use_cpu"] is False


def test_cpu_yaml_is_single_process():
    cfg = yaml.safe_load((CONFIGS / "accelerate_cpu.yaml").read_text())
    assert cfg["distributed_type"] == "NO" and cfg["num_processes"] == 1 and cfg["use_cpu"] is True


@pytest.mark.parametrize("name", ["accelerate_zero2.yaml", "accelerate_zero3.yaml", "accelerate_cpu.yaml"])
def test_accelerate_loads_the_yaml(name):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(CONFIGS / name))
    assert cfg.num_processes >= 1
    if "zero" in name:
        assert str(cfg.distributed_type).endswith("DEEPSPEED")
