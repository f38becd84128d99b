"""`TransformersPolicy`: the PolicyAgent over a live transformers causal LM.

Generation is a lean loop of our own (faster than `model.generate` at the batch sizes
search and GRPO use, see benchmarks/bench_generation.py):

1. prompts are tokenised, sorted by length and cut into chunks of at most
   `config.max_batch_size` sequences (prompt x sample rows);
2. each chunk's distinct prompts are prefilled once, left-padded, with explicit position
   ids; the KV cache is then indexed out to one row per sample (siblings share the prefill);
3. incremental decode with the KV cache; finished rows (eos, stop string, token budget)
   are dropped from the batch and the cache at once, so long stragglers run alone.

Sampling is inverse-CDF sampling with a counter-based uniform per (seed, prompt index,
sample index, step), not a stateful generator: a prompt's samples depend only on the seed,
the prompt's position in the call and the sample index, never on `max_batch_size` or the
prompts after it (up to floating-point differences between batch shapes, which can flip a
near-tie).
Log-probabilities are always those of the model's raw distribution (log-softmax of the
logits at temperature 1, no top-p), what GRPO's importance ratio needs.
"""

from __future__ import annotations

import inspect
from typing import Sequence

import torch

from agents._text import check_batch, propose_via_complete, truncate_at_stop
from agents.base import Completion, PolicyConfig, SamplingConfig, StepSample
from agents.chat import ChatPrompter, partial_response
from astro_env.errors import UserError
from astro_env.hub import check_model_source
from astro_env.state import ReasoningState

_MASK31 = (1 << 31) - 1
_MIX_MULT = 0x45D9F3B  # odd, < 2**31: products of 31-bit values stay inside int64


def _mix(x: int) -> int:
    """A bijective 31-bit integer hash (Python ints)."""
    x &= _MASK31
    x ^= x >> 16
    x = (x * _MIX_MULT) & _MASK31
    x ^= x >> 16
    x = (x * _MIX_MULT) & _MASK31
    x ^= x >> 16
    return x


def _mix_tensor(x: torch.Tensor) -> torch.Tensor:
    """`_mix` applied elementwise to an int64 tensor of 31-bit values."""
    x = x ^ (x >> 16)
    x = (x * _MIX_MULT) & _MASK31
    x = x ^ (x >> 16)
    x = (x * _MIX_MULT) & _MASK31
    return x ^ (x >> 16)


def row_hash(seed: int, prompt_idx: int, sample_idx: int) -> int:
    """The 31-bit key of one sampled row: a function of (seed, prompt index, sample index) only."""
    seed_key = _mix(_mix(seed & _MASK31) ^ (seed >> 31))
    return _mix(_mix(seed_key ^ _mix(prompt_idx + 1)) ^ _mix(sample_idx + 0x1234567))


def step_uniforms(row_keys: torch.Tensor, step: int | torch.Tensor) -> torch.Tensor:
    """Uniforms in (0, 1) (float64) for each row key at decode step `step`; broadcasts
    (`[n_rows, 1]` keys with `[n_steps]` steps give `[n_rows, n_steps]`)."""
    if isinstance(step, int):
        step_key = _mix(step + 0x2545F49)
    else:
        step_key = _mix_tensor((step + 0x2545F49) & _MASK31)
    h = _mix_tensor(_mix_tensor(row_keys ^ step_key))
    return (h.double() + 0.5) / float(1 << 31)


