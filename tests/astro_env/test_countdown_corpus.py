"""Countdown's pre-training corpus: legal walks, hindsight targets, exclusion by construction, the fast sampler."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import astro_env
from astro_env.countdown import (
    CountdownConfig,
    CountdownTask,
    competence_rates,
    generate_problems,
    initial_pool,
    legal_transitions,
    parse_problem_text,
    pool_from_text,
    random_legal_completion,
    random_transition,
    walk_pairs,
)
from astro_env.problem import Problem, prompt_key

SPACE = {"max_number": 9, "max_target": 50}
"""The default run's Countdown space (3 numbers 1-9, targets 1-50)."""
TASK = astro_env.get_task("countdown", SPACE)


def test_random_legal_completions_are_legal_compared_and_boxed():
    rng = random.Random(0)
    phrases = TASK.outcome_phrases
    for problem in generate_problems(30, seed=3):
        completion = random_legal_completion(problem, rng)
        chunks = completion.split("\n\n")
        n = len(problem.metadata["numbers"])
        assert chunks[-1].startswith("\\boxed{") and len(chunks) == n + 1
        assert phrases.parse(chunks[-2]) is not None
        assert pool_from_text(problem, chunks[: n - 1] + chunks[-1:]) == ()
        assert competence_rates([problem], [completion], phrases)["target_copy_rate"] == 1.0


def test_corpus_is_seeded_prompted_by_the_task_and_grows_by_prefix():
    task = CountdownTask(CountdownConfig(corpus_problems=100, **SPACE))
    pairs = task.pretrain_corpus(2300, seed=5)
    assert len(pairs) == 2300 and pairs == task.pretrain_corpus(2300, seed=5)
    assert task.pretrain_corpus(2100, seed=5) == pairs[:2100]  # a shorter corpus is a prefix of a longer one
    assert task.pretrain_corpus(2300, seed=6) != pairs
    for problem, completion in pairs[:50]:
        numbers, target = parse_problem_text(problem.problem)
        assert problem.metadata == {"numbers": numbers, "target": target} and problem.task == "countdown"
        assert TASK.format_prompt(problem) == problem.problem + "\n\n" and completion.endswith("}")


def test_corpus_is_the_recorded_one():
    """The walks (text and order) of the default space, as recorded before they moved into the task's files."""
    pairs = TASK.pretrain_corpus(3000, seed=1234)
    digest = hashlib.sha256("\x00".join(TASK.format_prompt(p) + "\x01" + c for p, c in pairs).encode()).hexdigest()
    assert digest == "dd9450479b605949848c548f5fb6ed02b0c2c5a5ddfc5ffdac1d8135f31bda70"
    assert TASK.format_prompt(pairs[0][0]) == "Numbers: 1 5 7\nTarget: 2\n\n"
    assert pairs[0][1] == "5-1=4; left: 7 4\n\n7+4=11; left: 11\n\nThat gives 11; the target is 2, so this is not it.\n\n\\boxed{7+(5-1)}"


def test_hindsight_targets_make_walks_solve_their_prompts():
    problems = generate_problems(20, seed=1)

    def solved_share(ratio):
        pairs = walk_pairs(problems, 200, seed=0, hindsight_ratio=ratio, target_range=(0, 10_000), phrases=TASK.outcome_phrases)
        solved = 0
        for problem, completion in pairs:
            solved += TASK.reward(problem, completion) == 1.0
            assert ("so we have it" in completion) == (TASK.reward(problem, completion) == 1.0)
            assert f"the target is {problem.metadata['target']}," in completion
        return solved / len(pairs)

    assert solved_share(1.0) == 1.0
    assert solved_share(0.0) < 0.5 < solved_share(0.5) + 0.2


def test_a_corpus_with_the_test_split_excluded_holds_none_of_its_prompts():
    test_split = TASK.generate(200, 1234)  # the pool's own stream: every test prompt is a corpus candidate
    keys = frozenset(prompt_key(p) for p in test_split)
    seen = {prompt_key(p) for p, _ in TASK.pretrain_corpus(4000, 1234)}
    assert len(seen & keys) > 150  # without the exclusion the corpus holds most of them
    kept = TASK.pretrain_corpus(4000, 1234, keys)
    assert len(kept) == 4000 and not {prompt_key(p) for p, _ in kept} & keys


