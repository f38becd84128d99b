"""An outside policy backend: a guesser that boxes a random small integer.

A baseline for tasks with integer answers (and a template for wrapping any engine): it
implements the `agents.base.PolicyAgent` contract, `propose_steps` and `complete`, and is
built from a `PolicyConfig` by the factory the registry calls. Use it by import path:

    astro search --problems countdown:4 --policy.backend examples.custom_policy:GuessingPolicy --out trees.jsonl

Installed (`pip install -e examples/`), it is the backend `guess`.
"""

from __future__ import annotations

import math
import random
from typing import Sequence

from agents.base import Completion, PolicyConfig, SamplingConfig, StepSample
from astro_env.state import ReasoningState


class GuessingPolicy:
    """Every step and every completion is "The answer is \\boxed{k}" with k uniform in 0..`high`."""

    name = "guess"

    def __init__(self, config: PolicyConfig) -> None:
        self.seed = config.seed
        self.high = int(config.extra.get("high", 9))

    def _guess(self, rng: random.Random) -> str:
        return f"The answer is \\boxed{{{rng.randint(0, self.high)}}}."

    def propose_steps(self, states: Sequence[ReasoningState], n: int, sampling: SamplingConfig | None = None) -> list[list[StepSample]]:
        seed = self.seed if sampling is None or sampling.seed is None else sampling.seed
        rng = random.Random(seed)
        logprob = -math.log(self.high + 1)
        return [[StepSample(text=self._guess(rng), logprob=logprob, token_logprobs=(logprob,), n_tokens=1) for _ in range(n)]
                for _ in states]

    def complete(self, prompts: Sequence[str], n: int, sampling: SamplingConfig) -> list[list[Completion]]:
        rng = random.Random(self.seed if sampling.seed is None else sampling.seed)
        return [[Completion(text=self._guess(rng), token_logprobs=(0.0,)) for _ in range(n)] for _ in prompts]
