"""Policy agents: the `PolicyAgent` contract (`agents.base`) and its backends.

`build_policy(config)` turns a `PolicyConfig` into a backend; each backend's module (and
torch, vLLM...) is imported only when that backend is asked for.
"""

from __future__ import annotations

from agents.base import Completion, PolicyAgent, PolicyConfig, SamplingConfig, StepSample

__all__ = ["Completion", "PolicyAgent", "PolicyConfig", "SamplingConfig", "StepSample", "build_policy"]


def build_policy(config: PolicyConfig) -> PolicyAgent:
    """The PolicyAgent that `config.backend` names, built from `config`.

    `config.backend` is a registered backend (entry-point group `astro.policies`: transformers,
    vllm, openai, countdown, and whatever installed plug-ins add) or a `package.module:factory`
    import path; the factory is called with `config`. Raises ValueError for an unknown backend or
    a missing `config.model` where one is needed.
    """
    from astro_env.registry import POLICIES

    backend = config.backend
    if backend in ("transformers", "vllm", "openai") and not config.model:
        raise ValueError(
            f"PolicyConfig(backend={backend!r}) needs model=...: a save_pretrained directory or hub name"
            + (" (openai: the served model name)." if backend == "openai" else ".")
        )
    factory, _ = POLICIES.load(backend)
    policy = factory(config)
    missing = [m for m in ("propose_steps", "complete") if not callable(getattr(policy, m, None))]
    if missing:
        raise ValueError(f"policy backend {backend!r} built {type(policy).__name__}, which lacks {', '.join(missing)}(): see agents.base.PolicyAgent.")
    return policy
