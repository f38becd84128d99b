"""The `PolicyAgent` contract: batch in, batch out, whatever backend sits behind it.

Search agents and trainers talk only to this protocol, so swapping transformers for vLLM,
an OpenAI-compatible server or the symbolic Countdown proposer is one config value.
This module imports no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence, runtime_checkable

from agents.chat import ChatConfig
from astro_env.state import ReasoningState


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample one batch of completions."""

    max_tokens: int = 512
    """Most new tokens per completion."""
    temperature: float = 1.0
    """Softmax temperature; 0 means greedy."""
    top_p: float = 1.0
    """Nucleus sampling mass in (0, 1]."""
    stop: tuple[str, ...] = ()
    """Stop strings: generation ends after the first one; the text keeps it out (see Completion)."""
    seed: int | None = None
    """Seed for this call; same seed, same prompts, same backend: same samples."""

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens={self.max_tokens}: use >= 1.")
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise ValueError(f"temperature={self.temperature}: use a finite value >= 0 (0 = greedy).")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p}: use a value in (0, 1].")
        if isinstance(self.stop, str):
            raise ValueError("stop must be a tuple of strings, not a single string: stop=(%r,)" % self.stop)


@dataclass(frozen=True)
class Completion:
    """One sampled continuation of a prompt.

    `text` excludes the stop string that ended it (`finish_reason == "stop"`); `token_ids`
    and `token_logprobs` cover exactly the generated tokens (the stop string's tokens
    included when the backend generated them), with `logprob` their sum under the sampling
    distribution's underlying model (temperature 1, no top-p), which GRPO needs.
    """

    text: str
    token_ids: tuple[int, ...] = ()
    token_logprobs: tuple[float, ...] = ()
    finish_reason: Literal["stop", "length", "eos"] = "eos"
    stop_reason: str | None = None
    """The stop string that ended the completion, if any."""

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids) if self.token_ids else len(self.token_logprobs)

    @property
    def logprob(self) -> float:
        return float(sum(self.token_logprobs))

    @property
    def truncated(self) -> bool:
        """True when the completion hit max_tokens before ending on its own."""
        return self.finish_reason == "length"


@dataclass(frozen=True)
class StepSample:
    """One candidate next reasoning step for a state."""

    text: str
    logprob: float
    """Summed log-probability of the step's tokens."""
    token_logprobs: tuple[float, ...] = ()
    n_tokens: int = 0
    finished: bool = True
    """False when the step was cut at the token budget rather than ending at the delimiter."""

    @property
    def mean_logprob(self) -> float:
        """Length-normalised log-probability (what ASTRO's sibling priors use)."""
        return self.logprob / max(self.n_tokens, 1)


@runtime_checkable
class PolicyAgent(Protocol):
    """What every policy backend provides."""

    name: str

    def propose_steps(
        self,
        states: Sequence[ReasoningState],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[StepSample]]:
        """`n` candidate next steps for each state (outer list aligned with `states`).

        A step stops at the state's delimiter (not included in the text) or at end of text.
        Candidates may repeat; callers deduplicate if they want to.
        """
        ...

    def complete(
        self,
        prompts: Sequence[str],
        n: int,
        sampling: SamplingConfig,
    ) -> list[list[Completion]]:
        """`n` completions for each prompt (outer list aligned with `prompts`).

        Each prompt is a task prompt (what `Task.format_prompt` writes); a backend with a chat
        template renders it as the user turn. `complete_states` continues a partial solution.
        """
        ...


def complete_states(policy: PolicyAgent, states: Sequence[ReasoningState], n: int, sampling: SamplingConfig) -> list[list[Completion]]:
    """`n` completions continuing each state's partial solution (outer list aligned with `states`).

    Backends that render prompts themselves (chat templates) provide `complete_states` and are
    given the states, so the steps so far continue the assistant's turn; any other policy is
    asked `complete([state.text for state in states])`, the raw prompt followed by the steps.
    """
    method = getattr(policy, "complete_states", None)
    if callable(method):
        return method(states, n, sampling)
    return policy.complete([state.text for state in states], n, sampling)


@runtime_checkable
class TrainablePolicyAgent(PolicyAgent, Protocol):
    """What the GRPO trainer needs of a rollout backend on top of `PolicyAgent` (transformers, vLLM, plug-ins).

    GRPO builds the backend with `agents.build_policy` from the checkpoint it starts from, then
    calls `sync_weights(model)` with the live model it trains, once before the first rollout and
    after every optimiser step: an engine with its own copy of the weights loads them (vLLM), a
    backend over an in-memory model adopts the live one (transformers).

    Optional: `complete_ids(prompt_ids, n, sampling) -> list[list[Completion]]`, `complete` for
    already tokenised prompts. The trainer scores completions with its own tokenisation, so it
    samples from exactly those prompt ids where the backend has it; a backend without it is
    sampled through `complete` on the prompt text instead (see `training.rollout`).
    """

    def sync_weights(self, model) -> None:
        """Make the next samples come from `model`'s current weights (a transformers causal LM)."""
        ...


@dataclass(frozen=True)
class PolicyConfig:
    """Which policy backend to build and how (`agents.build_policy` consumes it)."""

    backend: str = "transformers"
    """Policy backend: a registered name (transformers, vllm, openai, countdown, or a plug-in's) or a
    `package.module:factory` import path; the factory is called with this config."""
    model: str = ""
    """Local `save_pretrained` directory or hub name (transformers/vLLM), model name (openai)."""
    base_url: str = "http://127.0.0.1:8000/v1"
    """OpenAI-compatible server address (openai backend)."""
    device: str = "auto"
    """torch device for the transformers backend: auto, cpu, cuda, cuda:1..."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights dtype: auto = bf16 on GPUs that support it, fp32 on CPU."""
    max_batch_size: int = 64
    """Largest number of sequences generated together (transformers backend)."""
    step_max_tokens: int = 256
    """Token budget of one proposed step."""
    seed: int = 0
    """Backend seed (deterministic sampling where the backend allows it)."""
    chat: ChatConfig = field(default_factory=ChatConfig)
    """Chat template and system prompt the backend renders prompts with (`agents.chat`; default: raw prompts)."""
    extra: dict = field(default_factory=dict, hash=False, compare=False)
    """Backend-specific keyword arguments (e.g. vLLM's gpu_memory_utilization)."""
