"""The symbolic Countdown policy: legal proposals, honest log-probs, seeded determinism."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from agents.base import PolicyAgent, SamplingConfig
from agents.countdown_policy import CountdownPolicy, split_prompt, stable_seed, step_distribution
from astro_env.countdown import CountdownTask, apply_step, generate_problems, initial_pool, legal_steps, pool_from_text
from astro_env.problem import Problem
from astro_env.state import initial_state, transition

TASK = CountdownTask()
P = Problem(id="countdown/t/0", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown", metadata={"numbers": [3, 5, 7], "target": 26})


def _state(*steps: str):
    state = initial_state(P, TASK.format_prompt(P))
    for step in steps:
        state = transition(state, step)
    return state


def test_is_a_policy_agent_and_validates_prior():
    assert isinstance(CountdownPolicy(), PolicyAgent)
    with pytest.raises(ValueError, match="uniform"):
        CountdownPolicy(prior="greedy")  # type: ignore[arg-type]


def test_stable_seed_is_stable():
    # fixed value: SHA-256 based, never Python's salted hash()
    assert stable_seed(1, "a") == stable_seed(1, "a") != stable_seed(1, "b")
    assert isinstance(stable_seed(), int)


def test_uniform_proposals_are_legal_with_uniform_logprob():
    policy = CountdownPolicy(seed=0)
    state = _state()
    legal = legal_steps(initial_pool(P))
    [samples] = policy.propose_steps([state], 20)
    assert len(samples) == 20
    for s in samples:
        assert s.text in legal
        assert s.logprob == pytest.approx(-math.log(len(legal)))
        assert s.n_tokens == len(s.text)


def test_proposals_after_steps_and_at_the_end():
    policy = CountdownPolicy(seed=0)
    [samples] = policy.propose_steps([_state("7*5=35; left: 3 35", "35-3=32; left: 32")], 3)
    assert [s.text for s in samples] == ["\\boxed{(7*5)-3}"] * 3
    assert all(s.logprob == 0.0 for s in samples)
    terminal = transition(_state("7*5=35", "35-3=32"), "\\boxed{(7*5)-3}", answer="(7*5)-3", correct=False)
    illegal = _state("8*5=40")
    assert policy.propose_steps([terminal, illegal], 4) == [[], []]


def test_heuristic_prefers_steps_nearer_the_target():
    dist = step_distribution(initial_pool(P), 26, "heuristic")
    probs = {step: p for step, _, p in dist}
    assert sum(probs.values()) == pytest.approx(1.0)
    # 7*3=21 is 5 away, 5+3=8 is 18 away: weights 1/6 vs 1/19
    assert probs["7*3=21; left: 5 21"] / probs["5+3=8; left: 7 8"] == pytest.approx(19 / 6)
    greedy = step_distribution(initial_pool(P), 26, "heuristic", temperature=0)
    assert [s for s, _, p in greedy if p == 1.0] == ["7*3=21; left: 5 21"]  # the closest (3*7 is the same step)
    uniform = step_distribution(initial_pool(P), 26, "uniform")
    assert len({p for _, _, p in uniform}) == 1


def test_heuristic_samples_closer_steps_more_often():
    policy = CountdownPolicy(seed=1, prior="heuristic")
    [samples] = policy.propose_steps([_state()], 2000, SamplingConfig(seed=0))
    counts = Counter(s.text for s in samples)
    assert counts["7*3=21; left: 5 21"] > counts["5+3=8; left: 7 8"]


def test_seeded_sampling_repeats_and_differs():
    sampling = SamplingConfig(seed=5)
    a = CountdownPolicy(seed=0).propose_steps([_state()], 10, sampling)
    b = CountdownPolicy(seed=0).propose_steps([_state()], 10, sampling)
    p = CountdownPolicy(seed=0)
    p.propose_steps([_state()], 10)  # an unseeded call in between changes nothing
    assert p.propose_steps([_state()], 10, sampling) == a == b
    assert CountdownPolicy(seed=1).propose_steps([_state()], 10, sampling) != a
    # unseeded: a fresh policy replays its call sequence; repeated calls differ
    q1, q2 = CountdownPolicy(seed=3), CountdownPolicy(seed=3)
    first = [q1.propose_steps([_state()], 10) for _ in range(2)]
    second = [q2.propose_steps([_state()], 10) for _ in range(2)]
    assert first == second and first[0] != first[1]


def test_complete_plays_legal_steps_to_the_boxed_answer():
    policy = CountdownPolicy(seed=0)
    prompts = [TASK.format_prompt(P), _state("7*5=35").text]
    groups = policy.complete(prompts, 8, SamplingConfig(seed=0))
    assert [len(g) for g in groups] == [8, 8]
    for c in groups[0]:
        steps = c.text.split("\n\n")
        assert len(steps) == 3 and steps[-1].startswith("\\boxed{")
        assert pool_from_text(P, steps) == ()
        assert c.finish_reason == "eos" and c.n_tokens == len(c.text)
        assert c.logprob < 0
    for c in groups[1]:
        steps = c.text.split("\n\n")
        assert len(steps) == 2 and pool_from_text(P, ["5*7=35"] + steps) == ()
    # sampled often enough, some playout is correct
    many = policy.complete([TASK.format_prompt(P)], 200, SamplingConfig(seed=0))[0]
    assert any(TASK.reward(P, c.text) == 1.0 for c in many)


def test_complete_logprob_matches_step_probabilities():
    policy = CountdownPolicy(seed=0)
    [[c]] = policy.complete([TASK.format_prompt(P)], 1, SamplingConfig(seed=0))
    first, second, _ = c.text.split("\n\n")
    n_first = len(legal_steps(initial_pool(P)))
    n_second = len(legal_steps(apply_step(initial_pool(P), first)))
    assert c.logprob == pytest.approx(-math.log(n_first) - math.log(n_second))


def test_complete_stop_and_length():
    policy = CountdownPolicy(seed=0)
    [[c]] = policy.complete([TASK.format_prompt(P)], 1, SamplingConfig(seed=0, stop=("\n\n",)))
    assert c.finish_reason == "stop" and c.stop_reason == "\n\n" and "\n\n" not in c.text
    assert c.text in legal_steps(initial_pool(P))
    [[c]] = policy.complete([TASK.format_prompt(P)], 1, SamplingConfig(seed=0, max_tokens=4))
    assert c.finish_reason == "length" and len(c.text) == 4


def test_complete_bad_or_finished_prompts_and_missing_delimiter():
    policy = CountdownPolicy(seed=0)
    done = _state("7*5=35", "35-3=32").text + "\\boxed{(7*5)-3}\n\n"
    groups = policy.complete(["What is 2+2?", done, P.problem], 2, SamplingConfig(seed=0))
    assert [c.text for c in groups[0]] == ["", ""] and [c.text for c in groups[1]] == ["", ""]
    assert all(c.text.startswith("\n\n") for c in groups[2])  # prompt lacked the delimiter


def test_complete_is_deterministic_per_seed_and_prompt():
    prompts = [TASK.format_prompt(p) for p in generate_problems(5, seed=0)]
    a = CountdownPolicy(seed=0, prior="heuristic").complete(prompts, 3, SamplingConfig(seed=9))
    b = CountdownPolicy(seed=0, prior="heuristic").complete(prompts, 3, SamplingConfig(seed=9))
    c = CountdownPolicy(seed=0, prior="heuristic").complete(prompts, 3, SamplingConfig(seed=10))
    assert a == b and a != c


def test_split_prompt():
    problem, steps, clean = split_prompt("Numbers: 3 5 7\nTarget: 26\n\n5*7=35\n\n")
    assert problem.metadata == {"numbers": [3, 5, 7], "target": 26} and steps == ["5*7=35"] and clean
    assert split_prompt("no numbers") is None
