"""TransformersPolicy on a tiny random-init Llama (CPU, one thread)."""

from __future__ import annotations

import math

import pytest

import torch  # noqa: E402

from agents.base import Completion, PolicyAgent, SamplingConfig, StepSample  # noqa: E402
from agents.hf import TransformersPolicy, sample_tokens, step_uniforms  # noqa: E402
from astro_env.problem import Problem  # noqa: E402
from astro_env.state import initial_state, transition  # noqa: E402

PROMPTS = [
    "Numbers: 3 5 7\nTarget: 26\n\n",
    "Problem: What is 1+1?\n\nSolution:\n",
    "5*7=35",
]
GREEDY = SamplingConfig(max_tokens=12, temperature=0.0)


@pytest.fixture
def policy(tiny_model, tiny_tokenizer):
    policy = TransformersPolicy(tiny_model, tiny_tokenizer)
    policy.eos_token_ids = frozenset()  # random weights: keep lengths predictable unless a test sets eos
    return policy


def reference_logprobs(model, prompt_ids, gen_ids):
    """Log-probs of gen_ids after prompt_ids from one full forward pass (no cache, no padding)."""
    ids = torch.tensor([list(prompt_ids) + list(gen_ids)])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    start = len(prompt_ids)
    return [logp[start - 1 + t, tok].item() for t, tok in enumerate(gen_ids)]


def test_is_a_policy_agent_and_exposes_model(policy, tiny_model, tiny_tokenizer):
    assert isinstance(policy, PolicyAgent)
    assert policy.model is tiny_model and policy.tokenizer is tiny_tokenizer


def test_output_shapes_and_record_invariants(policy):
    out = policy.complete(PROMPTS, 3, SamplingConfig(max_tokens=7, seed=0))
    assert len(out) == len(PROMPTS) and all(len(row) == 3 for row in out)
    for row in out:
        for c in row:
            assert isinstance(c, Completion)
            assert len(c.token_ids) == len(c.token_logprobs) == 7
            assert c.finish_reason == "length" and c.truncated
            assert all(lp <= 0 for lp in c.token_logprobs)
            assert c.text == policy.tokenizer.decode(list(c.token_ids), skip_special_tokens=True)


def test_max_tokens_respected(policy):
    for max_tokens in (1, 5):
        out = policy.complete(PROMPTS[:2], 2, SamplingConfig(max_tokens=max_tokens, seed=3))
        assert {c.n_tokens for row in out for c in row} == {max_tokens}


def test_greedy_is_deterministic_and_ignores_seed(policy):
    a = policy.complete(PROMPTS, 2, GREEDY)
    b = policy.complete(PROMPTS, 1, SamplingConfig(max_tokens=12, temperature=0.0, seed=99))
    for row_a, row_b in zip(a, b):
        assert row_a[0].token_ids == row_a[1].token_ids == row_b[0].token_ids


def test_left_padding_batched_greedy_equals_one_by_one(policy):
    batched = policy.complete(PROMPTS, 1, GREEDY)
    for prompt, row in zip(PROMPTS, batched):
        alone = policy.complete([prompt], 1, GREEDY)[0][0]
        assert alone.token_ids == row[0].token_ids
        assert alone.token_logprobs == pytest.approx(row[0].token_logprobs, abs=1e-4)


def test_logprobs_match_a_separate_forward_pass(policy, tiny_model, tiny_tokenizer):
    out = policy.complete(PROMPTS, 2, SamplingConfig(max_tokens=10, temperature=0.7, top_p=0.9, seed=5))
    for prompt, row in zip(PROMPTS, out):
        prompt_ids = tiny_tokenizer(prompt)["input_ids"]
        for c in row:
            expected = reference_logprobs(tiny_model, prompt_ids, c.token_ids)
            assert list(c.token_logprobs) == pytest.approx(expected, abs=1e-4)
            assert c.logprob == pytest.approx(sum(expected), abs=1e-3)


