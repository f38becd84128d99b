"""GRPO trainer: tiny-model facts, the difficulty filter, a tiny end-to-end run with resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from agents.base import Completion
from astro_env.countdown import CountdownConfig, generate_problems
from astro_env.jsonl import read_jsonl
from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy
from training.grpo import (
    GRPOConfig,
    NonFiniteLossError,
    collate,
    completion_logprobs,
    estimate_pass_rates,
    grpo_update,
    problem_order,
    train_grpo,
)

torch.set_num_threads(1)
TINY = ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64, max_position_embeddings=256)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(kind="char")


def _model(tokenizer, seed=0):
    return build_model(tokenizer, TINY, seed=seed)


def _batch(tokenizer, advantages):
    prompts = [tokenizer("Numbers: 1 2\nTarget: 3\n\n")["input_ids"], tokenizer("Q: 2\n\n")["input_ids"]]
    completions = [tokenizer("1+2=3\n\n\\boxed{1+2}")["input_ids"], tokenizer("\\boxed{2}")["input_ids"]]
    return collate(prompts, completions, advantages, [1.0, 1.0], tokenizer.pad_token_id)


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_collate_aligns_completions_after_left_padded_prompts(tokenizer):
    batch = collate([[5, 6, 7], [8]], [[9, 10], [11, 12, 13]], [1.0, -1.0], [1.0, 0.0], pad_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 7, 9, 10, 0], [0, 0, 8, 11, 12, 13]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1, 0], [0, 0, 1, 1, 1, 1]]
    assert batch.position_ids.tolist()[1][2:] == [0, 1, 2, 3]
    assert batch.completion_mask.tolist() == [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]  # row 2 masked by its weight
    assert batch.n_prompt_cols == 3


def test_completion_logprobs_match_a_plain_forward(tokenizer):
    model = _model(tokenizer).eval()
    batch = _batch(tokenizer, [1.0, -1.0])
    lp, entropy = completion_logprobs(model, batch, with_entropy=True)
    # row 1 (the longer prompt, no padding): score its completion with an unpadded forward
    n_prompt = len(tokenizer("Numbers: 1 2\nTarget: 3\n\n")["input_ids"])
    comp = tokenizer("1+2=3\n\n\\boxed{1+2}")["input_ids"]
    ids = torch.tensor([tokenizer("Numbers: 1 2\nTarget: 3\n\n")["input_ids"] + comp])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
    ref = torch.log_softmax(logits[n_prompt - 1 : -1], -1).gather(-1, torch.tensor(comp).unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(lp[0, : len(comp)], ref, atol=1e-5)
    # row 2 is left-padded; its scores must not depend on the padding either
    short_prompt = tokenizer("Q: 2\n\n")["input_ids"]
    short_comp = tokenizer("\\boxed{2}")["input_ids"]
    ids2 = torch.tensor([short_prompt + short_comp])
    with torch.no_grad():
        logits2 = model(input_ids=ids2).logits[0]
    ref2 = torch.log_softmax(logits2[len(short_prompt) - 1 : -1], -1).gather(-1, torch.tensor(short_comp).unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(lp[1, : len(short_comp)], ref2, atol=1e-4)
    assert 0 < entropy <= math.log(len(tokenizer)) + 1e-4


def test_params_move_after_one_grpo_step(tokenizer):
    model = _model(tokenizer)
    before = _params(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    metrics = grpo_update(model, opt, _batch(tokenizer, [1.0, -1.0]), GRPOConfig())
    moved = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert moved == len(before)
    assert metrics["clip_frac"] == 0.0 and metrics["ratio_mean"] == pytest.approx(1.0)
    assert math.isfinite(metrics["loss"]) and metrics["entropy"] > 0


def test_the_update_raises_the_likelihood_of_the_advantaged_completion(tokenizer):
    model = _model(tokenizer)
    batch = _batch(tokenizer, [1.0, -1.0])
    with torch.no_grad():
        lp0 = completion_logprobs(model, batch)[0]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        grpo_update(model, opt, batch, GRPOConfig())
    with torch.no_grad():
        lp1 = completion_logprobs(model, batch)[0]
    mask = batch.completion_mask
    assert ((lp1 - lp0) * mask)[0].sum() > 0 > ((lp1 - lp0) * mask)[1].sum()


def test_zero_advantages_give_zero_gradients_with_beta_zero(tokenizer):
    model = _model(tokenizer)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before = _params(model)
    grpo_update(model, opt, _batch(tokenizer, [0.0, 0.0]), GRPOConfig(max_grad_norm=0.0))
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_several_epochs_use_the_clipped_ratio(tokenizer):
    model = _model(tokenizer)
    opt = torch.optim.SGD(model.parameters(), lr=5.0)
    config = GRPOConfig(n_epochs=4, n_minibatches=2, eps_low=0.01, eps_high=0.01, max_grad_norm=0.0)
    metrics = grpo_update(model, opt, _batch(tokenizer, [1.0, -1.0]), config)
    assert metrics["ratio_max"] > 1.0  # later passes see a moved policy
    assert metrics["clip_frac"] > 0.0


def test_kl_to_a_reference_is_zero_at_start_and_positive_after(tokenizer):
    model, ref = _model(tokenizer), _model(tokenizer)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    config = GRPOConfig(beta=0.1)
    first = grpo_update(model, opt, _batch(tokenizer, [1.0, -1.0]), config, ref_model=ref)
    assert first["kl"] == pytest.approx(0.0, abs=1e-9)
    second = grpo_update(model, opt, _batch(tokenizer, [1.0, -1.0]), config, ref_model=ref)
    assert second["kl"] > 0
    with pytest.raises(ValueError, match="ref_model"):
        grpo_update(model, opt, _batch(tokenizer, [1.0, -1.0]), config)


def test_non_finite_loss_stops_before_the_update(tokenizer):
    model = _model(tokenizer)
    before = _params(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    with pytest.raises(NonFiniteLossError, match="nan"):
        grpo_update(model, opt, _batch(tokenizer, [float("nan"), 1.0]), GRPOConfig())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_problem_order_is_a_seeded_function_of_the_step():
    first = [problem_order(5, s, 2, seed=1) for s in range(5)]
    assert first == [problem_order(5, s, 2, seed=1) for s in range(5)]
    flat = [i for step in first for i in step]
    assert sorted(flat[:5]) == list(range(5))  # each pass covers every problem once
    assert problem_order(5, 0, 2, seed=2) != first[0] or problem_order(5, 1, 2, seed=2) != first[1]


def test_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="group_size"):
        GRPOConfig(group_size=1)
    with pytest.raises(ValueError, match="pass-rate"):
        GRPOConfig(pass_rate_low=0.9, pass_rate_high=0.1)
    with pytest.raises(ValueError, match="reward"):
        GRPOConfig(reward="ternary")


class GoldPolicy:
    """Writes the gold solution for the first `n_right[prompt]` samples, a wrong box otherwise."""

    name = "gold"

    def __init__(self, problems, n_right):
        self.by_prompt = {p.problem + "\n\n": (p, k) for p, k in zip(problems, n_right)}

    def complete(self, prompts, n, sampling):
        out = []
        for prompt in prompts:
            problem, k = self.by_prompt[prompt]
            out.append([Completion(text=problem.solution if i < k else "\\boxed{0}", token_ids=(1, 2), token_logprobs=(-1.0, -1.0))
                        for i in range(n)])
        return out


def test_pass_rate_filter_from_environment_rollouts(tokenizer):
    problems = generate_problems(4, seed=5)
    policy = GoldPolicy(problems, n_right=[4, 0, 2, 1])
    config = GRPOConfig(pass_rate_samples=4, prompts_per_step=3)
    assert estimate_pass_rates(policy, tokenizer, problems, config) == [1.0, 0.0, 0.5, 0.25]


@pytest.fixture()
def tiny_model_dir(tmp_path, tokenizer):
    return save_policy(_model(tokenizer), tokenizer, tmp_path / "base")


def test_train_grpo_end_to_end_logs_checkpoints_and_resumes(tmp_path, tiny_model_dir):
    out = tmp_path / "grpo"
    common = dict(model=str(tiny_model_dir), out=str(out), n_problems=4, task_config=CountdownConfig(n_numbers=2), group_size=2,
                  prompts_per_step=2, max_new_tokens=12, pass_rate_samples=2, pass_rate_low=0.0, pass_rate_high=1.0,
                  save_every=1, lr=1e-3, threads=1)
    result = train_grpo(GRPOConfig(n_steps=2, **common))
    assert result == out
    records = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2]
    for key in ("reward_mean", "pass_rate", "completion_len", "kl", "clip_frac", "entropy", "step_time", "loss"):
        assert key in records[0]
    filt = json.loads((out / "filter.json").read_text())
    assert filt["n_problems"] == 4 and filt["n_kept"] == 4 and len(filt["pass_rates"]) == 4
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    expected = {"grpo/reward_mean", "grpo/pass_rate", "grpo/completion_len", "grpo/kl", "grpo/clip_frac",
                "grpo/entropy", "grpo/step_time", "grpo/backtracks"}
    assert expected <= tags, expected - tags
    assert (out / "checkpoints" / "step-00000002" / "trainer_state.json").is_file()
    from transformers import AutoModelForCausalLM

    final = AutoModelForCausalLM.from_pretrained(out)
    assert sum(p.numel() for p in final.parameters()) > 0

    train_grpo(GRPOConfig(n_steps=3, **common))  # resumes at step 2
    records = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]
    assert json.loads((out / "grpo_summary.json").read_text())["n_steps"] == 3


def test_nothing_surviving_the_filter_is_a_clear_error(tmp_path, tiny_model_dir):
    config = GRPOConfig(model=str(tiny_model_dir), out=str(tmp_path / "g"), n_problems=2, group_size=2, prompts_per_step=2,
                        max_new_tokens=4, pass_rate_samples=2, pass_rate_low=0.5, n_steps=1, threads=1)
    with pytest.raises(ValueError, match="difficulty filter"):
        train_grpo(config)
    assert json.loads((tmp_path / "g" / "filter.json").read_text())["n_kept"] == 0
    from dataclasses import replace

    train_grpo(replace(config, out=str(tmp_path / "h"), if_none_kept="train_all"))
    summary = json.loads((tmp_path / "h" / "filter.json").read_text())
    assert summary["n_kept"] == 0 and summary["fallback"] == "train_all" and len(summary["kept_ids"]) == 2


class FakeVLLMPolicy:
    """Stands in for agents.vllm_backend.VLLMPolicy: its own copy of the weights, refreshed only by sync_weights."""

    instances: list["FakeVLLMPolicy"] = []

    def __init__(self, config):
        from agents.hf import TransformersPolicy

        self.inner = TransformersPolicy.from_pretrained(config.model)
        self.name = "fake-vllm"
        self.n_syncs = 0
        self.synced: set[int] = set()
        FakeVLLMPolicy.instances.append(self)

    def complete(self, prompts, n, sampling):
        return self.inner.complete(prompts, n, sampling)

    def propose_steps(self, states, n, sampling=None):
        return self.inner.propose_steps(states, n, sampling)

    def sync_weights(self, model):
        self.inner.model.load_state_dict(model.state_dict())
        self.n_syncs += 1
        self.synced.add(id(model))


def test_vllm_backend_gets_weights_after_every_step(tmp_path, tiny_model_dir, monkeypatch):
    import sys
    import types

    fake = types.ModuleType("agents.vllm_backend")
    fake.VLLMPolicy = FakeVLLMPolicy
    monkeypatch.setitem(sys.modules, "agents.vllm_backend", fake)
    FakeVLLMPolicy.instances.clear()
    out = train_grpo(GRPOConfig(model=str(tiny_model_dir), out=str(tmp_path / "v"), backend="vllm", n_problems=2,
                                task_config=CountdownConfig(n_numbers=2), group_size=2, prompts_per_step=2, max_new_tokens=8,
                                pass_rate_samples=0, n_steps=2, lr=1e-2, threads=1, save_every=0))
    (engine,) = FakeVLLMPolicy.instances
    assert engine.n_syncs == 1 + 2  # at start, then after each of the 2 steps
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(out)
    for (name, a), b in zip(trained.state_dict().items(), engine.inner.model.state_dict().values()):
        assert torch.equal(a, b), name


def _rollout(reward, truncated, ids=(5, 6, 2)):
    from training.rollout import Rollout

    return Rollout(problem_id="p", prompt="P", completion="c", prompt_token_ids=(7, 8), completion_token_ids=ids,
                   old_logprobs=tuple(-1.0 for _ in ids), reward=reward, truncated=truncated, n_steps=1, correct=reward > 0)


def test_rollout_batch_shapes_rewards_and_masks_truncated_completions():
    from training.grpo import rollout_batch

    group = [_rollout(1.0, False), _rollout(0.0, False), _rollout(1.0, True), _rollout(0.0, True)]
    # penalize: the truncated correct one counts as wrong -> rewards [1, -1, -1, -1]
    rollouts, batch = rollout_batch(group, GRPOConfig(truncation="penalize", scale_by_std=False), pad_id=0)
    assert [r.advantage for r in rollouts] == pytest.approx([1.5, -0.5, -0.5, -0.5])
    assert batch.completion_mask.sum(dim=1).tolist() == [3.0, 3.0, 3.0, 3.0]
    # mask: rewards [1, -1, 1, -1], the truncated rows leave the loss
    rollouts, batch = rollout_batch(group, GRPOConfig(truncation="mask", scale_by_std=False), pad_id=0)
    assert [r.advantage for r in rollouts] == pytest.approx([1.0, -1.0, 1.0, -1.0])
    assert batch.completion_mask.sum(dim=1).tolist() == [3.0, 3.0, 0.0, 0.0]
    # binary rewards
    rollouts, _ = rollout_batch(group[:2], GRPOConfig(reward="binary", scale_by_std=False, group_size=2), pad_id=0)
    assert [r.advantage for r in rollouts] == pytest.approx([0.5, -0.5])


class CopyingPolicy(FakeVLLMPolicy):
    """A plug-in rollout backend, reached by import path: its own copy of the weights, refreshed by sync_weights."""


class FrozenPolicy:
    """A backend GRPO must refuse: it samples, but cannot take the trained weights (no sync_weights)."""

    name = "frozen"

    def __init__(self, config):
        pass

    def complete(self, prompts, n, sampling):
        raise AssertionError("never sampled")

    def propose_steps(self, states, n, sampling=None):
        raise AssertionError("never sampled")


def test_a_plug_in_backend_trains_through_the_registry(tmp_path, tiny_model_dir):
    from agents.base import TrainablePolicyAgent

    FakeVLLMPolicy.instances.clear()
    common = dict(model=str(tiny_model_dir), n_problems=2, task_config=CountdownConfig(n_numbers=2), group_size=2,
                  prompts_per_step=2, max_new_tokens=8, pass_rate_samples=0, n_steps=2, lr=1e-2, threads=1, save_every=0)
    out = train_grpo(GRPOConfig(out=str(tmp_path / "p"), backend=f"{__name__}:CopyingPolicy", **common))
    (engine,) = FakeVLLMPolicy.instances
    assert isinstance(engine, CopyingPolicy) and isinstance(engine, TrainablePolicyAgent)
    assert engine.n_syncs == 1 + 2 and len(engine.synced) == 1  # at start and after each step, always the live model
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(out)
    for (name, a), b in zip(trained.state_dict().items(), engine.inner.model.state_dict().values()):
        assert torch.equal(a, b), name  # every rollout came from the weights being trained
    from astro_env.errors import UserError

    with pytest.raises(UserError, match="no sync_weights"):
        train_grpo(GRPOConfig(out=str(tmp_path / "f"), backend=f"{__name__}:FrozenPolicy", **common))


def test_engines_come_from_the_registry_and_an_outside_engine_is_called(tmp_path, tiny_model_dir, monkeypatch):
    from astro_env.errors import UserError
    from astro_env.registry import GRPO_ENGINES

    assert {"astro", "trl"} <= set(GRPO_ENGINES.names())
    with pytest.raises(UserError, match="unknown GRPO engine 'nope'"):
        GRPOConfig(engine="nope")
    calls.clear()
    out = train_grpo(GRPOConfig(model=str(tiny_model_dir), out=str(tmp_path / "e"), engine=f"{__name__}:recording_engine",
                                n_problems=3, task_config=CountdownConfig(n_numbers=2), group_size=2, prompts_per_step=2,
                                max_new_tokens=4, pass_rate_samples=0, n_steps=1, threads=1))
    assert out == tmp_path / "e"
    ((config, start, kept, n_problems),) = calls
    assert n_problems == 3 and len(kept) == 3 and start.model is not None and start.policy is not None


calls: list = []


def recording_engine(config, start, kept, n_problems):
    """An outside GRPO engine (`training.grpo.GRPOEngine`) that only records what it was handed."""
    calls.append((config, start, kept, n_problems))
    return Path(config.out)