def test_a_hindsight_walk_that_would_recreate_an_excluded_prompt_is_skipped():
    source = Problem(id="s", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown",
                     metadata={"numbers": [3, 5, 7], "target": 26})
    full = walk_pairs([source], 400, seed=2, hindsight_ratio=1.0, target_range=(0, 1000), phrases=TASK.outcome_phrases)
    hindsight = [p for p, _ in full if p.metadata["target"] != 26]
    excluded = prompt_key(hindsight[0])  # a prompt that only a hindsight target creates
    assert prompt_key(source) != excluded
    kept = walk_pairs([source], 300, seed=2, hindsight_ratio=1.0, target_range=(0, 1000), phrases=TASK.outcome_phrases,
                      exclude_keys={excluded})
    # every draw is made as without the exclusion; the ones whose prompt is excluded are dropped
    assert kept == [pair for pair in full if prompt_key(pair[0]) != excluded][:300]
    with pytest.raises(ValueError, match="excluded"):
        walk_pairs([source], 10, seed=2, hindsight_ratio=0.0, exclude_keys={prompt_key(source)}, phrases=TASK.outcome_phrases)


def test_a_pool_of_excluded_problems_only_cannot_make_a_corpus():
    task = CountdownTask(CountdownConfig(corpus_problems=3, **SPACE))
    keys = frozenset(prompt_key(p) for p in task.generate(3, 0))
    with pytest.raises(ValueError, match="excluded"):
        task.pretrain_corpus(10, 0, keys)
    with pytest.raises(ValueError, match="n_numbers=1"):
        CountdownTask(CountdownConfig(n_numbers=1)).pretrain_corpus(5, 0)


@settings(max_examples=100, deadline=None)
@given(numbers=st.lists(st.integers(0, 30), min_size=2, max_size=5), seed=st.integers(0, 2**20))
def test_the_fast_sampler_is_the_uniform_choice_over_legal_steps(numbers, seed):
    pool = initial_pool(numbers)
    while len(pool) > 1:
        fast, slow = random.Random(seed), random.Random(seed)
        chosen = random_transition(pool, fast)
        assert chosen == slow.choice(legal_transitions(pool))
        assert fast.getstate() == slow.getstate()
        pool = chosen[1]
        seed += 1


def test_multi_attempt_walks_retry_from_the_prompt_after_a_miss_and_box_the_last_attempt():
    task = CountdownTask(CountdownConfig(corpus_problems=100, corpus_max_attempts=3, **SPACE))
    phrases = task.outcome_phrases
    pairs = task.pretrain_corpus(400, seed=5)
    n_attempts = []
    for problem, completion in pairs:
        numbers = problem.metadata["numbers"]
        chunks = completion.split("\n\n")
        verdicts = [phrases.parse(c) for c in chunks if phrases.parse(c) is not None]
        n_attempts.append(len(verdicts))
        assert all(not reached for _, _, reached in verdicts[:-1])  # every attempt but the last misses
        assert chunks[-1].startswith("\\boxed{") and phrases.parse(chunks[-2]) is not None
        assert len(chunks) == len(verdicts) * len(numbers) + 1  # n-1 steps + a comparison per attempt, one box
        assert verdicts[-1][2] == (task.reward(problem, completion) == 1.0)
        last_attempt = chunks[-len(numbers) - 1:-2] + chunks[-1:]
        assert pool_from_text(problem, last_attempt) == ()  # the last attempt starts again from the prompt's numbers
    assert set(n_attempts) == {1, 2, 3}
    single = CountdownTask(CountdownConfig(corpus_problems=100, **SPACE)).pretrain_corpus(400, seed=5)
    assert sum(len(c) for _, c in pairs) > 1.3 * sum(len(c) for _, c in single)


def test_multi_attempt_walks_need_the_comparison_that_separates_attempts():
    with pytest.raises(ValueError, match="corpus_compare"):
        CountdownConfig(corpus_max_attempts=2, corpus_compare=False)
    with pytest.raises(ValueError, match="corpus_max_attempts"):
        CountdownConfig(corpus_max_attempts=0)
