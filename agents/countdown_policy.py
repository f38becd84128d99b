"""`CountdownPolicy`: a symbolic `PolicyAgent` that samples legal Countdown steps.

No model, no torch: search and linearisation tests run in milliseconds on it. Each step is
drawn from a distribution over `astro_env.countdown.legal_steps(pool)`:

- `prior="uniform"`: every legal step equally likely;
- `prior="heuristic"`: weight `1 / (1 + |value - target|)` for an intermediate step (its
  result's distance to the target), so steps that land nearer the target are favoured.

A `SamplingConfig.temperature` T reshapes the weights to `w ** (1 / T)`; T = 0 is greedy
(the first most-likely step). Randomness: with `sampling.seed` set, each prompt's samples
depend only on (policy seed, sampling seed, prompt text, batch index) through a stable hash
(SHA-256, not Python's salted `hash()`), so they repeat across calls and processes. Without
it, a per-policy call counter replaces the sampling seed: a freshly built policy replays the
same sequence of calls identically, while repeated calls on one prompt still differ.
"""

from __future__ import annotations

import hashlib
import math
import random
from fractions import Fraction
from typing import Literal, Sequence

from agents.base import Completion, SamplingConfig, StepSample
from astro_env import countdown
from astro_env.problem import Problem
from astro_env.state import ReasoningState

_STEP_DELIMITER = "\n\n"


