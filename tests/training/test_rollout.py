"""Rollouts are environment episodes: the environment's reward is the rollout's reward."""

from __future__ import annotations

import gymnasium
import pytest

import astro_env  # noqa: F401  (registers the environments)
from agents.base import Completion
from astro_env.countdown import generate_problems, problem_text
from astro_env.problem import Problem
from training.embedded import build_tokenizer
from training.rollout import Rollout, RolloutConfig, collect_rollouts, replay, split_steps

PROBLEM = Problem(id="countdown/test/0", problem=problem_text([2, 9, 10], 29), answer="(2*10)+9", task="countdown",
                  metadata={"numbers": [2, 9, 10], "target": 29})
CORRECT = "10*2=20; left: 9 20\n\n20+9=29; left: 29\n\n\\boxed{(2*10)+9}"
WRONG_BOX = "10*2=20; left: 9 20\n\n\\boxed{2*10}"
NO_ANSWER = "10*2=20; left: 9 20\n\n20+9=29; left: 29"


class FakePolicy:
    """Returns fixed completion texts (cycled over samples), tokenised by `tokenizer`."""

    name = "fake"

    def __init__(self, tokenizer, texts_by_prompt: dict[str, list[str]], finish: str = "eos"):
        self.tokenizer, self.texts, self.finish = tokenizer, texts_by_prompt, finish
        self.calls: list[tuple[list[str], int]] = []

    def complete(self, prompts, n, sampling):
        self.calls.append((list(prompts), n))
        out = []
        for prompt in prompts:
            texts = self.texts[prompt]
            row = []
            for i in range(n):
                text = texts[i % len(texts)]
                ids = tuple(self.tokenizer(text)["input_ids"])
                row.append(Completion(text=text, token_ids=ids, token_logprobs=tuple(-0.5 for _ in ids), finish_reason=self.finish))
            out.append(row)
        return out


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(kind="char")


def _env_return(problem: Problem, text: str) -> float:
    """Play `text` step by step through a freshly made environment, independently of training.rollout."""
    env = gymnasium.make("astro/Countdown-v0", problems=[problem])
    env.reset(options={"problem": 0})
    total = 0.0
    for step in [s for s in text.split("\n\n") if s.strip()]:
        _, reward, terminated, truncated, _ = env.step(step)
        total += reward
        if terminated or truncated:
            break
    return total


def test_split_steps_drops_empty_pieces():
    assert split_steps("a\n\n\n\nb\n\n  \n\nc") == ["a", "b", "c"]
    assert split_steps("") == []


@pytest.mark.parametrize("text,expected", [(CORRECT, 1.0), (WRONG_BOX, 0.0), (NO_ANSWER, 0.0)])
def test_rollout_reward_is_the_environments_reward(tokenizer, text, expected):
    prompt = PROBLEM.problem + "\n\n"
    policy = FakePolicy(tokenizer, {prompt: [text]})
    (rollout,) = collect_rollouts(policy, tokenizer, [PROBLEM], RolloutConfig(n_samples=1))
    assert rollout.reward == _env_return(PROBLEM, text) == expected
    assert rollout.correct is (expected == 1.0)
    assert rollout.prompt == prompt and rollout.completion == text
    assert rollout.n_steps == len(split_steps(text))
    assert rollout.truncated is False


def test_replay_stops_at_the_first_final_answer(tokenizer):
    env = gymnasium.make("astro/Countdown-v0", problems=[PROBLEM])
    episode = replay(env, PROBLEM, CORRECT + "\n\nmore text\n\n\\boxed{1}")
    assert episode.terminated and episode.correct and episode.reward == 1.0
    assert episode.n_steps == 3 and episode.answer == "(2*10)+9"


def test_groups_are_contiguous_and_token_ids_end_with_eos(tokenizer):
    problems = generate_problems(2, seed=3)
    prompts = [p.problem + "\n\n" for p in problems]
    policy = FakePolicy(tokenizer, {prompts[0]: [CORRECT, WRONG_BOX], prompts[1]: [NO_ANSWER]})
    rollouts = collect_rollouts(policy, tokenizer, problems, RolloutConfig(n_samples=3))
    assert len(policy.calls) == 1 and policy.calls[0] == (prompts, 3)  # one batched call
    assert [r.problem_id for r in rollouts] == [problems[0].id] * 3 + [problems[1].id] * 3
    assert [r.group_idx for r in rollouts] == [0, 0, 0, 1, 1, 1]
    for r in rollouts:
        assert isinstance(r, Rollout)
        assert r.completion_token_ids[-1] == tokenizer.eos_token_id  # the fake policy leaves EOS out
        assert len(r.old_logprobs) == len(r.completion_token_ids)
        assert list(r.prompt_token_ids) == tokenizer(r.prompt)["input_ids"]
    assert rollouts[0].to_dict()["completion_token_ids"] == list(rollouts[0].completion_token_ids)


def test_length_cut_completions_are_truncated(tokenizer):
    prompt = PROBLEM.problem + "\n\n"
    policy = FakePolicy(tokenizer, {prompt: [NO_ANSWER]}, finish="length")
    (rollout,) = collect_rollouts(policy, tokenizer, [PROBLEM], RolloutConfig(n_samples=1))
    assert rollout.truncated and rollout.reward == 0.0
    assert rollout.completion_token_ids[-1] != tokenizer.eos_token_id  # no EOS added to a cut completion


def test_math_problems_run_in_the_math_environment(tokenizer):
    problem = Problem(id="m/1", problem="What is $3+4$?", answer="7")
    prompt = f"Problem: {problem.problem}\n\nSolution:\n"
    policy = FakePolicy(tokenizer, {prompt: ["We add.\n\n\\boxed{7}", "\\boxed{8}"]})
    rollouts = collect_rollouts(policy, tokenizer, [problem], RolloutConfig(n_samples=2))
    assert [r.reward for r in rollouts] == [1.0, 0.0]
    assert [r.n_steps for r in rollouts] == [2, 1]
