"""ScriptedPolicy: a deterministic fake policy that follows a script of steps."""

import math

from agents.base import PolicyAgent, SamplingConfig
from agents.scripted import ScriptedPolicy
from astro_env.problem import Problem
from astro_env.state import initial_state, transition

SCRIPT = {(): ["a", "b"], ("b",): ["\\boxed{4}"], ("a",): ["c"]}
PROBLEM = Problem(id="p", problem="2+2?", answer="4")


def test_is_a_policy_agent():
    assert isinstance(ScriptedPolicy(SCRIPT), PolicyAgent)


def test_propose_steps_follows_the_script():
    policy = ScriptedPolicy(SCRIPT)
    root = initial_state(PROBLEM, "Q:\n")
    after_b = transition(root, "b")
    after_b_box = transition(after_b, "x")
    out = policy.propose_steps([root, after_b, after_b_box], n=4)
    assert [s.text for s in out[0]] == ["a", "b", "a", "b"]  # n >= candidates: all, cycled
    assert [s.text for s in out[1]] == ["\\boxed{4}"] * 4
    assert out[2] == []  # no script entry
    assert out[0][0].logprob == -math.log(2) and out[0][0].n_tokens == 1


def test_propose_fewer_than_candidates_is_seeded():
    policy = ScriptedPolicy({(): list("abcdef")})
    root = initial_state(PROBLEM, "Q:\n")
    one = policy.propose_steps([root], n=3, sampling=SamplingConfig(seed=7))
    two = policy.propose_steps([root], n=3, sampling=SamplingConfig(seed=7))
    assert [s.text for s in one[0]] == [s.text for s in two[0]]
    assert len({s.text for s in one[0]}) == 3


def test_complete_walks_the_script_from_the_prompts_steps():
    policy = ScriptedPolicy(SCRIPT, seed=3)
    walks = policy.complete(["Q:\n"], n=20, sampling=SamplingConfig())[0]
    texts = {c.text for c in walks}
    assert texts == {"a\n\nc", "b\n\n\\boxed{4}"}  # both branches occur with 20 seeded draws
    # a prompt ending in the steps "b" + delimiter continues from ("b",)
    cont = policy.complete(["Q:\nb\n\n"], n=2, sampling=SamplingConfig())[0]
    assert [c.text for c in cont] == ["\\boxed{4}", "\\boxed{4}"]
    assert cont[0].n_tokens == 1
    # deterministic: same seed, same walks
    again = ScriptedPolicy(SCRIPT, seed=3).complete(["Q:\n"], n=20, sampling=SamplingConfig())[0]
    assert [c.text for c in again] == [c.text for c in walks]
