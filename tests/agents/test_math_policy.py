"""The symbolic proposer of the math task's moves: its steps parse, right and wrong ones at the set rate, playouts end boxed."""

from __future__ import annotations

import math
from collections import Counter

import astro_env
from agents import PolicyConfig, build_policy
from agents.base import SamplingConfig
from agents.math_policy import MathPolicy
from astro_env.math_steps import audit_attempt, parse_equation, replay
from astro_env.problem import Problem
from astro_env.state import initial_state, transition

TASK = astro_env.get_task("math", {"kinds": "linear_equation,quadratic_root"})
LINEAR = Problem(id="l", problem="Solve for $x$: $3x + 5 = 17$.", answer="4", task="math")
QUADRATIC = Problem(id="q", problem="Find the positive solution of $x^2 - x = 6$.", answer="3", task="math")


def _state(problem: Problem, *steps: str):
    state = initial_state(problem, TASK.format_prompt(problem))
    for step in steps:
        state = transition(state, step, answer=TASK.extract_answer(step))
    return state


def test_proposed_steps_are_moves_right_and_wrong_at_the_slip_rate():
    policy = MathPolicy(seed=0, slip_rate=0.3)
    [samples] = policy.propose_steps([_state(LINEAR)], 400, SamplingConfig(seed=1))
    counts = Counter(s.text for s in samples)
    assert set(counts) == {"Subtract $5$ from both sides: $3x = 17 - 5 = 12$.", "Add $5$ to both sides: $3x = 17 + 5 = 22$."}
    assert abs(counts["Add $5$ to both sides: $3x = 17 + 5 = 22$."] / 400 - 0.3) < 0.07
    assert all(math.isclose(s.logprob, math.log(0.3 if s.text.startswith("Add") else 0.7)) for s in samples)
    for step in counts:  # each parses as a well-formed first step
        assert replay(parse_equation(LINEAR.problem), [step]) is not None
    [tries] = policy.propose_steps([_state(QUADRATIC)], 200, SamplingConfig(seed=2))
    assert {s.text for s in tries} == {"Try $x = 1$.", "Try $x = 2$.", "Try $x = 3$.", "Try $x = 6$."}  # one of them solves


def test_states_off_the_grammar_or_finished_get_nothing():
    policy = MathPolicy()
    other = Problem(id="f", problem="Compute $\\frac{1}{2} + \\frac{1}{3}$.", answer="\\frac{5}{6}", task="math")
    done = _state(QUADRATIC, "Try $x = 3$.", "Check: $3(3 - 1) = 3 \\cdot 2 = 6$.", "The answer is $\\boxed{3}$.")
    assert done.terminal
    assert policy.propose_steps([_state(other), _state(LINEAR, "Subtract 5"), done], 3) == [[], [], []]
    groups = policy.complete([TASK.format_prompt(other), "no prompt", done.text], 2, SamplingConfig())
    assert [[c.text for c in g] for g in groups] == [["", ""]] * 3


def test_playouts_are_whole_attempts_that_continue_the_prompt():
    policy = build_policy(PolicyConfig(backend="math", seed=3, extra={"slip_rate": 0.5}))
    assert isinstance(policy, MathPolicy) and policy.slip_rate == 0.5
    prompt = TASK.format_prompt(LINEAR) + "Add $5$ to both sides: $3x = 17 + 5 = 22$.\n\n"
    group = policy.complete([TASK.format_prompt(LINEAR), prompt], 50, SamplingConfig(seed=0))
    equation = parse_equation(LINEAR.problem)
    for k, completions in enumerate(group):
        for completion in completions:
            steps = completion.text.split("\n\n")
            full = (["Add $5$ to both sides: $3x = 17 + 5 = 22$."] if k else []) + steps
            audit = audit_attempt(equation, full)
            assert audit.boxed and audit.n_well_formed == len(full) == 4 and audit.n_claims_true == audit.n_claims
            assert completion.n_tokens == len(completion.text)
    # from the slipped state no playout solves; from the prompt both do and do not
    assert not any(TASK.reward(LINEAR, c.text) for c in group[1])
    assert {TASK.reward(LINEAR, c.text) for c in group[0]} == {0.0, 1.0}
    # greedy play is the right path; a seeded call repeats
    [[greedy]] = policy.complete([TASK.format_prompt(LINEAR)], 1, SamplingConfig(temperature=0.0))
    assert TASK.reward(LINEAR, greedy.text) == 1.0
    again = build_policy(PolicyConfig(backend="math", seed=3, extra={"slip_rate": 0.5}))
    assert again.complete([TASK.format_prompt(LINEAR)], 5, SamplingConfig(seed=0)) == policy.complete(
        [TASK.format_prompt(LINEAR)], 5, SamplingConfig(seed=0))
    cut = policy.complete([TASK.format_prompt(LINEAR)], 1, SamplingConfig(seed=0, max_tokens=10))[0][0]
    assert cut.truncated and len(cut.text) == 10
