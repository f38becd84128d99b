"""Slow: a short GRPO run on an easy task raises the mean reward clearly (CPU, a few minutes at most).

The task is trivially easy and verified by the math environment: single-digit additions
("What is 1+3?") that all sum to 4. A tiny model is first behaviour-cloned on a mixture that
answers correctly in one mode ("Sure.\\n\\n\\boxed{4}", 10% of the data) and guesses a random
digit in another ("Hmm.\\n\\n\\boxed{7}", 90%), so it starts at a pass rate of about 0.2 while
already able to be right. GRPO must find and reinforce the rewarded mode from the
environment's rewards alone.
"""

from __future__ import annotations

import os
import random

import pytest
import torch

from astro_env.problem import Problem
from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy

pytestmark = pytest.mark.slow

CI = os.environ.get("ASTRO_SLOW_SCALE", "") == "ci"
PRETRAIN_STEPS = 200
GRPO_STEPS = 40 if CI else 60
EVAL_SAMPLES = 8 if CI else 16


def _problems() -> list[Problem]:
    """Single-digit additions that all sum to 4, so the rewarded answer needs no arithmetic skill."""
    return [Problem(id=f"add/{a}+{4 - a}", problem=f"What is {a}+{4 - a}?", answer="4") for a in range(5)]


def _example(problem: Problem, rng: random.Random, p_correct: float) -> str:
    prompt = f"Problem: {problem.problem}\n\nSolution:\n"
    if rng.random() < p_correct:
        return prompt + "Sure.\n\n\\boxed{" + problem.answer + "}"
    return prompt + "Hmm.\n\n\\boxed{" + str(rng.randint(0, 9)) + "}"


def _pretrain(tokenizer, model, problems, steps: int, seed: int) -> None:
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        texts = [_example(rng.choice(problems), rng, p_correct=0.1) + tokenizer.eos_token for _ in range(32)]
        enc = tokenizer(texts, return_tensors="pt", padding=True)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()


def _pass_rate(model, tokenizer, problems, n: int, seed: int) -> float:
    from agents.base import PolicyConfig
    from agents.hf import TransformersPolicy
    from training.rollout import RolloutConfig, collect_rollouts

    policy = TransformersPolicy(model, tokenizer, PolicyConfig(device="cpu", dtype="float32"))
    rollouts = collect_rollouts(policy, tokenizer, problems, RolloutConfig(n_samples=n, max_new_tokens=24, seed=seed))
    return sum(r.reward for r in rollouts) / len(rollouts)


def test_short_grpo_run_raises_mean_reward(tmp_path):
    from transformers import AutoModelForCausalLM

    from astro_env.jsonl import read_jsonl
    from astro_env.loaders import write_problems
    from training.grpo import GRPOConfig, train_grpo

    torch.set_num_threads(1)
    problems = _problems()
    tokenizer = build_tokenizer(kind="char")
    model = build_model(tokenizer, ModelConfig(hidden_size=64, n_layers=2, n_heads=4, intermediate_size=128,
                                               max_position_embeddings=128), seed=0)
    _pretrain(tokenizer, model, problems, PRETRAIN_STEPS, seed=0)
    before = _pass_rate(model, tokenizer, problems, EVAL_SAMPLES, seed=123)
    assert before < 0.3, f"the behaviour-cloned start should be weak, got pass rate {before:.2f}"
    base = save_policy(model, tokenizer, tmp_path / "base")
    problem_file = tmp_path / "problems.jsonl"
    write_problems(problems, problem_file)

    out = train_grpo(GRPOConfig(
        model=str(base), out=str(tmp_path / "grpo"), problems=str(problem_file), n_steps=GRPO_STEPS,
        group_size=8, prompts_per_step=4, lr=1e-3, max_new_tokens=24, pass_rate_samples=8,
        save_every=0, threads=1, seed=0,
    ))
    after = _pass_rate(AutoModelForCausalLM.from_pretrained(out), tokenizer, problems, EVAL_SAMPLES, seed=456)
    records = read_jsonl(out / "metrics.jsonl")
    early = sum(r["reward_mean"] for r in records[:4]) / 4
    late = sum(r["reward_mean"] for r in records[-4:]) / 4
    assert after > 0.6, f"GRPO should raise the pass rate from {before:.2f} to > 0.6, got {after:.2f} (training reward {early:.2f} -> {late:.2f})"
    assert late > early
