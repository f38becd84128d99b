"""`MathPolicy`: a symbolic `PolicyAgent` proposing the moves of the math task's equations.

No model, no torch. Each step is drawn from `astro_env.math_steps.moves` after the steps already
written: for a linear equation the right operation with probability 1 - `slip_rate` and the slip
with `slip_rate` (the constant's move, then the divisor's sign); for a quadratic a uniformly
random divisor of the right side; then the check and the box. So the trees hold right and wrong
attempts in the proportions the pre-training corpus draws them (`astro_env.math_corpus`), and a
rollout is one such attempt. States off the grammar (steps it does not know, other problems) get
no steps and empty completions.

A `SamplingConfig.temperature` T reshapes the priors to `p ** (1 / T)`; T = 0 is greedy (the most
likely move, the first on ties). Randomness: with `sampling.seed` set, each prompt's samples depend
only on (policy seed, sampling seed, prompt text, batch index) through SHA-256, so they repeat
across calls and processes; without it a per-policy call counter stands in for the sampling seed.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Sequence

from agents.base import Completion, SamplingConfig, StepSample
from astro_env.math_steps import Equation, Move, Progress, moves, parse_equation, replay
from astro_env.math_task import MathConfig
from astro_env.state import ReasoningState

_DELIMITER = "\n\n"
_SOLUTION = "\nSolution:\n"
"""Where the math task's prompt ends and the steps begin (`MathTask.format_prompt`)."""


