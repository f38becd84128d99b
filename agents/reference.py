"""`ReferenceTeacher`: a search policy that proposes a problem's reference-solution steps plus
perturbed wrong answers. A plumbing check, not a model.

It lets every stage of the MATH pipeline run on real problem text on a CPU, where no capable
model is available: search trees get correct leaves (the reference's own steps, ending in its
boxed answer) and wrong leaves (the same prefix, then a confidently wrong boxed answer), so
linearisation, verbalisation, SFT, GRPO and evaluation all see realistic shapes. It knows the
answers: numbers from runs that use it say nothing about any model. Problems without a
solution get a one-step reference, `\\boxed{answer}`.

Deterministic: every choice derives from the call's seed, the problem id and the depth. This
module imports no torch.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from typing import Sequence

from agents.base import Completion, SamplingConfig, StepSample
from astro_env.problem import Problem
from astro_env.state import ReasoningState

P_REFERENCE = 0.5
"""Probability that a proposed step is the reference's next step (else a wrong final answer)."""


def reference_steps(problem: Problem, delimiter: str = "\n\n") -> list[str]:
    """The reference solution as steps (split at `delimiter`), the last one boxing the gold answer."""
    text = (problem.solution or "").strip()
    steps = [s.strip() for s in text.split(delimiter) if s.strip()] if text else []
    if not steps or "\\boxed" not in steps[-1]:
        steps.append(f"The final answer is $\\boxed{{{problem.answer}}}$.")
    return steps


def wrong_answer(gold: str, idx: int) -> str:
    """The idx-th wrong answer for `gold` (distinct for distinct idx; never the gold itself)."""
    text = gold.strip()
    if re.fullmatch(r"-?\d+", text):
        offsets = [1, -1, 2, -2, 3, 10, -10, 7]
        return str(int(text) + offsets[idx % len(offsets)] * (1 + idx // len(offsets)))
    return f"{text}+{idx + 1}"


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class ReferenceTeacher:
    """A `PolicyAgent` that walks the reference solution and strays into wrong final answers.

    `propose_steps(state, n)`: each of the n candidates is the reference's next step with
    probability `P_REFERENCE`, else "... the answer is $\\boxed{w}$" with a wrong w (a wrong
    terminal). States off the reference path get wrong terminals only. `complete(prompt)`:
    continues the reference from the prompt's depth, straying at each step with probability
    1 - P_REFERENCE; prompts are mapped back to problems through the states seen by
    `propose_steps` (search always expands a root before rolling out from it), and an unknown
    prompt raises KeyError naming the fix.
    """

    name = "reference-teacher"

    def __init__(self, seed: int = 0, delimiter: str = "\n\n") -> None:
        self.seed = seed
        self.delimiter = delimiter
        self._prompts: dict[str, Problem] = {}

    @classmethod
    def from_config(cls, config) -> "ReferenceTeacher":
        """The `reference` entry of the policy registry (seed from `config.seed`)."""
        return cls(seed=config.seed)

    def remember(self, problems: Sequence[Problem], prompts: Sequence[str]) -> None:
        """Map prompts to their problems up front (what `propose_steps` does for each root it sees)."""
        self._prompts.update(zip(prompts, problems))

    def _position(self, problem: Problem, steps: Sequence[str], delimiter: str) -> int | None:
        """How many reference steps `steps` follows exactly (None when it left the reference)."""
        ref = reference_steps(problem, delimiter)
        if len(steps) > len(ref) or list(steps) != ref[: len(steps)]:
            return None
        return len(steps)

    def _wrong_step(self, problem: Problem, rng: random.Random) -> str:
        return f"So the answer is $\\boxed{{{wrong_answer(problem.answer, rng.randrange(6))}}}$."

    def propose_steps(self, states: Sequence[ReasoningState], n: int, sampling: SamplingConfig | None = None) -> list[list[StepSample]]:
        if n < 1:
            raise ValueError(f"n={n}: ask for at least one step per state.")
        seed = self.seed if sampling is None or sampling.seed is None else sampling.seed
        out = []
        for state in states:
            self._prompts.setdefault(state.prompt, state.problem)
            ref = reference_steps(state.problem, state.delimiter)
            pos = self._position(state.problem, state.steps, state.delimiter)
            rng = _rng(seed, state.problem.id, len(state.steps), "propose")
            samples = []
            for _ in range(n):
                on_path = pos is not None and pos < len(ref) and rng.random() < P_REFERENCE
                text = ref[pos] if on_path else self._wrong_step(state.problem, rng)
                prob = P_REFERENCE if on_path else (1 - P_REFERENCE) / 6
                n_tokens = max(1, len(text.split()))
                samples.append(StepSample(text=text, logprob=math.log(prob), token_logprobs=(math.log(prob) / n_tokens,) * n_tokens, n_tokens=n_tokens))
            out.append(samples)
        return out

    def complete(self, prompts: Sequence[str], n: int, sampling: SamplingConfig) -> list[list[Completion]]:
        if n < 1:
            raise ValueError(f"n={n}: ask for at least one sample per prompt.")
        out = []
        for prompt in prompts:
            problem, prefix = self._lookup(prompt)
            steps = [s for s in prefix.split(self.delimiter) if s.strip()]
            ref = reference_steps(problem, self.delimiter)
            pos = self._position(problem, steps, self.delimiter)
            group = []
            for sample_idx in range(n):
                rng = _rng(sampling.seed if sampling.seed is not None else self.seed, problem.id, len(steps), sample_idx, "complete")
                rest: list[str] = []
                k = pos
                while k is not None and k < len(ref):
                    if rng.random() >= P_REFERENCE:
                        break
                    rest.append(ref[k])
                    k += 1
                if k is None or k < len(ref):
                    rest.append(self._wrong_step(problem, rng))
                text = self.delimiter.join(rest)
                n_tokens = max(1, len(text.split()))
                group.append(Completion(text=text, token_logprobs=(0.0,) * n_tokens, finish_reason="eos"))
            out.append(group)
        return out

    def _lookup(self, prompt: str) -> tuple[Problem, str]:
        best = ""
        for known in self._prompts:
            if prompt.startswith(known) and len(known) > len(best):
                best = known
        if not best:
            raise KeyError("ReferenceTeacher got a prompt of a problem it has not seen: call propose_steps on its root state (or remember()) first.")
        return self._prompts[best], prompt[len(best):]
