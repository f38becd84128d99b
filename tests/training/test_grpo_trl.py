"""`astro grpo --engine trl`: the settings map, the environment reward TRL is given, and (marker
`trl`) short real runs of TRL's GRPOTrainer that write the in-house engine's outputs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from astro_env.problem import Problem
from training.grpo import GRPOConfig
from training.grpo_trl import EnvironmentReward, metrics_record, trl_arguments

HAS_TRL = importlib.util.find_spec("trl") is not None
needs_trl = pytest.mark.skipif(not HAS_TRL, reason="TRL is not installed (pip install 'astro-gym[trl]')")


def test_engine_is_validated():
    assert GRPOConfig(engine="trl").engine == "trl"
    with pytest.raises(ValueError, match="unknown GRPO engine 'deepspeed': use one of astro, trl"):
        GRPOConfig(engine="deepspeed")


def test_settings_map_one_to_one(tmp_path):
    config = GRPOConfig(
        group_size=4, prompts_per_step=6, n_minibatches=2, n_epochs=3, lr=2e-7, warmup_steps=80, weight_decay=0.1,
        max_grad_norm=0.5, eps_low=0.2, eps_high=0.28, beta=0.04, scale_by_std=False, aggregation="sequence",
        truncation="mask", temperature=0.9, top_p=0.95, max_new_tokens=64, n_steps=7, seed=5, save_every=3,
        keep_checkpoints=4, log_every=2, backend="vllm",
    )
    args = trl_arguments(config, tmp_path, use_cpu=True)
    assert args["num_generations"] == 4
    assert args["per_device_train_batch_size"] * args["steps_per_generation"] == 24  # prompts_per_step x group_size
    assert args["steps_per_generation"] == 2 and args["num_iterations"] == 3 and args["gradient_accumulation_steps"] == 1
    assert (args["learning_rate"], args["warmup_steps"], args["lr_scheduler_type"]) == (2e-7, 80, "constant_with_warmup")
    assert (args["weight_decay"], args["max_grad_norm"]) == (0.1, 0.5)
    assert (args["epsilon"], args["epsilon_high"], args["beta"]) == (0.2, 0.28, 0.04)
    assert args["scale_rewards"] == "none" and args["loss_type"] == "grpo" and args["mask_truncated_completions"]
    assert (args["temperature"], args["top_p"], args["max_completion_length"]) == (0.9, 0.95, 64)
    assert (args["max_steps"], args["seed"], args["save_steps"], args["save_total_limit"]) == (7, 5, 3, 4)
    assert args["logging_steps"] == 2 and args["use_vllm"] and args["output_dir"] == str(tmp_path / "checkpoints")
    default = trl_arguments(GRPOConfig(), tmp_path, use_cpu=True)
    assert default["scale_rewards"] == "group" and default["loss_type"] == "grpo"  # per-completion mean, our default
    assert trl_arguments(GRPOConfig(aggregation="token"), tmp_path, use_cpu=True)["loss_type"] == "dapo"
    assert not default["mask_truncated_completions"] and not default["use_vllm"] and default["beta"] == 0.0


def test_minibatches_must_split_the_step_evenly(tmp_path):
    with pytest.raises(ValueError, match="n_minibatches=3"):
        trl_arguments(GRPOConfig(group_size=4, prompts_per_step=2, n_minibatches=3), tmp_path, use_cpu=True)


def _problems():
    return [Problem(id="add/1", problem="What is 1+3?", answer="4"), Problem(id="add/2", problem="What is 2+2?", answer="4")]


@pytest.mark.parametrize("kind, want", [("signed", [1.0, -1.0, -1.0, -1.0]), ("binary", [1.0, 0.0, 0.0, 0.0])])
def test_environment_reward_replays_through_the_task(kind, want):
    eos = 2
    reward = EnvironmentReward(_problems(), GRPOConfig(reward=kind, truncation="penalize", max_new_tokens=5), eos_token_id=eos)
    logged = {}
    got = reward(
        prompts=["p"] * 4,
        completions=["Sure.\n\n\\boxed{4}", "Hmm.\n\n\\boxed{7}", "no answer at all", "Sure.\n\n\\boxed{4}"],
        completion_ids=[[5, 6, eos], [5, 6, eos], [5, 6, eos], [5, 6, 7, 8, 9]],  # the last one hit the budget
        problem_id=["add/1", "add/2", "add/1", "add/2"],
        log_metric=lambda name, value: logged.__setitem__(name, value),
    )
    assert got == want
    assert logged == {"env_reward": 0.5, "pass_rate": 0.5}  # the env's verdict, before truncation shaping


def test_metrics_record_uses_the_in_house_names():
    record = metrics_record(3, {"env_reward": 0.5, "pass_rate": 0.25, "completions/mean_length": 12.0, "kl": 0.01,
                                "clip_ratio/region_mean": 0.0, "loss": 0.1, "learning_rate": 1e-3, "reward": -0.5,
                                "epoch": 1.0, "text": "x", "entropy": float("nan")})
    assert record == {"step": 3, "reward_mean": 0.5, "pass_rate": 0.25, "completion_len": 12.0, "kl": 0.01,
                      "clip_frac": 0.0, "loss": 0.1, "lr": 1e-3, "trl/reward": -0.5, "trl/epoch": 1.0}


# ------------------------------------------------------------------ real TRL runs


@pytest.mark.trl
@needs_trl
def test_cli_engine_trl_writes_the_in_house_outputs(tmp_path):
    import torch

    from astro_env.jsonl import read_jsonl
    from astro_env.loaders import write_problems
    from astro.commands import grpo
    from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy

    torch.set_num_threads(1)
    tokenizer = build_tokenizer(kind="char")
    model = build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64,
                                               max_position_embeddings=128), seed=0)
    base = save_policy(model, tokenizer, tmp_path / "base")
    write_problems(_problems(), tmp_path / "problems.jsonl")
    out = tmp_path / "run"
    argv = ["--engine", "trl", "--model", str(base), "--problems", str(tmp_path / "problems.jsonl"), "--out", str(out),
            "--n-steps", "2", "--group-size", "2", "--prompts-per-step", "2", "--max-new-tokens", "8",
            "--pass-rate-samples", "2", "--if-none-kept", "train_all", "--save-every", "1", "--threads", "1"]
    assert grpo.main(argv) == 0
    summary = json.loads((out / "grpo_summary.json").read_text())
    assert summary["engine"] == "trl" and summary["n_steps"] == 2 and summary["n_kept"] == 2
    records = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2]
    assert all({"reward_mean", "pass_rate", "completion_len", "loss", "lr"} <= r.keys() for r in records)
    assert json.loads((out / "filter.json").read_text())["n_samples"] == 2
    assert list((out / "tb").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert summary["final"] == records[-1]
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(out)  # the final model (learning is test_both_engines_raise_the_pass_rate's)
    assert trained.state_dict().keys() == model.state_dict().keys()

    # a rerun resumes from the last checkpoint instead of training again
    assert grpo.main(argv) == 0
    assert json.loads((out / "grpo_summary.json").read_text())["resumed_from"].endswith("checkpoint-2")
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2]


def _learns(engine: str, tmp_path: Path) -> tuple[float, float, list[dict]]:
    """(pass rate before, after, metrics) of a short GRPO run with `engine` on test_grpo_learns' task."""
    import torch
    from transformers import AutoModelForCausalLM

    from astro_env.jsonl import read_jsonl
    from astro_env.loaders import write_problems
    from tests.training.test_grpo_learns import _pass_rate, _pretrain
    from tests.training.test_grpo_learns import _problems as add_problems
    from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy
    from training.grpo import train_grpo

    torch.set_num_threads(1)
    problems = add_problems()
    tokenizer = build_tokenizer(kind="char")
    model = build_model(tokenizer, ModelConfig(hidden_size=64, n_layers=2, n_heads=4, intermediate_size=128,
                                               max_position_embeddings=128), seed=0)
    _pretrain(tokenizer, model, problems, 200, seed=0)
    before = _pass_rate(model, tokenizer, problems, 8, seed=123)
    base = save_policy(model, tokenizer, tmp_path / "base")
    write_problems(problems, tmp_path / "problems.jsonl")
    out = train_grpo(GRPOConfig(
        engine=engine, model=str(base), out=str(tmp_path / engine), problems=str(tmp_path / "problems.jsonl"),
        n_steps=30, group_size=8, prompts_per_step=4, lr=1e-3, max_new_tokens=24, pass_rate_samples=8,
        save_every=0, threads=1, seed=0,
    ))
    after = _pass_rate(AutoModelForCausalLM.from_pretrained(out), tokenizer, problems, 8, seed=456)
    return before, after, read_jsonl(out / "metrics.jsonl")


@pytest.mark.trl
@pytest.mark.slow
@needs_trl
@pytest.mark.parametrize("engine", ["astro", "trl"])
def test_both_engines_raise_the_pass_rate(engine, tmp_path):
    before, after, records = _learns(engine, tmp_path)
    early = sum(r["pass_rate"] for r in records[:4]) / 4
    late = sum(r["pass_rate"] for r in records[-4:]) / 4
    assert before < 0.3, f"the behaviour-cloned start should be weak, got {before:.2f}"
    assert after > before + 0.3, f"{engine}: pass rate {before:.2f} -> {after:.2f} (training {early:.2f} -> {late:.2f})"
    assert late > early