def sample_tokens(logits: torch.Tensor, temperature: float, top_p: float, uniforms: torch.Tensor | None) -> torch.Tensor:
    """Token ids `[n_rows]` drawn from `logits` `[n_rows, vocab]`.

    temperature 0 is greedy (first maximum). Otherwise inverse-CDF sampling of
    softmax(logits / temperature), restricted to the smallest set of tokens whose mass
    reaches `top_p` (always at least the most likely token), with `uniforms` `[n_rows]` in (0, 1).
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.double() / temperature, dim=-1)  # [n_rows, vocab]
    if top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        mass_before = probs.cumsum(dim=-1) - probs
        probs = probs.masked_fill(mass_before >= top_p, 0.0)
    else:
        order = None
    cdf = probs.cumsum(dim=-1)  # [n_rows, vocab]
    targets = (uniforms.to(cdf.device) * cdf[:, -1]).unsqueeze(-1)  # [n_rows, 1]
    picked = torch.searchsorted(cdf, targets, right=True).clamp_(max=cdf.shape[-1] - 1)  # [n_rows, 1]
    if order is not None:
        picked = order.gather(-1, picked)
    return picked.squeeze(-1)


def _auto_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _auto_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


class _HFRunner:
    """Prefill and decode through the model's own transformers forward and KV cache."""

    def __init__(self, model, cache_kwarg: str, has_logits_to_keep: bool):
        self.model, self.cache_kwarg, self.has_logits_to_keep = model, cache_kwarg, has_logits_to_keep
        self.cache = None

    def _forward(self, input_ids, attention_mask, position_ids, last_only: bool) -> torch.Tensor:
        kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=True)
        kwargs[self.cache_kwarg] = self.cache
        if last_only and self.has_logits_to_keep:
            kwargs["logits_to_keep"] = 1
        out = self.model(**kwargs)
        cache = getattr(out, "cache", None)
        self.cache = cache if cache is not None else out.past_key_values
        return out.logits[:, -1, :].float()

    def prefill(self, input_ids, attention_mask, position_ids) -> torch.Tensor:
        """Logits `[batch, vocab]` (float32) after each left-padded prompt."""
        return self._forward(input_ids, attention_mask, position_ids, last_only=True)

    def step(self, input_ids, attention_mask, position_ids) -> torch.Tensor:
        """Logits `[batch, vocab]` after appending `input_ids` `[batch, 1]`."""
        return self._forward(input_ids, attention_mask, position_ids, last_only=False)

    def select(self, rows: torch.Tensor) -> None:
        """Keep (or repeat) these batch rows of the KV cache, in this order."""
        self.cache.batch_select_indices(rows)


