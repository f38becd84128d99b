"""Policy agents: the `PolicyAgent` contract (`agents.base`) and its backends.

`build_policy(config)` turns a `PolicyConfig` into a backend; each backend's module (and
torch, vLLM...) is imported only when that backend is asked for.
"""

from __future__ import annotations

from agents.base import Completion, PolicyAgent, PolicyConfig, SamplingConfig, StepSample

__all__ = ["Completion", "PolicyAgent", "PolicyConfig", "SamplingConfig", "StepSample", "build_policy"]


def build_policy(config: PolicyConfig) -> PolicyAgent:
    """The PolicyAgent that `config.backend` names, built from `config`.

    transformers: `TransformersPolicy.from_pretrained(config.model, config)`; vllm:
    `VLLMPolicy(config)`; openai: `OpenAIPolicy(config)`; countdown: the symbolic
    `CountdownPolicy(seed=config.seed)`. Raises ValueError for an unknown backend or a
    missing `config.model` where one is needed.
    """
    backend = config.backend
    if backend in ("transformers", "vllm", "openai") and not config.model:
        raise ValueError(
            f"PolicyConfig(backend={backend!r}) needs model=...: a save_pretrained directory or hub name"
            + (" (openai: the served model name)." if backend == "openai" else ".")
        )
    if backend == "transformers":
        from agents.hf import TransformersPolicy

        return TransformersPolicy.from_pretrained(config.model, config)
    if backend == "vllm":
        from agents.vllm_backend import VLLMPolicy

        return VLLMPolicy(config)
    if backend == "openai":
        from agents.openai_backend import OpenAIPolicy

        return OpenAIPolicy(config)
    if backend == "countdown":
        from agents.countdown_policy import CountdownPolicy

        return CountdownPolicy(seed=config.seed)
    raise ValueError(f"backend={backend!r}: use one of 'transformers', 'vllm', 'openai', 'countdown'.")
