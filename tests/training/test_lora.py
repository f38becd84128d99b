"""LoRA on SFT and GRPO (both engines): only the adapters train, the saved model is the merged one
and loads and evaluates as a plain model; a killed LoRA run resumes to the same weights."""

from __future__ import annotations

import importlib.util
import json

import pytest

import torch  # noqa: E402

from astro_env import get_task  # noqa: E402
from astro_env.loaders import write_problems  # noqa: E402
from astro_env.problem import Problem  # noqa: E402
from search.trace import Trace  # noqa: E402
from astro.commands import grpo as grpo_command, sft as sft_command  # noqa: E402
from training import grpo, sft  # noqa: E402
from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy  # noqa: E402
from training.lora import ADAPTER_DIR, merge_lora_state_dict  # noqa: E402

TINY = ModelConfig(hidden_size=32, n_layers=2, n_heads=2, intermediate_size=64, max_position_embeddings=256)
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
needs_trl = pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="TRL is not installed (pip install 'astro-gym[trl]')")


def _problems(n: int = 6) -> list[Problem]:
    return [Problem(id=f"add/{a}", problem=f"What is {a}+{a + 1}?", answer=str(2 * a + 1), task="math") for a in range(1, n + 1)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("lora")
    problems = _problems()
    task = get_task("math")
    with (root / "traces.jsonl").open("w", encoding="utf-8") as fh:
        for p in problems:
            a = int(p.id.split("/")[1])
            trace = Trace(problem_id=p.id, arm="direct", prompt=task.format_prompt(p), completion=f"{a}+{a + 1}={2 * a + 1}\n\n\\boxed{{{2 * a + 1}}}")
            fh.write(json.dumps(trace.to_dict()) + "\n")
    write_problems(problems, root / "problems.jsonl")
    tokenizer = build_tokenizer(kind="char")
    base = save_policy(build_model(tokenizer, TINY, seed=0), tokenizer, root / "base")
    return {"root": root, "base": base, "problems": problems}


def _state(path) -> dict:
    from transformers import AutoModelForCausalLM

    return {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).state_dict().items()}


def _adapter(path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / ADAPTER_DIR / "adapter_model.safetensors"))


def _assert_only_adapters_trained(base: dict, merged: dict, adapter: dict, scaling: float) -> None:
    """Weights outside the adapted modules are the base's exactly; an adapted weight is the base's plus
    scaling * B @ A of the saved adapter, and that update is not zero (the adapters moved)."""
    assert merged.keys() == base.keys()
    factors: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in adapter.items():
        module, kind = key.removeprefix("base_model.model.").rsplit(".lora_", 1)
        factors.setdefault(module, {})[kind.split(".")[0]] = tensor
    assert sorted({m.rsplit(".", 1)[1] for m in factors}) == sorted(TARGETS)
    for key in base:
        module = key.removesuffix(".weight")
        if module in factors:
            delta = scaling * factors[module]["B"] @ factors[module]["A"]
            assert float(delta.abs().max()) > 0, f"{module}'s adapter never moved"
            torch.testing.assert_close(merged[key], base[key] + delta, rtol=0, atol=1e-6)
        else:
            assert torch.equal(merged[key], base[key]), f"{key} changed but carries no adapter"


def _evaluates(path, problems, tmp_path) -> None:
    from agents.base import PolicyConfig
    from agents.hf import TransformersPolicy
    from benchmarks.evaluate import EvalConfig, evaluate

    policy = TransformersPolicy.from_pretrained(str(path), PolicyConfig(device="cpu"))
    report = evaluate(policy, problems, EvalConfig(samples=2, max_tokens=8, benches=("add",), batch_size=3), tmp_path, "add")
    assert report.benches["add"].n_problems == len(problems) and report.benches["add"].n_samples == 2