class _LlamaRunner:
    """A lean forward pass for Llama-family causal LMs (llama, mistral, qwen2) reading the
    model's live parameters: functional ops and a preallocated KV cache, no per-module
    Python overhead. Same maths as the transformers implementation (RMSNorm, rotary
    embedding from the model's own `rotary_emb`, GQA, SiLU-gated MLP)."""

    MODEL_TYPES = ("llama", "mistral", "qwen2")

    @classmethod
    def supports(cls, model, capacity: int) -> bool:
        """True when the model is one this runner reproduces exactly."""
        config = getattr(model, "config", None)
        inner = getattr(model, "model", None)
        if config is None or inner is None or getattr(config, "model_type", None) not in cls.MODEL_TYPES:
            return False
        if not hasattr(torch.nn.functional, "rms_norm") or not hasattr(inner, "rotary_emb"):
            return False
        if getattr(config, "hidden_act", "silu") != "silu" or getattr(config, "mlp_bias", False):
            return False
        if getattr(config, "pretraining_tp", 1) != 1:
            return False
        window = getattr(config, "sliding_window", None)
        if window and (config.model_type == "mistral" or getattr(config, "use_sliding_window", False)) and capacity > window:
            return False
        layers = getattr(inner, "layers", None)
        if not layers or not hasattr(layers[0], "self_attn") or not hasattr(layers[0].self_attn, "q_proj"):
            return False
        attn, mlp = layers[0].self_attn, getattr(layers[0], "mlp", None)
        projections = [getattr(attn, n, None) for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
        projections += [getattr(mlp, n, None) for n in ("gate_proj", "up_proj", "down_proj")]
        if not all(isinstance(p, torch.nn.Linear) for p in projections):  # e.g. LoRA-wrapped layers: their forward adds the adapter
            return False
        return all(
            type(module).__name__.endswith(("RMSNorm",)) for module in (inner.norm, layers[0].input_layernorm)
        ) and isinstance(model.get_output_embeddings(), torch.nn.Linear)

    def __init__(self, model, capacity: int):
        self.model = model
        inner = model.model
        config = model.config
        self.n_heads = config.num_attention_heads
        self.n_kv_heads = getattr(config, "num_key_value_heads", None) or self.n_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.n_heads
        self.hidden = config.hidden_size
        self.capacity = capacity
        self.rotary = inner.rotary_emb
        self.layers = inner.layers
        self.head = model.get_output_embeddings()
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.length = 0

    def _rms(self, x, norm) -> torch.Tensor:
        eps = getattr(norm, "variance_epsilon", None) or getattr(norm, "eps", 1e-6)
        return torch.nn.functional.rms_norm(x, (x.shape[-1],), norm.weight, eps)

    def _forward(self, input_ids, position_ids, attn_mask, causal: bool) -> torch.Tensor:
        F = torch.nn.functional
        model = self.model
        batch, n_new = input_ids.shape
        x = F.embedding(input_ids, model.model.embed_tokens.weight)  # [batch, n_new, hidden]
        cos, sin = self.rotary(x, position_ids)  # [batch, n_new, head_dim]
        half = self.head_dim // 2
        # rotate_half(x) == x.roll(half) * [-1]*half + [1]*half: fold the sign into sin
        sign = torch.ones(self.head_dim, dtype=sin.dtype, device=sin.device)
        sign[:half] = -1
        cos, sin = cos.unsqueeze(1), (sin * sign).unsqueeze(1)
        start, end = self.length, self.length + n_new
        n_qk = self.n_heads + self.n_kv_heads
        for idx, layer in enumerate(self.layers):
            attn, mlp = layer.self_attn, layer.mlp
            h = self._rms(x, layer.input_layernorm)
            qkv = torch.cat([F.linear(h, p.weight, p.bias) for p in (attn.q_proj, attn.k_proj, attn.v_proj)], dim=-1)
            qkv = qkv.view(batch, n_new, n_qk + self.n_kv_heads, self.head_dim).transpose(1, 2)  # [batch, heads, n_new, dim]
            qk = qkv[:, :n_qk]
            qk = torch.addcmul(qk * cos, qk.roll(half, dims=-1), sin)  # rotary embedding of q and k at once
            q, k, v = qk[:, : self.n_heads], qk[:, self.n_heads :], qkv[:, n_qk:]
            if len(self.keys) <= idx:
                shape = (batch, self.n_kv_heads, self.capacity, self.head_dim)
                self.keys.append(k.new_empty(shape))
                self.values.append(v.new_empty(shape))
            self.keys[idx][:, :, start:end] = k
            self.values[idx][:, :, start:end] = v
            keys, values = self.keys[idx][:, :, :end], self.values[idx][:, :, :end]
            if self.n_kv_heads != self.n_heads:
                keys = keys.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1)
                values = values.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1)
            scale = getattr(attn, "scaling", None) or self.head_dim**-0.5
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=attn_mask, is_causal=causal, scale=scale)
            # out: [batch, heads, n_new, head_dim]
            out = out.transpose(1, 2).reshape(batch, n_new, self.n_heads * self.head_dim)
            x = x + F.linear(out, attn.o_proj.weight, attn.o_proj.bias)
            h = self._rms(x, layer.post_attention_layernorm)
            gate, up = F.linear(h, mlp.gate_proj.weight), F.linear(h, mlp.up_proj.weight)
            x = x + F.linear(F.silu(gate) * up, mlp.down_proj.weight)
        self.length = end
        last = self._rms(x[:, -1, :], model.model.norm)  # [batch, hidden]
        return F.linear(last, self.head.weight, self.head.bias).float()

    def prefill(self, input_ids, attention_mask, position_ids) -> torch.Tensor:
        """Logits `[batch, vocab]` (float32) after each left-padded prompt."""
        if attention_mask is None:
            return self._forward(input_ids, position_ids, None, causal=input_ids.shape[1] > 1)
        width = input_ids.shape[1]
        causal = torch.ones((width, width), dtype=torch.bool, device=input_ids.device).tril()
        mask = causal & attention_mask.bool()[:, None, None, :]  # [batch, 1, width, width]
        # padding queries attend to themselves, so no row is fully masked (which would give NaN)
        mask = mask | torch.eye(width, dtype=torch.bool, device=input_ids.device)
        return self._forward(input_ids, position_ids, mask, causal=False)

    def step(self, input_ids, attention_mask, position_ids) -> torch.Tensor:
        """Logits `[batch, vocab]` after appending `input_ids` `[batch, 1]`."""
        mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        return self._forward(input_ids, position_ids, mask, causal=False)

    def select(self, rows: torch.Tensor) -> None:
        """Keep (or repeat) these batch rows of the KV cache, in this order."""
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]