def test_seeded_sampling_is_reproducible_and_chunking_invariant(tiny_model, tiny_tokenizer):
    from agents.base import PolicyConfig

    big = TransformersPolicy(tiny_model, tiny_tokenizer, PolicyConfig(max_batch_size=64))
    small = TransformersPolicy(tiny_model, tiny_tokenizer, PolicyConfig(max_batch_size=2))
    cfg = SamplingConfig(max_tokens=8, seed=11)
    a = big.complete(PROMPTS, 3, cfg)
    b = big.complete(PROMPTS, 3, cfg)
    c = small.complete(PROMPTS, 3, cfg)
    ids = lambda out: [[x.token_ids for x in row] for row in out]  # noqa: E731
    assert ids(a) == ids(b) == ids(c)
    # a prompt's samples depend on (seed, its position, sample index), not on the prompts after it
    assert ids(big.complete(PROMPTS[:2], 3, cfg)) == ids(a)[:2]
    other = big.complete(PROMPTS, 3, SamplingConfig(max_tokens=8, seed=12))
    assert ids(other) != ids(a)
    # siblings differ (8 tokens over a ~uniform 256-token vocabulary)
    assert len({x.token_ids for x in a[0]}) == 3


def test_unseeded_calls_differ_but_replay_from_config_seed(tiny_model, tiny_tokenizer):
    cfg = SamplingConfig(max_tokens=6)
    first = TransformersPolicy(tiny_model, tiny_tokenizer)
    second = TransformersPolicy(tiny_model, tiny_tokenizer)
    a1, a2 = first.complete(PROMPTS[:1], 2, cfg), first.complete(PROMPTS[:1], 2, cfg)
    b1, b2 = second.complete(PROMPTS[:1], 2, cfg), second.complete(PROMPTS[:1], 2, cfg)
    assert a1 == b1 and a2 == b2 and a1 != a2


def test_stop_string_cuts_text_and_ends_generation(policy):
    free = policy.complete(PROMPTS[:1], 1, SamplingConfig(max_tokens=20, temperature=0.0))[0][0]
    stop = free.text[5:7]  # a string the greedy continuation is known to contain
    assert len(stop) == 2
    first_at = free.text.find(stop)
    out = policy.complete(PROMPTS[:1], 2, SamplingConfig(max_tokens=20, temperature=0.0, stop=("@@@", stop)))[0]
    for c in out:
        assert c.finish_reason == "stop" and c.stop_reason == stop
        assert c.text == free.text[:first_at]
        assert stop not in c.text
        # generation ended with the token that completed the stop string
        assert c.token_ids == free.token_ids[: c.n_tokens]
        decoded = policy.tokenizer.decode(list(c.token_ids))
        assert decoded.find(stop) >= 0 and policy.tokenizer.decode(list(c.token_ids[:-1])).find(stop) < 0


def test_eos_ends_completion(policy, tiny_model, tiny_tokenizer):
    cfg = SamplingConfig(max_tokens=10, seed=4)
    free = policy.complete(PROMPTS[:1], 1, cfg)[0][0]
    eos_at = next(i for i, t in enumerate(free.token_ids) if t not in free.token_ids[:i] and i >= 2)
    eos_policy = TransformersPolicy(tiny_model, tiny_tokenizer)
    eos_policy.eos_token_ids = frozenset({free.token_ids[eos_at]})
    c = eos_policy.complete(PROMPTS[:1], 1, cfg)[0][0]
    assert c.finish_reason == "eos" and c.stop_reason is None
    assert c.token_ids == free.token_ids[: eos_at + 1]  # the eos token is kept in ids and log-probs
    assert len(c.token_logprobs) == eos_at + 1


def test_top_p_and_temperature_sampling_distribution():
    torch.manual_seed(0)
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).repeat(4000, 1)
    keys = torch.arange(4000, dtype=torch.long) * 7919
    draws = sample_tokens(logits, 1.0, 1.0, step_uniforms(keys, 0))
    freq = torch.bincount(draws, minlength=4).double() / 4000
    expected = torch.softmax(logits[0].double(), -1)
    assert torch.allclose(freq, expected, atol=0.03)
    # top_p=0.7: softmax mass is [0.644, 0.237, 0.087, 0.032]; the nucleus is tokens {0, 1}
    nucleus = sample_tokens(logits, 1.0, 0.7, step_uniforms(keys, 1))
    assert set(nucleus.tolist()) == {0, 1}
    assert (nucleus == 0).double().mean().item() == pytest.approx(0.644 / (0.644 + 0.237), abs=0.03)
    assert sample_tokens(logits[:2], 0.0, 1.0, None).tolist() == [0, 0]
    # low temperature concentrates on the argmax
    cold = sample_tokens(logits, 0.05, 1.0, step_uniforms(keys, 2))
    assert (cold == 0).all()


