"""Text helpers shared by the policy backends: stop strings and record conversion.

Pure functions, no torch: every backend cuts its text the same way and turns a
`Completion` into a `StepSample` the same way.
"""

from __future__ import annotations

from typing import Sequence

from agents.base import Completion, SamplingConfig, StepSample


def check_batch(prompts: Sequence[str], n: int) -> None:
    """Raise the backends' common errors for a malformed `complete` call (a bare string, n < 1)."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a sequence of strings; wrap a single prompt: [prompt].")
    if n < 1:
        raise ValueError(f"n={n}: ask for at least one sample per prompt.")


def find_stop(text: str, stops: Sequence[str]) -> tuple[int, str] | None:
    """(index, stop) of the earliest stop string in `text`, or None.

    Ties at the same index go to the longest stop string, so the cut is the same whichever
    order the stops are listed in. Empty stop strings are ignored.

    >>> find_stop("a=1\\n\\nb", ["\\n\\n", "="])
    (1, '=')
    """
    best: tuple[int, str] | None = None
    for stop in stops:
        if not stop:
            continue
        idx = text.find(stop)
        if idx < 0:
            continue
        if best is None or idx < best[0] or (idx == best[0] and len(stop) > len(best[1])):
            best = (idx, stop)
    return best


def truncate_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    """(text before the earliest stop string, that stop string or None when none occurs)."""
    found = find_stop(text, stops)
    if found is None:
        return text, None
    return text[: found[0]], found[1]


def step_sampling(sampling: SamplingConfig | None, delimiter: str, step_max_tokens: int) -> SamplingConfig:
    """The SamplingConfig that proposes one step: `sampling` (default: temperature 1,
    `step_max_tokens`) with `delimiter` added to its stop strings."""
    if sampling is None:
        sampling = SamplingConfig(max_tokens=step_max_tokens, temperature=1.0)
    stops = tuple(sampling.stop)
    if delimiter not in stops:
        stops = (delimiter,) + stops
    return SamplingConfig(
        max_tokens=sampling.max_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        stop=stops,
        seed=sampling.seed,
    )


def completion_to_step(completion: Completion) -> StepSample:
    """The StepSample for a completion that continued a state's text.

    `finished` is False only when the token budget cut the step (finish_reason "length");
    a step ended by the delimiter or by end-of-sequence is finished.
    """
    return StepSample(
        text=completion.text,
        logprob=completion.logprob,
        token_logprobs=tuple(completion.token_logprobs),
        n_tokens=completion.n_tokens,
        finished=completion.finish_reason != "length",
    )


def propose_via_complete(
    complete, states, n: int, sampling: SamplingConfig | None, step_max_tokens: int, prompts_of=None
) -> list[list[StepSample]]:
    """`n` StepSamples per state by calling `complete(prompts, n, sampling)` once per distinct
    delimiter (usually once), continuing each state and stopping at its delimiter.

    `prompts_of(states)` gives what `complete` is passed for those states (a backend's rendered
    prompt ids, say); default: each `state.text`."""
    out: list[list[StepSample] | None] = [None] * len(states)
    by_delimiter: dict[str, list[int]] = {}
    for idx, state in enumerate(states):
        by_delimiter.setdefault(state.delimiter, []).append(idx)
    for delimiter, idxs in by_delimiter.items():
        step_cfg = step_sampling(sampling, delimiter, step_max_tokens)
        group = [states[i] for i in idxs]
        completions = complete(prompts_of(group) if prompts_of is not None else [s.text for s in group], n, step_cfg)
        for i, row in zip(idxs, completions):
            out[i] = [completion_to_step(c) for c in row]
    return out  # type: ignore[return-value]