def load_causal_lm(path_or_name: str, dtype, device, flag: str = "model", **kwargs):
    """(model, tokenizer) from a `save_pretrained` directory or hub name: the one loader of the
    project (the transformers backend, SFT and GRPO). The tokenizer gets a pad token (its EOS)
    when it has none. A missing directory, one that is not a saved model, or a hub id while the
    hub is unreachable raises one `UserError` naming `flag` and the local alternative.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_model_source(str(path_or_name), flag)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path_or_name))
        model = AutoModelForCausalLM.from_pretrained(str(path_or_name), dtype=dtype, **kwargs)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{flag} {path_or_name} could not be loaded ({first}); pass a local save_pretrained directory.") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device), tokenizer


class TransformersPolicy:
    """PolicyAgent over an in-memory transformers causal LM and its tokenizer.

    Wraps the live objects (no copies): weights an optimizer updates in place are used by the
    next call. `model` and `tokenizer` stay public for trainers. Prompts are rendered and tokenised
    by `chat` (`config.chat`: raw prompts with the tokenizer's default special tokens, or a chat
    template, whose end-of-turn token then also ends a completion). Unseeded calls (`sampling.seed is None`) draw their seed
    from `config.seed` and a per-policy call counter, so a run is reproducible call by call;
    a seeded call always gives the same samples for the same prompts and n.
    """

    def __init__(self, model, tokenizer, config: PolicyConfig | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config if config is not None else PolicyConfig(backend="transformers")
        self.name = f"transformers:{getattr(model, 'name_or_path', '') or type(model).__name__}"
        self.chat = ChatPrompter(self.config.chat, tokenizer)
        """Renders and tokenises prompts (`agents.chat`); trainers tokenise through it too."""
        self.eos_token_ids: frozenset[int] = self._find_eos_ids() | self.chat.stop_token_ids
        """Tokens that end a completion with finish_reason "eos" (empty: never)."""
        self.n_unseeded_calls = 0
        self._pieces: list[str] | None = None
        self._stop_filters: dict = {}
        self.fast_decode = True
        """Run Llama-family models (llama, mistral, qwen2) through the lean decoder in this module
        rather than the transformers forward (same numbers, less per-step overhead); others always
        use the transformers forward."""
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self._pad_id = int(pad)
        try:
            params = inspect.signature(model.forward).parameters
        except (TypeError, ValueError):
            params = {}
        self._has_logits_to_keep = "logits_to_keep" in params
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.2x

    @classmethod
    def from_config(cls, config: PolicyConfig) -> "TransformersPolicy":
        """`from_pretrained(config.model, config)`: the `transformers` entry of the policy registry."""
        return cls.from_pretrained(config.model, config)

    @classmethod
    def from_pretrained(cls, path_or_name: str, config: PolicyConfig | None = None) -> "TransformersPolicy":
        """A policy loaded from a local `save_pretrained` directory or a hub name.

        dtype "auto" is bfloat16 on a GPU that supports it, float32 otherwise; device "auto" is
        the first GPU when there is one, else the CPU (both from `config`); `config.extra` is
        passed to `AutoModelForCausalLM.from_pretrained` (e.g. `attn_implementation`).
        A missing directory, a directory that is not a saved model, or a hub id while the hub
        is unreachable raises one `UserError` (a ValueError) at once, naming the local alternative.
        """
        config = config if config is not None else PolicyConfig(backend="transformers", model=str(path_or_name))
        device = _auto_device(config.device)
        model, tokenizer = load_causal_lm(str(path_or_name), _auto_dtype(config.dtype, device), device, **config.extra)
        model.eval()
        return cls(model, tokenizer, config)

    def sync_weights(self, model) -> None:
        """Sample from `model` from now on: the live model a trainer updates in place (no copy is made)."""
        if model is not self.model:
            self.model = model
            self.eos_token_ids = self._find_eos_ids()

    def _find_eos_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        gen_config = getattr(self.model, "generation_config", None)
        eos = getattr(gen_config, "eos_token_id", None) if gen_config is not None else None
        if isinstance(eos, int):
            ids.add(eos)
        elif eos:
            ids.update(int(e) for e in eos)
        return frozenset(ids)

    # ---------------------------------------------------------------- contract

    def propose_steps(
        self,
        states: Sequence[ReasoningState],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[StepSample]]:
        """`n` candidate next steps per state: continuations of the rendered prompt and the steps so far
        (`state.text` for raw prompts), cut at `state.delimiter`.

        Default sampling: temperature 1, `config.step_max_tokens` tokens; the delimiter is
        added to `sampling.stop`. One batched generation per distinct delimiter.
        """
        return propose_via_complete(self.complete_ids, states, n, sampling, self.config.step_max_tokens, self.state_ids)

    def state_ids(self, states: Sequence[ReasoningState]) -> list[list[int]]:
        """Prompt ids of each state: its rendered task prompt followed by the steps so far (the assistant's partial turn)."""
        return self.chat.encode([s.prompt for s in states], [partial_response(s) for s in states])

    def complete_states(
        self,
        states: Sequence[ReasoningState],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[Completion]]:
        """`n` completions continuing each state's steps so far (outer list aligned with `states`)."""
        if n < 1:
            raise ValueError(f"n={n}: ask for at least one sample per prompt.")
        return self.complete_ids(self.state_ids(states), n, sampling) if states else []

    def complete(
        self,
        prompts: Sequence[str],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[Completion]]:
        """`n` completions per prompt (outer list aligned with `prompts`, inner with sample index)."""
        check_batch(prompts, n)
        if not prompts:
            return []
        return self.complete_ids(self.chat.encode(list(prompts)), n, sampling)

    def complete_ids(
        self,
        prompt_ids: Sequence[Sequence[int]],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[Completion]]:
        """`complete` for already tokenised prompts (what a trainer with its own tokenisation calls)."""
        if n < 1:
            raise ValueError(f"n={n}: ask for at least one sample per prompt.")
        sampling = sampling if sampling is not None else SamplingConfig()
        seed = sampling.seed
        if seed is None:
            seed = _mix(_mix(self.config.seed & _MASK31) ^ _mix(self.n_unseeded_calls + 0x777))
            self.n_unseeded_calls += 1
        prompt_ids = [self._checked_prompt(list(p)) for p in prompt_ids]
        order = sorted(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
        rows = [(p, s) for p in order for s in range(n)]  # (prompt index, sample index)
        results: list[list[Completion | None]] = [[None] * n for _ in prompt_ids]
        chunk = max(1, self.config.max_batch_size)
        model = self.model
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(rows), chunk):
                    part = rows[start : start + chunk]
                    done = self._generate_rows(
                        [prompt_ids[p] for p, _ in part],
                        [row_hash(seed, p, s) for p, s in part],
                        sampling,
                    )
                    for (p, s), completion in zip(part, done):
                        results[p][s] = completion
        finally:
            model.train(was_training)
        return results  # type: ignore[return-value]

    # ------------------------------------------------------------- generation

    def _checked_prompt(self, ids: list[int]) -> list[int]:
        if ids:
            return ids
        bos = self.tokenizer.bos_token_id
        if bos is None:
            raise ValueError("A prompt tokenised to no tokens and the tokenizer has no BOS token; pass non-empty prompts.")
        return [int(bos)]

    def _device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def _runner(self, capacity: int):
        """The forward-pass runner for one chunk: the lean Llama-family decoder when it applies, else HF forward."""
        if self.fast_decode and _LlamaRunner.supports(self.model, capacity):
            return _LlamaRunner(self.model, capacity)
        return _HFRunner(self.model, self._cache_kwarg, self._has_logits_to_keep)

    def _generate_rows(self, row_prompts: list[list[int]], row_keys: list[int], sampling: SamplingConfig) -> list[Completion]:
        """One Completion per row; rows with the same prompt share one prefill."""
        device = self._device()
        unique: dict[tuple[int, ...], int] = {}
        row_src = [unique.setdefault(tuple(p), len(unique)) for p in row_prompts]
        prompts = list(unique)
        n_unique, width = len(prompts), max(len(p) for p in prompts)
        input_ids = torch.full((n_unique, width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((n_unique, width), dtype=torch.long)
        for i, p in enumerate(prompts):
            input_ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[i, width - len(p) :] = 1
        padded = any(len(p) < width for p in prompts)
        positions = (mask.cumsum(-1) - 1).clamp_(min=0)
        input_ids, mask, positions = input_ids.to(device), mask.to(device), positions.to(device)
        runner = self._runner(width + sampling.max_tokens)
        logits = runner.prefill(input_ids, mask if padded else None, positions)

        n_rows = len(row_prompts)
        if row_src != list(range(n_unique)):
            src = torch.tensor(row_src, dtype=torch.long, device=device)
            runner.select(src)
            logits, mask = logits[src], mask[src]
            positions = positions[src]
        next_pos = positions[:, -1:] + 1  # [batch, 1]

        stops = tuple(s for s in sampling.stop if s)
        window = (max(len(s) for s in stops) + 4) if stops else 0
        decode_window = self._window_decoder()
        may_stop = self._stop_filter(stops, logits.shape[-1], device) if stops else None
        eos = self.eos_token_ids
        eos_tensor = torch.tensor(sorted(eos), dtype=torch.long, device=device) if eos else None

        keys = torch.tensor(row_keys, dtype=torch.long, device=device)  # [batch]
        alive = list(range(n_rows))  # batch position -> row
        gen_ids: list[list[int]] = [[] for _ in range(n_rows)]
        gen_lps: list[list[float]] = [[] for _ in range(n_rows)]
        reasons: list[str] = ["length"] * n_rows
        max_new = sampling.max_tokens
        if sampling.temperature > 0:
            steps = torch.arange(max_new, dtype=torch.long, device=device)
            all_uniforms = step_uniforms(keys.unsqueeze(-1), steps)  # [batch, max_new]
        for step in range(max_new):
            uniforms = all_uniforms[:, step] if sampling.temperature > 0 else None
            tokens = sample_tokens(logits, sampling.temperature, sampling.top_p, uniforms)  # [batch]
            logprobs = torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # [batch]
            # one device-to-host transfer per step: ids, log-probs, eos flags, stop-candidate flags
            columns = [tokens.double(), logprobs.double()]
            columns.append(torch.isin(tokens, eos_tensor).double() if eos_tensor is not None else torch.zeros_like(columns[1]))
            columns.append(may_stop[tokens].double() if stops else torch.zeros_like(columns[1]))
            token_list, lp_list, is_eos, flagged = torch.stack(columns).tolist()
            token_list = [int(t) for t in token_list]
            finished: list[bool] = []
            for b, row in enumerate(alive):
                gen_ids[row].append(token_list[b])
                gen_lps[row].append(lp_list[b])
                if is_eos[b]:
                    reasons[row] = "eos"
                finished.append(bool(is_eos[b]))
            if stops:
                check = [b for b in range(len(alive)) if flagged[b] and not finished[b]]
                texts = decode_window([gen_ids[alive[b]][-window:] for b in check])
                for b, text in zip(check, texts):
                    if any(s in text for s in stops):
                        reasons[alive[b]] = "stop"
                        finished[b] = True
            if step == max_new - 1:
                break
            if any(finished):
                keep = [b for b, f in enumerate(finished) if not f]
                if not keep:
                    break
                keep_t = torch.tensor(keep, dtype=torch.long, device=device)
                runner.select(keep_t)
                tokens, mask, next_pos = tokens[keep_t], mask[keep_t], next_pos[keep_t]
                if sampling.temperature > 0:
                    all_uniforms = all_uniforms[keep_t]
                alive = [alive[b] for b in keep]
            if padded:
                mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            logits = runner.step(tokens.unsqueeze(-1), mask if padded else None, next_pos)
            next_pos = next_pos + 1

        texts = self.tokenizer.batch_decode(gen_ids, skip_special_tokens=True)
        completions = []
        for row in range(n_rows):
            text, stop = truncate_at_stop(texts[row], stops) if stops else (texts[row], None)
            reason = "stop" if stop is not None else reasons[row]
            completions.append(
                Completion(
                    text=text,
                    token_ids=tuple(gen_ids[row]),
                    token_logprobs=tuple(gen_lps[row]),
                    finish_reason=reason,  # type: ignore[arg-type]
                    stop_reason=stop,
                )
            )
        return completions

    def _token_pieces(self) -> list[str]:
        """Each token's text as it reads after another token (cached): decode([anchor, t]) minus
        decode([anchor]), so tokenizers that drop a word's leading space at the start of a
        string still show it. Partial UTF-8 bytes read as U+FFFD."""
        if self._pieces is None:
            decode = self._window_decoder()
            anchor = self.tokenizer("a", add_special_tokens=False)["input_ids"][:1]
            prefix = decode([anchor])[0] if anchor else ""
            texts = decode([anchor + [t] for t in range(len(self.tokenizer))])
            self._pieces = [text[len(prefix) :] if text.startswith(prefix) else text for text in texts]
        return self._pieces

    def _stop_filter(self, stops: tuple[str, ...], vocab_size: int, device) -> torch.Tensor:
        """Bool `[vocab_size]`: True for tokens that may complete one of `stops` (their text holds
        a stop's last character, is empty or has a partial character); rows that sampled any
        other token skip the exact stop check, which is decoding text."""
        key = (stops, vocab_size, str(device))
        if key not in self._stop_filters:
            pieces = self._token_pieces()
            last_chars = {stop[-1] for stop in stops}
            flags = [True] * vocab_size
            for token, piece in enumerate(pieces[:vocab_size]):
                flags[token] = not piece or "\ufffd" in piece or any(c in piece for c in last_chars)
            self._stop_filters[key] = torch.tensor(flags, dtype=torch.bool, device=device)
        return self._stop_filters[key]

    def _window_decoder(self):
        """A function decoding a batch of short id lists to text (the fast Rust path when available)."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None and hasattr(backend, "decode_batch"):
            return lambda seqs: backend.decode_batch(seqs, skip_special_tokens=True) if seqs else []
        return lambda seqs: self.tokenizer.batch_decode(seqs, skip_special_tokens=True) if seqs else []