def test_merge_is_base_plus_scaled_product():
    sd = {
        "base_model.model.fc.base_layer.weight": torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        "base_model.model.fc.base_layer.bias": torch.tensor([0.5, 0.5]),
        "base_model.model.fc.lora_A.default.weight": torch.tensor([[1.0, 2.0]]),  # [r=1, in=2]
        "base_model.model.fc.lora_B.default.weight": torch.tensor([[3.0], [4.0]]),  # [out=2, r=1]
        "base_model.model.emb.base_layer.weight": torch.zeros(3, 2),  # [vocab, dim]
        "base_model.model.emb.lora_embedding_A.default": torch.tensor([[1.0, 0.0, 2.0]]),  # [r, vocab]
        "base_model.model.emb.lora_embedding_B.default": torch.tensor([[1.0], [-1.0]]),  # [dim, r]
        "base_model.model.norm.weight": torch.ones(2),
    }
    merged = merge_lora_state_dict(sd, scaling=0.5)
    assert sorted(merged) == ["emb.weight", "fc.bias", "fc.weight", "norm.weight"]
    assert merged["fc.weight"].tolist() == [[2.5, 3.0], [2.0, 5.0]]  # I + 0.5 * [[3, 6], [4, 8]]
    assert merged["emb.weight"].tolist() == [[0.5, -0.5], [0.0, 0.0], [1.0, -1.0]]
    assert merged["fc.bias"].tolist() == [0.5, 0.5] and sd["base_model.model.fc.base_layer.weight"][0, 0] == 1.0


@pytest.mark.parametrize("flag, value, match", [
    ("lora_rank", -1, "lora_rank=-1"), ("lora_alpha", 0.0, "lora_alpha=0.0"), ("lora_dropout", 1.0, "lora_dropout=1.0"),
    ("lora_target_modules", (), "lora_target_modules=()"),
])
def test_bad_lora_settings_name_the_flag(flag, value, match):
    kwargs = {"lora_rank": 8, flag: value}
    with pytest.raises(ValueError, match=match):
        sft.SFTConfig(traces="t", model="m", out="o", **kwargs)
    with pytest.raises(ValueError, match=match):
        grpo.GRPOConfig(**kwargs)


def _sft_argv(ws, out, *extra):
    return ["--traces", str(ws["root"] / "traces.jsonl"), "--model", str(ws["base"]), "--out", str(out), "--lora-rank", "8",
            "--lora-alpha", "16", "--batch-size", "2", "--lr", "1e-2", "--log-every", "0", "--report-to", "none",
            "--mixed-precision", "no", *extra]


def test_sft_lora_trains_only_adapters_and_the_merged_model_evaluates(workspace, tmp_path):
    out = tmp_path / "sft"
    assert sft_command.main(_sft_argv(workspace, out, "--max-steps", "3")) == 0
    assert (out / ADAPTER_DIR / "adapter_config.json").is_file()
    _assert_only_adapters_trained(_state(workspace["base"]), _state(out), _adapter(out), scaling=16 / 8)
    _evaluates(out, workspace["problems"], tmp_path / "eval")


def test_a_killed_sft_lora_run_resumes_to_the_same_weights(workspace, tmp_path, monkeypatch):
    argv = ["--n-epochs", "2", "--save-every", "2"]  # 6 traces / batch 2 -> 3 steps per epoch, 6 in all
    assert sft_command.main(_sft_argv(workspace, tmp_path / "ref", *argv)) == 0

    def kill(step):
        if step == 3:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(sft, "_step_hook", kill)
    with pytest.raises(KeyboardInterrupt):
        sft_command.main(_sft_argv(workspace, tmp_path / "run", *argv))
    checkpoint = tmp_path / "run" / "checkpoints" / "step-00000002"
    assert (checkpoint / ADAPTER_DIR / "adapter_model.safetensors").is_file() and (checkpoint / "model.safetensors").is_file()
    monkeypatch.setattr(sft, "_step_hook", lambda step: None)
    assert sft_command.main(_sft_argv(workspace, tmp_path / "run", *argv)) == 0
    summary = json.loads((tmp_path / "run" / "sft_summary.json").read_text())
    assert summary["resumed_from"].endswith("step-00000002") and summary["n_steps"] == 6
    a, b = _state(tmp_path / "ref"), _state(tmp_path / "run")
    assert all(torch.equal(a[k], b[k]) for k in a), "the resumed LoRA run diverged from the uninterrupted one"


def _grpo_argv(ws, out, *extra):
    return ["--model", str(ws["base"]), "--problems", str(ws["root"] / "problems.jsonl"), "--out", str(out),
            "--lora-rank", "8", "--lora-alpha", "16", "--group-size", "4", "--prompts-per-step", "3", "--max-new-tokens", "8",
            "--pass-rate-samples", "0", "--lr", "5e-2", "--reward", "binary", "--truncation", "none", "--report-to", "none",
            "--threads", "1", *extra]


