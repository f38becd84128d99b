"""examples/trl_grpo.py: a TRL user's own GRPOTrainer script on our environment, two steps on a
tiny local model (marker `trl`), and the rollout function TRL calls, checked against a replay."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from astro_env.problem import Problem

ROOT = Path(__file__).resolve().parents[2]
HAS_TRL = importlib.util.find_spec("trl") is not None


def _problems() -> list[Problem]:
    return [Problem(id=f"add/{a}", problem=f"What is {a}+{4 - a}?", answer="4") for a in range(5)]


@pytest.fixture(scope="module")
def cloned_policy(tmp_path_factory):
    """A tiny model behaviour-cloned to answer right ("Sure. \\boxed{4}") about half the time, so
    groups of two rollouts disagree and GRPO's advantages are not all zero."""
    import torch

    from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy

    torch.manual_seed(0)
    tokenizer = build_tokenizer(kind="char")
    model = build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64,
                                               max_position_embeddings=128), seed=0)
    rng, problems = random.Random(0), _problems()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(120):
        texts = []
        for _ in range(16):
            problem = rng.choice(problems)
            answer = "Sure.\n\n\\boxed{4}" if rng.random() < 0.5 else "Hmm.\n\n\\boxed{7}"
            texts.append(f"Problem: {problem.problem}\n\nSolution:\n{answer}{tokenizer.eos_token}")
        enc = tokenizer(texts, return_tensors="pt", padding=True)
        loss = model(**enc, labels=enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    root = tmp_path_factory.mktemp("cloned")
    from astro_env.loaders import write_problems

    write_problems(problems, root / "problems.jsonl")
    return save_policy(model, tokenizer, root / "base"), root / "problems.jsonl"


@pytest.mark.slow  # the cloned model takes tens of seconds to train
def test_rollout_function_returns_environment_episodes(cloned_policy):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from astro_env import get_task
    from training.grpo_trl import EnvironmentRollout, environment_reward
    from training.rollout import RolloutConfig, make_envs, replay

    base, _ = cloned_policy
    model, tokenizer = AutoModelForCausalLM.from_pretrained(base), AutoTokenizer.from_pretrained(base)
    problems = _problems()
    accelerator = SimpleNamespace(process_index=0, unwrap_model=lambda m: m)
    trainer = SimpleNamespace(args=SimpleNamespace(seed=0, max_completion_length=24, temperature=1.0, top_p=1.0),
                              accelerator=accelerator, model=model, processing_class=tokenizer)
    prompts = [get_task("math").format_prompt(p) for p in problems for _ in range(2)]  # TRL repeats each prompt G times
    rollout = EnvironmentRollout(problems)
    out = rollout(prompts, trainer)
    assert set(out) == {"prompt_ids", "completion_ids", "logprobs", "env_reward", "env_correct", "env_truncated"}
    assert all(len(v) == len(prompts) for v in out.values())
    envs = make_envs(problems, RolloutConfig())
    for prompt, prompt_ids, ids, logprobs, reward, problem in zip(prompts, out["prompt_ids"], out["completion_ids"],
                                                                  out["logprobs"], out["env_reward"],
                                                                  [p for p in problems for _ in range(2)]):
        assert prompt_ids == tokenizer(prompt)["input_ids"] and len(logprobs) == len(ids)
        text = tokenizer.decode(ids, skip_special_tokens=True)
        assert replay(envs["math"], problem, text).reward == reward  # the environment's verdict on what was sampled
    assert 0 < sum(out["env_reward"]) < len(prompts)  # the cloned model is right only some of the time
    assert environment_reward(completions=["x"] * len(prompts), env_reward=out["env_reward"]) == out["env_reward"]
    again = EnvironmentRollout(problems)(prompts, trainer)
    assert again["completion_ids"] == out["completion_ids"]  # seeded by args.seed and the call count
    assert rollout(prompts, trainer)["completion_ids"] != out["completion_ids"]  # the next call samples afresh
    with pytest.raises(KeyError):
        rollout(["Problem: not one of ours"], trainer)


def _tb_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars: dict[str, list[tuple[int, float]]] = {}
    for events_dir in {p.parent for p in folder.rglob("events.out.tfevents.*")}:
        acc = EventAccumulator(str(events_dir))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            scalars.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return scalars


@pytest.mark.trl
@pytest.mark.skipif(not HAS_TRL, reason="TRL is not installed (pip install 'astro-gym[trl]')")
@pytest.mark.parametrize("mode, reward_name", [("rollout", "environment_reward"), ("reward", "env_reward")])
def test_example_script_trains_two_steps(cloned_policy, tmp_path, mode, reward_name):
    import torch
    from transformers import AutoModelForCausalLM

    base, problems = cloned_policy
    out = tmp_path / "trl"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "trl_grpo.py"), "--model", str(base), "--task", "math",
         "--problems", str(problems), "--mode", mode, "--out", str(out), "--max-steps", "2", "--num-generations", "2",
         "--prompts-per-step", "4", "--max-completion-length", "24", "--learning-rate", "1e-2",
         "--report-to", "tensorboard"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    scalars = _tb_scalars(out)
    rewards = scalars[f"train/rewards/{reward_name}/mean"]
    assert [step for step, _ in rewards] == [1, 2]
    assert any(0 < value < 1 for _, value in rewards)  # the environment rewarded some completions, not all
    trained = AutoModelForCausalLM.from_pretrained(out).state_dict()
    start = AutoModelForCausalLM.from_pretrained(base).state_dict()
    assert any(not torch.equal(trained[k], start[k]) for k in start)  # two optimizer steps moved the weights