def _stable_seed(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(repr(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def move_distribution(equation: Equation, progress: Progress, slip_rate: float, temperature: float = 1.0) -> list[tuple[Move, float]]:
    """(move, probability) of each next move; probabilities sum to 1 (greedy: the first most likely at 1.0)."""
    options = [m for m in moves(equation, progress, slip_rate) if m.prior > 0]
    if not options:
        return []
    if temperature == 0:
        best = max(range(len(options)), key=lambda k: (options[k].prior, -k))
        return [(m, 1.0 if k == best else 0.0) for k, m in enumerate(options)]
    powered = [m.prior ** (1.0 / temperature) for m in options]
    total = sum(powered)
    return [(m, w / total) for m, w in zip(options, powered)]


def split_prompt(prompt: str, delimiter: str = _DELIMITER) -> tuple[Equation, list[str], bool] | None:
    """(equation, steps written after the prompt, whether the text ends where a step starts), or None when the
    prompt poses no equation of the grammar."""
    head, sep, rest = prompt.rpartition(_SOLUTION)
    equation = parse_equation(head.partition("Problem: ")[2]) if sep else None
    if equation is None:
        return None
    steps = [s for s in rest.split(delimiter) if s.strip()]
    return equation, steps, (not rest) or rest.endswith(delimiter)


class MathPolicy:
    """Samples the math task's moves by their priors (see the module doc)."""

    name = "math"

    @classmethod
    def from_config(cls, config) -> "MathPolicy":
        """The `math` entry of the policy registry: seed from `config.seed`, `config.extra["slip_rate"]` if given."""
        return cls(seed=config.seed, **({"slip_rate": float(config.extra["slip_rate"])} if "slip_rate" in config.extra else {}))

    def __init__(self, seed: int = 0, slip_rate: float = MathConfig.slip_rate) -> None:
        if not 0.0 <= slip_rate < 1.0:
            raise ValueError(f"slip_rate={slip_rate}: use a probability in [0, 1).")
        self.seed = int(seed)
        self.slip_rate = float(slip_rate)
        self._n_calls = 0

    def _rng(self, sampling: SamplingConfig | None, text: str, index: int) -> random.Random:
        if sampling is not None and sampling.seed is not None:
            return random.Random(_stable_seed(self.seed, "seed", sampling.seed, text, index))
        return random.Random(_stable_seed(self.seed, "call", self._n_calls, text, index))

    def _distribution(self, equation: Equation, steps: Sequence[str], temperature: float) -> list[tuple[Move, float]]:
        progress = replay(equation, steps)
        return [] if progress is None else move_distribution(equation, progress, self.slip_rate, temperature)

    def propose_steps(self, states: Sequence[ReasoningState], n: int, sampling: SamplingConfig | None = None) -> list[list[StepSample]]:
        """`n` sampled next moves per state (with repeats), logprob = log of the sampling probability.

        A terminal state, one whose problem is not an equation of the grammar, or one whose steps are
        not its moves gets an empty list. `n_tokens` is the step's length in characters.
        """
        if n < 0:
            raise ValueError(f"n={n}: use >= 0.")
        temperature = 1.0 if sampling is None else sampling.temperature
        out: list[list[StepSample]] = []
        for index, state in enumerate(states):
            equation = None if state.terminal else parse_equation(state.problem.problem)
            dist = self._distribution(equation, state.steps, temperature) if equation is not None else []
            if not dist:
                out.append([])
                continue
            rng = self._rng(sampling, state.text, index)
            samples = []
            for _ in range(n):
                move, prob = rng.choices(dist, weights=[p for _, p in dist], k=1)[0]
                samples.append(StepSample(text=move.text, logprob=math.log(prob), token_logprobs=(math.log(prob),), n_tokens=len(move.text)))
            out.append(samples)
        self._n_calls += 1
        return out

    def complete(self, prompts: Sequence[str], n: int, sampling: SamplingConfig) -> list[list[Completion]]:
        """`n` playouts to the boxed step for each prompt (steps joined by a blank line).

        The prompt is the math task's (`Problem: ...\\n\\nSolution:\\n`), optionally followed by steps; the
        completion continues from there (after a delimiter when the prompt does not end on one). Token
        accounting is per character (`n_tokens == len(text)`, the move's log-probability on its first
        character); `sampling.stop` cuts at the first stop string, `sampling.max_tokens` at that many characters.
        """
        if n < 0:
            raise ValueError(f"n={n}: use >= 0.")
        out: list[list[Completion]] = []
        for index, prompt in enumerate(prompts):
            parsed = split_prompt(prompt)
            progress = None
            if parsed is not None:
                equation, done, ends_clean = parsed
                progress = replay(equation, done)
            if progress is None or progress.done(equation):
                out.append([Completion(text="", finish_reason="eos") for _ in range(n)])
                continue
            prefix = "" if ends_clean else _DELIMITER
            rng = self._rng(sampling, prompt, index)
            group = []
            for _ in range(n):
                steps, logprobs, state = [], [], progress
                while not state.done(equation):
                    dist = move_distribution(equation, state, self.slip_rate, sampling.temperature)
                    move, prob = rng.choices(dist, weights=[p for _, p in dist], k=1)[0]
                    steps.append(move.text)
                    logprobs.append(math.log(prob))
                    state = move.after
                group.append(_render(prefix, steps, logprobs, sampling))
            out.append(group)
        self._n_calls += 1
        return out


def _render(prefix: str, steps: list[str], logprobs: list[float], sampling: SamplingConfig) -> Completion:
    """A Completion of `prefix + steps joined by the delimiter`, cut by stop strings and max_tokens."""
    text, char_logprobs = prefix, [0.0] * len(prefix)
    for k, (step, lp) in enumerate(zip(steps, logprobs)):
        if k:
            text += _DELIMITER
            char_logprobs += [0.0] * len(_DELIMITER)
        text += step
        char_logprobs += [lp] + [0.0] * (len(step) - 1)
    finish, stop_reason, cut = "eos", None, len(text)
    for stop in sampling.stop:
        k = text.find(stop) if stop else -1
        if 0 <= k < cut:
            cut, stop_reason = k, stop
    if stop_reason is not None:
        finish = "stop"
    if cut > sampling.max_tokens:
        cut, finish, stop_reason = sampling.max_tokens, "length", None
    return Completion(text=text[:cut], token_logprobs=tuple(char_logprobs[:cut]), finish_reason=finish,  # type: ignore[arg-type]
                      stop_reason=stop_reason)