def test_uniforms_are_in_open_unit_interval_and_vary_with_step():
    keys = torch.arange(1000, dtype=torch.long)
    u0, u1 = step_uniforms(keys, 0), step_uniforms(keys, 1)
    assert ((u0 > 0) & (u0 < 1)).all() and not torch.equal(u0, u1)
    assert abs(u0.mean().item() - 0.5) < 0.05


def make_states(delimiter):
    problem = Problem(id="p", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown")
    root = initial_state(problem, problem.problem + "\n\n", delimiter=delimiter)
    return [root, transition(root, "5*7=35")]


def test_propose_steps_stop_at_delimiter(policy):
    root = make_states("\n\n")[0]
    free = policy.complete([root.text], 1, SamplingConfig(max_tokens=20, temperature=0.0))[0][0]
    delimiter = free.text[3:5]
    states = make_states(delimiter)
    steps = policy.propose_steps(states, 2, SamplingConfig(max_tokens=20, temperature=0.0))
    assert len(steps) == 2 and all(len(row) == 2 for row in steps)
    first = steps[0][0]
    assert isinstance(first, StepSample)
    assert first.text == free.text[: free.text.find(delimiter)] and first.finished
    for row in steps:
        for s in row:
            assert delimiter not in s.text
            assert s.n_tokens == len(s.token_logprobs) and s.logprob == pytest.approx(sum(s.token_logprobs))


def test_propose_steps_default_budget_marks_unfinished(tiny_model, tiny_tokenizer):
    from agents.base import PolicyConfig

    policy = TransformersPolicy(tiny_model, tiny_tokenizer, PolicyConfig(step_max_tokens=3))
    policy.eos_token_ids = frozenset()
    steps = policy.propose_steps(make_states("\x00never\x00"), 4)
    for row in steps:
        assert len(row) == 4
        for s in row:
            assert s.n_tokens == 3 and not s.finished


def test_live_weights_are_used_by_the_next_call(tiny_tokenizer):
    from training.embedded import ModelConfig, build_model

    model = build_model(tiny_tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64), seed=1)
    policy = TransformersPolicy(model, tiny_tokenizer)
    before = policy.complete(PROMPTS[:1], 1, SamplingConfig(max_tokens=3, seed=0))[0][0]
    with torch.no_grad():
        model.lm_head.weight.zero_()  # tied: zero logits everywhere -> uniform distribution
    after = policy.complete(PROMPTS[:1], 1, SamplingConfig(max_tokens=3, seed=0))[0][0]
    uniform = -math.log(model.config.vocab_size)
    assert after.token_logprobs == pytest.approx([uniform] * 3, abs=1e-5)
    assert before.token_logprobs != pytest.approx([uniform] * 3, abs=1e-5)


def test_restores_training_mode(tiny_tokenizer):
    from training.embedded import ModelConfig, build_model

    model = build_model(tiny_tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64))
    model.train()
    TransformersPolicy(model, tiny_tokenizer).complete(PROMPTS[:1], 1, SamplingConfig(max_tokens=2))
    assert model.training


def test_from_pretrained_round_trip(tmp_path, tiny_model, tiny_tokenizer, policy):
    from agents.base import PolicyConfig
    from training.embedded import save_policy

    save_policy(tiny_model, tiny_tokenizer, tmp_path / "m")
    loaded = TransformersPolicy.from_pretrained(str(tmp_path / "m"), PolicyConfig(device="cpu"))
    loaded.eos_token_ids = frozenset()
    assert next(loaded.model.parameters()).dtype == torch.float32
    a = loaded.complete(PROMPTS, 1, GREEDY)
    b = policy.complete(PROMPTS, 1, GREEDY)
    assert [r[0].token_ids for r in a] == [r[0].token_ids for r in b]


def test_rejects_bad_arguments(policy):
    with pytest.raises(ValueError, match="n=0"):
        policy.complete(PROMPTS, 0, GREEDY)
    with pytest.raises(TypeError, match="wrap"):
        policy.complete("a prompt", 1, GREEDY)
    assert policy.complete([], 2, GREEDY) == []


def test_step_uniforms_scalar_and_broadcast_paths_agree():
    keys = torch.tensor([1, 2, 3], dtype=torch.long)
    table = step_uniforms(keys.unsqueeze(-1), torch.arange(5))  # [3, 5]
    assert table.shape == (3, 5)
    for step in range(5):
        assert torch.equal(table[:, step], step_uniforms(keys, step))


