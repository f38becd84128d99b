"""Countdown's pre-training corpus: random legal walks, compared with the target and boxed.

The embedded base model learns the step grammar from walks of uniformly random *legal* steps
(every step applies; the final combination is compared with the target in words; the last step
boxes the expression) on generated problems. For a fraction `corpus_hindsight_ratio` of the walks
the prompt's target is the walk's own result (a hindsight target), so the model learns that the
target is something to aim at and compare with; the rest keep the problem's target, so it also
sees misses. Held-out problems stay unseen by construction: a problem whose prompt key is
excluded never enters the pool, and a hindsight walk whose prompt would be an excluded one is
skipped (`walk_pairs`).
"""

from __future__ import annotations

import functools
import random
from typing import AbstractSet, Sequence

from astro_env.countdown import (
    CountdownConfig,
    boxed_step,
    format_value,
    generate_problems,
    initial_pool,
    problem_numbers,
    problem_text,
    random_transition,
)
from astro_env.outcome import OutcomePhrases
from astro_env.problem import Problem, prompt_key

FIRST_BLOCK = 2000
"""Pairs in block 0 of `walk_corpus` (walk seed = the corpus seed)."""
BLOCK = 1000
"""Pairs in each later block k >= 1 (walk seed = seed * 7919 + k)."""
MAX_DRAWS_PER_PAIR = 100
"""Walks drawn per kept pair before a block gives up (nearly every prompt excluded)."""


def random_walk(numbers: Sequence[int], rng: random.Random) -> tuple[list[str], tuple]:
    """(combination steps, final pool) of uniformly random legal steps until one number is left.

    The boxed step is not included (it follows the comparison with the target).
    """
    pool, steps = initial_pool(list(numbers)), []
    while len(pool) > 1:
        step, pool = random_transition(pool, rng)
        steps.append(step)
    return steps, pool


def walk_completion(numbers: Sequence[int], target: int, rng: random.Random, compare: bool = True,
                    phrases: OutcomePhrases | None = None) -> str:
    """A completion of random legal steps, the comparison with `target` (when `compare`; `phrases`
    default: Countdown's own), and the boxed expression, chunks joined by a blank line."""
    if phrases is None:
        from astro_env.countdown import CountdownTask

        phrases = CountdownTask().outcome_phrases
    steps, pool = random_walk(numbers, rng)
    if compare:
        steps.append(phrases.sentence(format_value(pool[0][1]), str(target)))
    steps.append(boxed_step(pool[0][0]))
    return "\n\n".join(steps)


def random_legal_completion(problem: Problem, rng: random.Random, compare: bool = True) -> str:
    """A completion of random legal steps to the boxed end for `problem` (see `walk_completion`)."""
    numbers, target = problem_numbers(problem)
    return walk_completion(numbers, target, rng, compare=compare)


def _prompt_problem(source: Problem, numbers: Sequence[int], target: int) -> Problem:
    """`source` itself when the target is its own, else a problem with the same numbers and `target`."""
    if target == problem_numbers(source)[1]:
        return source
    return Problem(
        id=f"{source.id}/hindsight-{target}",
        problem=problem_text(numbers, target),
        answer=str(target),
        source="countdown hindsight target",
        task=source.task,
        metadata={"numbers": list(numbers), "target": target},
    )


def walk_pairs(
    problems: Sequence[Problem],
    n_pairs: int,
    seed: int,
    hindsight_ratio: float = 0.0,
    compare: bool = True,
    target_range: tuple[int, int] | None = None,
    phrases: OutcomePhrases | None = None,
    exclude_keys: AbstractSet[str] = frozenset(),
) -> list[tuple[Problem, str]]:
    """`n_pairs` (problem, completion) pairs: a random problem of `problems` and a random legal walk.

    With probability `hindsight_ratio` the prompt's target is replaced by the walk's own result
    (kept only when inside `target_range`, inclusive, if given), so the walk solves its prompt. A
    pair whose prompt has a `prompt_key` in `exclude_keys` is skipped (the next draw replaces it);
    with nothing excluded, the pairs are those of `n_pairs` draws. Raises ValueError when
    `MAX_DRAWS_PER_PAIR * n_pairs` draws do not give `n_pairs` pairs.
    """
    if not problems:
        raise ValueError("no problems to draw walks on (every corpus problem is excluded?); raise corpus_problems or widen the number range.")
    rng = random.Random(seed)
    out: list[tuple[Problem, str]] = []
    for _ in range(MAX_DRAWS_PER_PAIR * n_pairs):
        if len(out) == n_pairs:
            break
        source = problems[rng.randrange(len(problems))]
        numbers, target = problem_numbers(source)
        if rng.random() < hindsight_ratio:
            walk_rng_state = rng.getstate()
            _, pool = random_walk(numbers, rng)
            value = int(pool[0][1])
            if target_range is None or target_range[0] <= value <= target_range[1]:
                target = value
            rng.setstate(walk_rng_state)  # replay the same walk below
        completion = walk_completion(numbers, target, rng, compare=compare, phrases=phrases)
        problem = _prompt_problem(source, numbers, target)
        if exclude_keys and prompt_key(problem) in exclude_keys:
            continue
        out.append((problem, completion))
    if len(out) < n_pairs:
        raise ValueError(f"{len(out)} of {n_pairs} walks kept after {MAX_DRAWS_PER_PAIR * n_pairs} draws: "
                         "nearly every prompt is excluded; exclude fewer problems or widen the problem space.")
    return out


@functools.lru_cache(maxsize=4)
def _corpus_pool(config: CountdownConfig, seed: int, exclude_keys: frozenset[str]) -> tuple[Problem, ...]:
    """The problems walks are drawn on (cached: a corpus is often asked for in growing prefixes)."""
    return tuple(p for p in generate_problems(config.corpus_problems, seed, config) if prompt_key(p) not in exclude_keys)


def walk_corpus(config: CountdownConfig, n: int, seed: int, exclude_keys: AbstractSet[str] = frozenset(),
                phrases: OutcomePhrases | None = None) -> list[tuple[Problem, str]]:
    """The first `n` pairs of the corpus of `seed` (`CountdownTask.pretrain_corpus`).

    Walks are drawn on `generate_problems(config.corpus_problems, seed, config)` minus the problems
    whose prompt key is in `exclude_keys`, in blocks: block 0 holds `FIRST_BLOCK` pairs drawn with
    seed `seed`, block k >= 1 holds `BLOCK` pairs drawn with seed `seed * 7919 + k`; each block is
    independent of `n`, so a shorter corpus is a prefix of a longer one.
    """
    if config.n_numbers < 2:
        raise ValueError(f"n_numbers={config.n_numbers}: a pre-training walk needs >= 2 numbers to combine.")
    if n < 0:
        raise ValueError(f"n={n}: use >= 0.")
    pool = _corpus_pool(config, seed, frozenset(exclude_keys))
    target_range = (config.min_target, config.max_target)
    out: list[tuple[Problem, str]] = []
    block = 0
    while len(out) < n:
        size = FIRST_BLOCK if block == 0 else BLOCK
        block_seed = seed if block == 0 else seed * 7919 + block
        out += walk_pairs(pool, min(size, n - len(out)), block_seed, config.corpus_hindsight_ratio,
                          config.corpus_compare, target_range, phrases, exclude_keys)
        block += 1
    return out[:n]
