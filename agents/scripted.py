"""`ScriptedPolicy`: a fake `PolicyAgent` that follows a script of candidate steps (for tests).

The script maps the steps taken so far (a tuple) to the candidate next steps:

    ScriptedPolicy({(): ["a", "b"], ("b",): ["\\boxed{4}"]})

proposes "a" and "b" at the start and "\\boxed{4}" after "b"; after "a" it has nothing to say.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Mapping, Sequence

from agents.base import Completion, SamplingConfig, StepSample
from astro_env.state import DEFAULT_DELIMITER, ReasoningState


def _key_seed(seed: int, key: tuple[str, ...], salt: str) -> int:
    digest = hashlib.sha256(repr((seed, key, salt)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


class ScriptedPolicy:
    """A deterministic, seedable `PolicyAgent` driven by a `{steps so far: candidates}` script.

    `propose_steps(states, n)`: for each state the candidates of `script[state.steps]`
    (an empty list when the script has no entry): all of them in order, cycled, when
    `n >= len(candidates)`, else `n` drawn without replacement with a seeded rng. Every
    candidate has one token and log-probability -log(len(candidates)) unless `logprobs`
    gives a per-step value.

    `complete(prompts, n, sampling)`: finds the longest script key whose steps (each followed
    by the delimiter) end the prompt (the empty key always matches), then walks the script,
    choosing uniformly (seeded) among the candidates, until a key has no entry. The text is
    the chosen steps joined by the delimiter; one token per step.

    The seed of a call is `sampling.seed` when given, else the constructor's `seed`;
    identical inputs give identical outputs.
    """

    name = "scripted"

    def __init__(
        self,
        script: Mapping[tuple[str, ...], Sequence[str]],
        seed: int = 0,
        delimiter: str = DEFAULT_DELIMITER,
        logprobs: Mapping[str, float] | None = None,
        max_steps: int = 100,
    ) -> None:
        self.script = {tuple(k): list(v) for k, v in script.items()}
        self.seed = seed
        self.delimiter = delimiter
        self.logprobs = dict(logprobs or {})
        self.max_steps = max_steps
        self.n_calls = {"propose_steps": 0, "complete": 0}

    def _logprob(self, step: str, n_candidates: int) -> float:
        return self.logprobs.get(step, -math.log(max(n_candidates, 1)))

    def _seed(self, sampling: SamplingConfig | None) -> int:
        return sampling.seed if sampling is not None and sampling.seed is not None else self.seed

    def propose_steps(
        self,
        states: Sequence[ReasoningState],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[StepSample]]:
        """`n` scripted candidate steps per state (fewer only when the script has none)."""
        self.n_calls["propose_steps"] += 1
        seed = self._seed(sampling)
        out: list[list[StepSample]] = []
        for state in states:
            candidates = self.script.get(tuple(state.steps), [])
            if not candidates:
                out.append([])
                continue
            if n >= len(candidates):
                chosen = [candidates[i % len(candidates)] for i in range(n)]
            else:
                rng = random.Random(_key_seed(seed, tuple(state.steps), "propose"))
                chosen = rng.sample(candidates, n)
            out.append(
                [
                    StepSample(text=c, logprob=self._logprob(c, len(candidates)), token_logprobs=(self._logprob(c, len(candidates)),), n_tokens=1)
                    for c in chosen
                ]
            )
        return out

    def _match(self, prompt: str) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for key in self.script:
            if len(key) > len(best) and prompt.endswith("".join(s + self.delimiter for s in key)):
                best = key
        return best

    def complete(self, prompts: Sequence[str], n: int, sampling: SamplingConfig) -> list[list[Completion]]:
        """`n` scripted walks from each prompt to a key without an entry (see the class doc)."""
        self.n_calls["complete"] += 1
        seed = self._seed(sampling)
        out: list[list[Completion]] = []
        for prompt in prompts:
            start = self._match(prompt)
            rng = random.Random(_key_seed(seed, start, "complete:" + prompt))
            group = []
            for _ in range(n):
                key, steps, logprobs = start, [], []
                while key in self.script and self.script[key] and len(steps) < self.max_steps:
                    candidates = self.script[key]
                    step = candidates[rng.randrange(len(candidates))]
                    steps.append(step)
                    logprobs.append(self._logprob(step, len(candidates)))
                    key = key + (step,)
                group.append(Completion(text=self.delimiter.join(steps), token_logprobs=tuple(logprobs), finish_reason="eos"))
            out.append(group)
        return out