def _tiny_family_model(kind: str, vocab_size: int):
    """A tiny random model of another Llama-family layout: GQA llama, or qwen2 with q/k/v biases."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    shape = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    torch.manual_seed(3)
    if kind == "llama_gqa":
        return LlamaForCausalLM(LlamaConfig(**shape, tie_word_embeddings=False)).eval()
    model = Qwen2ForCausalLM(Qwen2Config(**shape, tie_word_embeddings=True)).eval()
    with torch.no_grad():
        for layer in model.model.layers:  # random init leaves biases at zero; make them matter
            layer.self_attn.q_proj.bias.normal_(0, 0.5)
            layer.self_attn.k_proj.bias.normal_(0, 0.5)
    return model


@pytest.mark.parametrize("kind", ["llama_gqa", "qwen2_bias"])
def test_lean_decoder_matches_transformers_forward(kind, tiny_tokenizer):
    model = _tiny_family_model(kind, len(tiny_tokenizer))
    policy = TransformersPolicy(model, tiny_tokenizer)
    policy.eos_token_ids = frozenset()
    cfg = SamplingConfig(max_tokens=6, seed=2)
    fast = policy.complete(PROMPTS, 2, cfg)
    policy.fast_decode = False
    slow = policy.complete(PROMPTS, 2, cfg)
    for prompt, row_fast, row_slow in zip(PROMPTS, fast, slow):
        prompt_ids = tiny_tokenizer(prompt)["input_ids"]
        for a, b in zip(row_fast, row_slow):
            assert a.token_ids == b.token_ids
            assert list(a.token_logprobs) == pytest.approx(reference_logprobs(model, prompt_ids, a.token_ids), abs=1e-4)


def test_lean_decoder_sees_in_place_weight_updates(tiny_tokenizer):
    model = _tiny_family_model("llama_gqa", len(tiny_tokenizer))
    policy = TransformersPolicy(model, tiny_tokenizer)
    cfg = SamplingConfig(max_tokens=4, temperature=0.0)
    before = policy.complete(PROMPTS[:1], 1, cfg)[0][0]
    with torch.no_grad():  # what an optimizer step does: in-place updates of q/k/v and gate/up
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(3.0)
            layer.mlp.up_proj.weight.add_(0.5)
    after = policy.complete(PROMPTS[:1], 1, cfg)[0][0]
    prompt_ids = tiny_tokenizer(PROMPTS[0])["input_ids"]
    assert list(after.token_logprobs) == pytest.approx(reference_logprobs(model, prompt_ids, after.token_ids), abs=1e-4)
    assert after.token_logprobs != pytest.approx(list(before.token_logprobs), abs=1e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generation_stops_at_the_first_token_completing_any_stop(policy, seed):
    cfg = SamplingConfig(max_tokens=24, seed=seed)
    free = policy.complete(PROMPTS[:1], 1, cfg)[0][0]
    decode = lambda ids: policy.tokenizer.decode(list(ids), skip_special_tokens=True)  # noqa: E731
    for start, length in [(2, 1), (4, 2), (7, 3), (10, 1)]:
        stop = free.text[start : start + length]
        if len(stop) < length:
            continue
        # the first prefix of the free continuation whose text holds the stop string
        n_expected = next(t for t in range(1, free.n_tokens + 1) if stop in decode(free.token_ids[:t]))
        got = policy.complete(PROMPTS[:1], 1, SamplingConfig(max_tokens=24, seed=seed, stop=(stop,)))[0][0]
        assert got.token_ids == free.token_ids[:n_expected]
        assert got.text == free.text[: free.text.find(stop)] and got.finish_reason == "stop"


def test_build_policy_loads_a_saved_directory(tmp_path, tiny_model, tiny_tokenizer):
    from agents import build_policy
    from agents.base import PolicyConfig
    from training.embedded import save_policy

    save_policy(tiny_model, tiny_tokenizer, tmp_path / "m")
    policy = build_policy(PolicyConfig(backend="transformers", model=str(tmp_path / "m"), device="cpu", max_batch_size=4))
    assert isinstance(policy, TransformersPolicy) and policy.config.max_batch_size == 4
    with pytest.raises(ValueError, match="model="):
        build_policy(PolicyConfig(backend="transformers"))
    with pytest.raises(ValueError, match="unknown policy backend 'nope': use one of .*transformers"):
        build_policy(PolicyConfig(backend="nope"))  # type: ignore[arg-type]
