"""VLLMPolicy: the import error, the request/record mapping over a fake engine, and (when
vLLM and a GPU are present) conformance against TransformersPolicy on the tiny model."""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass, field

import pytest

from agents import build_policy
from agents.base import PolicyConfig, SamplingConfig
from astro_env.problem import Problem
from astro_env.state import initial_state


def test_missing_vllm_gives_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail even where it is installed
    from agents.vllm_backend import VLLMPolicy

    with pytest.raises(ImportError, match=r"pip install 'astro-gym\[vllm\]'"):
        VLLMPolicy(PolicyConfig(backend="vllm", model="some/model"))
    with pytest.raises(ImportError, match=r"astro-gym\[vllm\]"):
        build_policy(PolicyConfig(backend="vllm", model="some/model"))


# ------------------------------------------------------------------ fake engine


@dataclass
class FakeLogprob:
    logprob: float


@dataclass
class FakeOutput:
    text: str
    token_ids: list
    logprobs: list | None
    finish_reason: str
    stop_reason: object = None


@dataclass
class FakeRequestOutput:
    outputs: list


@dataclass
class FakeSamplingParams:
    n: int = 1
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list | None = None
    seed: int | None = None
    logprobs: int | None = None


@dataclass
class FakeLLM:
    """Echoes "<prompt tail>#<seed>"; a prompt ending in "!" ends at a stop string (kept in the text,
    as a server might), one ending in "?" at eos; otherwise the budget."""

    calls: list = field(default_factory=list)
    loaded: list = field(default_factory=list)
    n_resets: int = 0

    def get_tokenizer(self):
        return "tok"

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append((list(prompts), list(params)))
        out = []
        for prompt, p in zip(prompts, params):
            ids = [1, 2, 3]
            lps = [{1: FakeLogprob(-0.1), 9: FakeLogprob(-5.0)}, {2: FakeLogprob(-0.2)}, {3: FakeLogprob(-0.3)}]
            if prompt.endswith("!"):
                text, reason, stop_reason = f"{prompt[-2:]}#{p.seed}{p.stop[0]}tail", "stop", p.stop[0]
            elif prompt.endswith("?"):
                text, reason, stop_reason = f"{prompt[-2:]}#{p.seed}", "stop", 0  # eos token id
            else:
                text, reason, stop_reason = f"{prompt[-2:]}#{p.seed}", "length", None
            out.append(FakeRequestOutput([FakeOutput(text, ids, lps, reason, stop_reason)]))
        return out

    def apply_model(self, fn):
        model = types.SimpleNamespace(load_weights=lambda weights: self.loaded.append(list(weights)))
        return [fn(model)]

    def reset_prefix_cache(self):
        self.n_resets += 1


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.SamplingParams = FakeSamplingParams
    module.built = []

    def make_llm(model, **kwargs):
        module.built.append((model, kwargs))
        return FakeLLM()

    module.LLM = make_llm
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


def test_engine_is_built_with_prefix_caching_and_extra_kwargs(fake_vllm, tmp_path):
    (tmp_path / "config.json").write_text("{}")  # a saved model directory
    model = str(tmp_path)
    policy = build_policy(
        PolicyConfig(backend="vllm", model=model, seed=3, extra={"gpu_memory_utilization": 0.3, "enforce_eager": True})
    )
    assert fake_vllm.built == [
        (model, {"enable_prefix_caching": True, "seed": 3, "dtype": "auto", "gpu_memory_utilization": 0.3, "enforce_eager": True})
    ]
    assert policy.tokenizer == "tok" and policy.name == f"vllm:{model}"


def test_a_missing_model_directory_fails_before_the_engine_starts(fake_vllm, tmp_path):
    with pytest.raises(ValueError, match="no such directory"):
        build_policy(PolicyConfig(backend="vllm", model=str(tmp_path / "gone" / "model")))
    assert fake_vllm.built == []


def test_complete_maps_requests_and_records(fake_vllm):
    from agents.vllm_backend import VLLMPolicy

    llm = FakeLLM()
    policy = VLLMPolicy(PolicyConfig(backend="vllm", model="m"), llm=llm)
    sampling = SamplingConfig(max_tokens=7, temperature=0.5, top_p=0.8, stop=("\n\n",), seed=4)
    out = policy.complete(["aa", "bb!", "cc?"], 2, sampling)
    prompts, params = llm.calls[0]
    assert prompts == ["aa", "aa", "bb!", "bb!", "cc?", "cc?"]  # one n=1 request per sample, one engine call
    assert all(p.n == 1 and p.max_tokens == 7 and p.temperature == 0.5 and p.top_p == 0.8 for p in params)
    assert all(p.stop == ["\n\n"] and p.logprobs == 0 for p in params)
    seeds = [p.seed for p in params]
    assert len(set(seeds)) == 6  # siblings are independent draws
    again = policy.complete(["aa", "bb!", "cc?"], 2, sampling)
    assert again == out  # same seed, same requests
    assert [p.seed for p in llm.calls[1][1]] == seeds

    assert [len(row) for row in out] == [2, 2, 2]
    plain, stopped, eos = out[0][0], out[1][0], out[2][0]
    assert plain.finish_reason == "length" and plain.text == f"aa#{seeds[0]}"
    assert stopped.finish_reason == "stop" and stopped.stop_reason == "\n\n" and stopped.text == f"b!#{seeds[2]}"
    assert eos.finish_reason == "eos" and eos.stop_reason is None
    assert plain.token_ids == (1, 2, 3) and plain.token_logprobs == (-0.1, -0.2, -0.3)