def test_grpo_lora_trains_only_adapters_resumes_and_the_merged_model_evaluates(workspace, tmp_path, monkeypatch):
    # non-zero advantages whatever the random model writes, so the adapters move
    monkeypatch.setattr(grpo, "group_advantages", lambda rewards, size, scale: torch.linspace(-1, 1, len(rewards)))
    out = tmp_path / "grpo"
    assert grpo_command.main(_grpo_argv(workspace, out, "--n-steps", "2", "--save-every", "1")) == 0
    checkpoint = out / "checkpoints" / "step-00000002"
    assert (checkpoint / ADAPTER_DIR / "adapter_model.safetensors").is_file()
    base = _state(workspace["base"])
    _assert_only_adapters_trained(base, _state(out), _adapter(out), scaling=16 / 8)
    _evaluates(out, workspace["problems"], tmp_path / "eval")
    # one more step resumes from step 2's adapter (the starting model stays the base)
    assert grpo_command.main(_grpo_argv(workspace, out, "--n-steps", "3", "--save-every", "1")) == 0
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    _assert_only_adapters_trained(base, _state(out), _adapter(out), scaling=16 / 8)


@pytest.mark.trl
@needs_trl
def test_trl_grpo_lora_saves_the_merged_model(workspace, tmp_path, monkeypatch):
    import itertools

    from training import grpo_trl

    flips = itertools.count()  # rewards 1, 0, 1, 0...: every group differs, so the adapters move
    monkeypatch.setattr(grpo_trl, "shape_reward", lambda reward, truncated, style, truncation: float(next(flips) % 2 == 0))
    out = tmp_path / "trl"
    argv = _grpo_argv(workspace, out, "--engine", "trl", "--n-steps", "2", "--group-size", "2", "--prompts-per-step", "2",
                      "--save-every", "0", "--reward", "signed")
    assert grpo_command.main(argv) == 0
    assert json.loads((out / "grpo_summary.json").read_text())["engine"] == "trl"
    _assert_only_adapters_trained(_state(workspace["base"]), _state(out), _adapter(out), scaling=16 / 8)
    _evaluates(out, workspace["problems"], tmp_path / "eval")


class FakeLoRAEngine:
    """Stands in for VLLMPolicy: its own copy of the weights, refreshed by load_weights (plain names only)."""

    instances: list["FakeLoRAEngine"] = []

    def __init__(self, config):
        from agents.hf import TransformersPolicy

        self.inner = TransformersPolicy.from_pretrained(config.model)
        self.name = "fake-vllm"
        self.n_loads = 0
        FakeLoRAEngine.instances.append(self)

    def complete(self, prompts, n, sampling):
        return self.inner.complete(prompts, n, sampling)

    def propose_steps(self, states, n, sampling=None):
        return self.inner.propose_steps(states, n, sampling)

    def sync_weights(self, model):
        self.load_weights(model.named_parameters())

    def load_weights(self, named_tensors):
        params = dict(self.inner.model.named_parameters())
        with torch.no_grad():
            for name, tensor in named_tensors:
                params[name].copy_(tensor)  # a PEFT name (base_model..., lora_A) would be a KeyError
        self.n_loads += 1


def test_grpo_lora_with_an_engine_syncs_the_merged_weights(workspace, tmp_path, monkeypatch):
    import sys
    import types

    fake = types.ModuleType("agents.vllm_backend")
    fake.VLLMPolicy = FakeLoRAEngine
    monkeypatch.setitem(sys.modules, "agents.vllm_backend", fake)
    monkeypatch.setattr(grpo, "group_advantages", lambda rewards, size, scale: torch.linspace(-1, 1, len(rewards)))
    FakeLoRAEngine.instances.clear()
    out = tmp_path / "v"
    assert grpo_command.main(_grpo_argv(workspace, out, "--backend", "vllm", "--n-steps", "2", "--save-every", "0")) == 0
    (engine,) = FakeLoRAEngine.instances
    assert engine.n_loads == 1 + 1 + 2  # the plain start, the model with its adapters, then after each step
    trained = _state(out)
    for name, param in engine.inner.model.state_dict().items():
        torch.testing.assert_close(param, trained[name], rtol=0, atol=1e-6)