def stable_seed(*parts: object) -> int:
    """A 64-bit integer from the reprs of `parts` via SHA-256 (same across processes and runs)."""
    digest = hashlib.sha256("\x1f".join(repr(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def step_weights(pool: countdown.Pool, target: int, prior: str) -> list[tuple[str, countdown.Pool, float]]:
    """(step, next pool, unnormalised weight) for each legal step of `pool` in `legal_steps` order."""
    out = []
    for step, nxt in countdown.legal_transitions(pool):
        if prior == "heuristic" and nxt:
            weight = 1.0 / (1.0 + float(abs(nxt[-1][1] - Fraction(target))))
        else:
            weight = 1.0
        out.append((step, nxt, weight))
    return out


def step_distribution(pool: countdown.Pool, target: int, prior: str, temperature: float = 1.0) -> list[tuple[str, countdown.Pool, float]]:
    """(step, next pool, probability) for each legal step; probabilities sum to 1 (greedy: one step at 1.0)."""
    weighted = step_weights(pool, target, prior)
    if not weighted:
        return []
    if temperature == 0:
        best = max(range(len(weighted)), key=lambda k: (weighted[k][2], -k))
        return [(s, p, 1.0 if k == best else 0.0) for k, (s, p, _) in enumerate(weighted)]
    powered = [w ** (1.0 / temperature) for _, _, w in weighted]
    total = sum(powered)
    return [(s, p, w / total) for (s, p, _), w in zip(weighted, powered)]


def _sample(dist: list[tuple[str, countdown.Pool, float]], rng: random.Random) -> tuple[str, countdown.Pool, float]:
    step, pool, prob = rng.choices(dist, weights=[d[2] for d in dist], k=1)[0]
    return step, pool, prob


def split_prompt(prompt: str, delimiter: str = _STEP_DELIMITER) -> tuple[Problem, list[str], bool] | None:
    """(problem, steps already written after it, whether the text ends on a delimiter), or None.

    The problem is the first `Numbers: ...\\nTarget: N` block; what follows it (after the
    delimiter) is split on `delimiter` into steps.
    """
    match = countdown._PROBLEM_RE.search(prompt)
    if match is None:
        return None
    numbers = [int(x) for x in match.group(1).split()]
    target = int(match.group(2))
    problem = Problem(
        id="countdown/prompt",
        problem=countdown.problem_text(numbers, target),
        answer=str(target),
        task="countdown",
        metadata={"numbers": numbers, "target": target},
    )
    rest = prompt[match.end():]
    ends_clean = rest.endswith(delimiter)
    steps = [s for s in rest.split(delimiter) if s.strip()]
    return problem, steps, ends_clean


class CountdownPolicy:
    """Samples legal Countdown steps from a uniform or distance-to-target prior (see module doc)."""

    name = "countdown"

    @classmethod
    def from_config(cls, config) -> "CountdownPolicy":
        """The `countdown` entry of the policy registry: seed from `config.seed`, `config.extra["prior"]` if given."""
        return cls(seed=config.seed, **({"prior": config.extra["prior"]} if "prior" in config.extra else {}))

    def __init__(self, seed: int = 0, prior: Literal["uniform", "heuristic"] = "uniform") -> None:
        if prior not in ("uniform", "heuristic"):
            raise ValueError(f"prior={prior!r}: use 'uniform' or 'heuristic'.")
        self.seed = int(seed)
        self.prior = prior
        self._n_calls = 0

    def _rng(self, sampling: SamplingConfig | None, text: str, index: int) -> random.Random:
        if sampling is not None and sampling.seed is not None:
            return random.Random(stable_seed(self.seed, "seed", sampling.seed, text, index))
        return random.Random(stable_seed(self.seed, "call", self._n_calls, text, index))

    def propose_steps(
        self,
        states: Sequence[ReasoningState],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[StepSample]]:
        """`n` sampled legal next steps per state (with repeats), logprob = log of the sampling probability.

        A terminal state, or one whose steps are not legal Countdown steps, gets an empty list.
        `n_tokens` is the step's length in characters.
        """
        if n < 0:
            raise ValueError(f"n={n}: use >= 0.")
        temperature = 1.0 if sampling is None else sampling.temperature
        out: list[list[StepSample]] = []
        for index, state in enumerate(states):
            pool = None if state.terminal else countdown.pool_from_text(state.problem, state.steps)
            if not pool:
                out.append([])
                continue
            target = countdown.problem_numbers(state.problem)[1]
            dist = step_distribution(pool, target, self.prior, temperature)
            rng = self._rng(sampling, state.text, index)
            samples = []
            for _ in range(n):
                step, _, prob = _sample(dist, rng)
                samples.append(StepSample(text=step, logprob=math.log(prob), token_logprobs=(math.log(prob),), n_tokens=len(step)))
            out.append(samples)
        self._n_calls += 1
        return out

    def _play(self, pool: countdown.Pool, target: int, rng: random.Random, temperature: float) -> tuple[list[str], list[float]]:
        steps, logprobs = [], []
        while pool:
            dist = step_distribution(pool, target, self.prior, temperature)
            step, pool, prob = _sample(dist, rng)
            steps.append(step)
            logprobs.append(math.log(prob))
        return steps, logprobs

    def complete(
        self,
        prompts: Sequence[str],
        n: int,
        sampling: SamplingConfig,
    ) -> list[list[Completion]]:
        """`n` random legal playouts to the boxed step for each prompt (steps joined by a blank line).

        The prompt holds a `Numbers: ...\\nTarget: N` block optionally followed by steps already
        written; the completion continues from there (prefixed with the delimiter when the
        prompt does not end on one). A prompt that is not Countdown, has an illegal step or is
        already finished gets empty completions. Token accounting is per character:
        `token_logprobs` has one entry per character, the step's log-probability on its first
        character, so `logprob` is the playout's log-probability and `n_tokens == len(text)`.
        `sampling.stop` cuts the text at the first stop string (`finish_reason="stop"`),
        `sampling.max_tokens` at that many characters (`"length"`).
        """
        if n < 0:
            raise ValueError(f"n={n}: use >= 0.")
        out: list[list[Completion]] = []
        for index, prompt in enumerate(prompts):
            parsed = split_prompt(prompt)
            pool = None
            if parsed is not None:
                problem, done, ends_clean = parsed
                pool = countdown.pool_from_text(problem, done)
                target = problem.metadata["target"]
            if not pool:
                out.append([Completion(text="", finish_reason="eos") for _ in range(n)])
                continue
            prefix = "" if ends_clean else _STEP_DELIMITER
            rng = self._rng(sampling, prompt, index)
            group = []
            for _ in range(n):
                steps, logprobs = self._play(pool, target, rng, sampling.temperature)
                group.append(_render(prefix, steps, logprobs, sampling))
            out.append(group)
        self._n_calls += 1
        return out


def _render(prefix: str, steps: list[str], logprobs: list[float], sampling: SamplingConfig) -> Completion:
    """A Completion of `prefix + steps joined by the delimiter`, cut by stop strings and max_tokens."""
    text = prefix
    char_logprobs: list[float] = [0.0] * len(prefix)
    for k, (step, lp) in enumerate(zip(steps, logprobs)):
        if k:
            text += _STEP_DELIMITER
            char_logprobs += [0.0] * len(_STEP_DELIMITER)
        text += step
        char_logprobs += [lp] + [0.0] * (len(step) - 1)
    finish: str = "eos"
    stop_reason = None
    cut = len(text)
    for stop in sampling.stop:
        if not stop:
            continue
        k = text.find(stop)
        if 0 <= k < cut:
            cut, stop_reason = k, stop
    if stop_reason is not None:
        finish = "stop"
    if cut > sampling.max_tokens:
        cut, finish, stop_reason = sampling.max_tokens, "length", None
    return Completion(
        text=text[:cut],
        token_logprobs=tuple(char_logprobs[:cut]),
        finish_reason=finish,  # type: ignore[arg-type]
        stop_reason=stop_reason,
    )