def test_unseeded_calls_vary_but_replay(fake_vllm):
    from agents.vllm_backend import VLLMPolicy

    seeds = []
    for _ in range(2):
        llm = FakeLLM()
        policy = VLLMPolicy(PolicyConfig(backend="vllm", model="m", seed=1), llm=llm)
        policy.complete(["x"], 1, SamplingConfig())
        policy.complete(["x"], 1, SamplingConfig())
        seeds.append([call[1][0].seed for call in llm.calls])
    assert seeds[0] == seeds[1] and seeds[0][0] != seeds[0][1]


def test_propose_steps_stop_at_delimiter(fake_vllm):
    from agents.vllm_backend import VLLMPolicy

    llm = FakeLLM()
    policy = VLLMPolicy(PolicyConfig(backend="vllm", model="m", step_max_tokens=9), llm=llm)
    problem = Problem(id="p", problem="Numbers: 1 2\nTarget: 3!", answer="3", task="countdown")
    state = initial_state(problem, problem.problem, delimiter="!")
    steps = policy.propose_steps([state], 3)
    prompts, params = llm.calls[0]
    assert prompts == [state.text] * 3
    assert all(p.stop == ["!"] and p.max_tokens == 9 and p.temperature == 1.0 for p in params)
    assert all(s.finished and "!" not in s.text and s.n_tokens == 3 for s in steps[0])
    assert steps[0][0].logprob == pytest.approx(-0.6)


def test_sync_weights_pushes_parameters_and_resets_prefix_cache(fake_vllm):
    torch = pytest.importorskip("torch")
    from agents.vllm_backend import VLLMPolicy

    llm = FakeLLM()
    policy = VLLMPolicy(PolicyConfig(backend="vllm", model="m"), llm=llm)
    model = torch.nn.Linear(2, 3)
    policy.sync_weights(model)
    (weights,) = llm.loaded
    assert [name for name, _ in weights] == ["weight", "bias"]
    assert torch.equal(weights[0][1], model.weight) and not weights[0][1].requires_grad
    assert llm.n_resets == 1


# ------------------------------------------------------- real vLLM (GPU machines)

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.vllm
@pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not installed (pip install 'astro-gym[vllm]'; needs a CUDA GPU)")
def test_vllm_greedy_matches_transformers(tmp_path, tiny_model, tiny_tokenizer):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("vLLM conformance needs a CUDA GPU")
    from agents.hf import TransformersPolicy
    from agents.vllm_backend import VLLMPolicy
    from training.embedded import save_policy

    save_policy(tiny_model, tiny_tokenizer, tmp_path / "m")
    config = PolicyConfig(
        backend="vllm",
        model=str(tmp_path / "m"),
        dtype="float32",
        extra={"gpu_memory_utilization": 0.2, "enforce_eager": True, "max_model_len": 512},
    )
    policy = VLLMPolicy(config)
    reference = TransformersPolicy(tiny_model, tiny_tokenizer)
    reference.eos_token_ids = frozenset({tiny_tokenizer.eos_token_id})
    prompts = ["Numbers: 3 5 7\nTarget: 26\n\n", "5*7=35"]
    greedy = SamplingConfig(max_tokens=8, temperature=0.0)
    got = policy.complete(prompts, 2, greedy)
    want = reference.complete(prompts, 1, greedy)
    for row, ref in zip(got, want):
        assert row[0].token_ids == row[1].token_ids
        assert row[0].token_ids[:4] == ref[0].token_ids[:4]
        assert list(row[0].token_logprobs[:4]) == pytest.approx(list(ref[0].token_logprobs[:4]), abs=1e-3)
    sampled = policy.complete(prompts, 3, SamplingConfig(max_tokens=6, seed=1, stop=("=",)))
    assert sampled == policy.complete(prompts, 3, SamplingConfig(max_tokens=6, seed=1, stop=("=",)))
    assert all("=" not in c.text and c.n_tokens <= 6 for row in sampled for c in row)
