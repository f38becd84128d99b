"""VLLMPolicy over a fake engine: the import error, the request/record mapping and the weight-sync
route. The real engine is exercised in test_vllm_engine.py (marker `vllm`)."""

from __future__ import annotations

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

    extension: str | None = "agents.vllm_backend.WeightSyncExtension"
    rpc: list = field(default_factory=list)

    @property
    def llm_engine(self):
        parallel = types.SimpleNamespace(worker_extension_cls=self.extension)
        return types.SimpleNamespace(vllm_config=types.SimpleNamespace(parallel_config=parallel))

    def collective_rpc(self, method, timeout=None, args=(), kwargs=None):
        if not isinstance(method, str):
            raise TypeError(f"Object of type {type(method)} is not serializable")  # what the real engine core says
        self.rpc.append((method, args))
        from agents.vllm_backend import unpack_tensors

        self.loaded.append(unpack_tensors(args[0]))
        return [len(args[0])]

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


def test_engine_is_built_with_prefix_caching_and_extra_kwargs(fake_vllm, tmp_path, monkeypatch):
    import agents.vllm_backend as backend

    monkeypatch.setattr(backend, "_has_cuda", lambda: True)
    (tmp_path / "config.json").write_text("{}")  # a saved model directory
    model = str(tmp_path)
    policy = build_policy(
        PolicyConfig(backend="vllm", model=model, seed=3, extra={"gpu_memory_utilization": 0.3, "enforce_eager": True})
    )
    assert fake_vllm.built == [
        (model, {"enable_prefix_caching": True, "seed": 3, "dtype": "auto",
                 "worker_extension_cls": "agents.vllm_backend.WeightSyncExtension",
                 "gpu_memory_utilization": 0.3, "enforce_eager": True})
    ]
    assert policy.tokenizer == "tok" and policy.name == f"vllm:{model}"


def test_a_missing_model_directory_fails_before_the_engine_starts(fake_vllm, tmp_path):
    with pytest.raises(ValueError, match="no such directory"):
        build_policy(PolicyConfig(backend="vllm", model=str(tmp_path / "gone" / "model")))
    assert fake_vllm.built == []


def test_cpu_engine_defaults_to_eager_without_chunked_prefill(fake_vllm, monkeypatch, tmp_path):
    import agents.vllm_backend as backend

    monkeypatch.setattr(backend, "_has_cuda", lambda: False)
    (tmp_path / "config.json").write_text("{}")  # a saved model directory
    build_policy(PolicyConfig(backend="vllm", model=str(tmp_path)))
    assert fake_vllm.built[-1][1]["enforce_eager"] is True  # torch.compile start-up costs minutes on the CPU
    assert fake_vllm.built[-1][1]["enable_chunked_prefill"] is False  # seeded split prompts crash the CPU sampler
    build_policy(PolicyConfig(backend="vllm", model=str(tmp_path), extra={"enforce_eager": False}))
    assert fake_vllm.built[-1][1]["enforce_eager"] is False  # extra overrides the CPU defaults


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
    import torch
    from agents.vllm_backend import VLLMPolicy

    llm = FakeLLM()
    policy = VLLMPolicy(PolicyConfig(backend="vllm", model="m"), llm=llm)
    model = torch.nn.Linear(2, 3)
    policy.sync_weights(model)
    (weights,) = llm.loaded
    assert [method for method, _ in llm.rpc] == ["astro_load_weights"]  # a method name, never a pickled function
    assert [name for name, _ in weights] == ["weight", "bias"]
    assert torch.equal(weights[0][1], model.weight) and not weights[0][1].requires_grad
    assert llm.n_resets == 1


def test_sync_without_the_worker_extension_says_how_to_build_the_engine(fake_vllm):
    import torch
    from agents.vllm_backend import VLLMPolicy

    llm = FakeLLM(extension=None)
    policy = VLLMPolicy(PolicyConfig(backend="vllm", model="m"), llm=llm)
    with pytest.raises(RuntimeError, match="worker_extension_cls"):
        policy.sync_weights(torch.nn.Linear(2, 3))
    assert llm.rpc == [] and llm.n_resets == 0


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "int64"])
def test_packed_tensors_round_trip_exactly(dtype):
    import torch
    from agents.vllm_backend import pack_tensors, unpack_tensors

    source = [("a.weight", (torch.randn(3, 5) * 100).to(getattr(torch, dtype))), ("b", torch.arange(4).to(getattr(torch, dtype))[1:])]
    packed = pack_tensors(source)
    assert all(isinstance(raw, bytes) and isinstance(shape, list) for _, _, shape, raw in packed)
    back = unpack_tensors(packed)
    assert [n for n, _ in back] == ["a.weight", "b"]
    for (_, want), (_, got) in zip(source, back):
        assert got.dtype == want.dtype and got.shape == want.shape and torch.equal(got, want)
