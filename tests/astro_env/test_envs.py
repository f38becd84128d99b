"""The Gymnasium environments: contracts (check_env, make, make_vec), episodes, branching, bad actions."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import astro_env  # noqa: F401  (registers the ids)
from agents.base import SamplingConfig
from agents.countdown_policy import CountdownPolicy
from astro_env.countdown import CountdownTask, generate_problems
from astro_env.countdown_env import CountdownEnv
from astro_env.envs import CHARSET, MathReasoningEnv
from astro_env.loaders import load_problems
from astro_env.problem import Problem
from astro_env.state import ReasoningState
from astro_env.synthetic import generate_problems as generate_synthetic

IDS = ["astro/MathReasoning-v0", "astro/Countdown-v0"]
P357 = Problem(id="countdown/t/0", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown", metadata={"numbers": [3, 5, 7], "target": 26})


def _solution_steps(env) -> list[str]:
    return env.unwrapped.get_state().problem.solution.split("\n\n")


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_passes_without_warnings(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id)
        check_env(env.unwrapped, skip_render_check=True)
        env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_make_without_arguments_plays_the_worked_solution(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the passive checker must stay quiet too
        env = gym.make(env_id)
        obs, info = env.reset(seed=3)
        assert info == {"answer": None, "correct": None, "depth": 0, "problem_id": info["problem_id"], "step_truncated": False}
        assert obs == env.unwrapped.task.format_prompt(env.unwrapped.get_state().problem)
        assert env.observation_space.contains(obs)
        steps = _solution_steps(env)
        for k, step in enumerate(steps, start=1):
            obs, reward, terminated, truncated, info = env.step(step)
            assert info["depth"] == k and not truncated
            assert terminated == (k == len(steps))
            assert env.observation_space.contains(obs)
        assert reward == 1.0 and info["correct"] is True and info["answer"] is not None
        assert obs.endswith(steps[-1] + "\n\n")
        env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_make_vec_sync(env_id):
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode="sync")
    obs, infos = envs.reset(seed=[1, 2])
    assert len(obs) == 2 and all(isinstance(o, str) for o in obs)
    obs2, rewards, terminated, truncated, infos = envs.step(("step one", "step two"))
    assert list(rewards) == [0.0, 0.0] and not terminated.any() and not truncated.any()
    assert [o.endswith(a + "\n\n") for o, a in zip(obs2, ("step one", "step two"))] == [True, True]
    assert list(infos["depth"]) == [1, 1]
    envs.close()


def test_countdown_episode_with_the_symbolic_policy_matches_the_task_reward():
    env = CountdownEnv(problems=generate_problems(20, seed=4))
    policy = CountdownPolicy(seed=0, prior="heuristic")
    task = CountdownTask()
    n_correct = 0
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            [[sample]] = policy.propose_steps([env.get_state()], 1, SamplingConfig(seed=seed))
            obs, reward, terminated, truncated, info = env.step(sample.text)
            done = terminated or truncated
        assert terminated and info["depth"] == 3  # 3 numbers: two combinations and the box
        state = env.get_state()
        assert reward == task.reward(state.problem, state.solution) == float(info["correct"])
        n_correct += info["correct"]
    assert 0 < n_correct < 20  # a random-ish policy: some wins, some losses


def test_reward_styles_and_wrong_answers():
    binary = CountdownEnv(problems=[P357])
    signed = CountdownEnv(problems=[P357], reward_style="signed")
    for env, wrong in ((binary, 0.0), (signed, -1.0)):
        env.reset(seed=0)
        _, reward, terminated, _, info = env.step("\\boxed{3*5+7}")  # 22
        assert (reward, terminated, info["correct"], info["answer"]) == (wrong, True, False, "3*5+7")
        env.reset(seed=0)
        _, reward, _, _, info = env.step("\\boxed{3*7+5}")
        assert reward == 1.0 and info["correct"] is True
    with pytest.raises(ValueError, match="binary"):
        CountdownEnv(reward_style="plusminus")


def test_truncation_at_max_steps_and_length_budget():
    env = MathReasoningEnv(problems=generate_synthetic(3), max_steps=2, reward_style="signed")
    env.reset(seed=0)
    assert env.step("first")[1:4] == (0.0, False, False)
    _, reward, terminated, truncated, info = env.step("second")
    assert (reward, terminated, truncated, info["depth"]) == (-1.0, False, True, 2)
    with pytest.raises(RuntimeError, match="ended"):
        env.step("third")

    env = MathReasoningEnv(problems=generate_synthetic(3), max_chars=30)
    env.reset(seed=0)
    assert env.step("x" * 10)[3] is False  # 12 chars with the delimiter
    assert env.step("y" * 10)[3] is False  # 24
    _, reward, terminated, truncated, _ = env.step("z" * 10)  # 36 >= 30
    assert (reward, terminated, truncated) == (0.0, False, True)


def test_terminated_episode_refuses_more_steps():
    env = CountdownEnv(problems=[P357])
    env.reset(seed=0)
    env.step("\\boxed{3*7+5}")
    with pytest.raises(RuntimeError, match="reset"):
        env.step("3+5=8")
    with pytest.raises(RuntimeError, match="reset"):
        CountdownEnv(problems=[P357]).step("3+5=8")  # before any reset


@pytest.mark.parametrize("action, match", [(5, "must be a str"), (b"3+5=8", "must be a str"), (None, "must be a str"), ("", "empty"), ("  \n\n ", "empty"), ("3+5\x00=8", "NUL")])
def test_bad_actions_raise_clear_errors(action, match):
    env = CountdownEnv(problems=[P357])
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)
    # the env is unharmed: the episode goes on
    assert env.step("3+5=8")[4]["depth"] == 1


def test_megabyte_and_exotic_actions_are_cut_and_cleaned():
    env = MathReasoningEnv(problems=generate_synthetic(2), max_step_chars=1000)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("a" * 1_000_000)
    assert info["step_truncated"] is True and env.get_state().steps[-1] == "a" * 1000
    assert env.observation_space.contains(obs)
    obs, *_, info = env.step("emoji \U0001F600 and \x07bell")
    assert info["step_truncated"] is False
    assert env.get_state().steps[-1] == "emoji \ufffd and \ufffdbell"
    assert env.observation_space.contains(obs)


def test_charset_admits_latex_and_unicode():
    text = "Problem: $\\frac{1}{2} + \\sqrt{\\pi}$ — Ω ≤ ∞, café, 数学\n\tend"
    assert all(ch in CHARSET for ch in text)
    assert "\x00" not in CHARSET and "\U0001F600" not in CHARSET


def test_reset_is_deterministic_and_options_pick_problems():
    env = MathReasoningEnv()
    first = [env.reset(seed=s)[0] for s in range(5)]
    assert first == [env.reset(seed=s)[0] for s in range(5)]
    assert len(set(first)) > 1
    pool = env.problems
    assert env.reset(options={"problem": 7})[1]["problem_id"] == pool[7].id
    assert env.reset(options={"problem": np.int64(8)})[1]["problem_id"] == pool[8].id
    assert env.reset(options={"problem": pool[9].id})[1]["problem_id"] == pool[9].id
    outside = Problem(id="custom", problem="What is $1+1$?", answer="2")
    obs, info = env.reset(options={"problem": outside})
    assert info["problem_id"] == "custom" and obs == "Problem: What is $1+1$?\n\nSolution:\n"
    for bad, match in ((len(pool), "out of range"), ("nope", "not the id"), (P357, "task"), (1.5, "index"), (True, "index")):
        with pytest.raises(ValueError, match=match):
            env.reset(options={"problem": bad})


def test_state_round_trip_and_branching():
    env = CountdownEnv(problems=[P357])
    env.reset(seed=0)
    env.step("5*7=35")
    saved = env.get_state()
    assert isinstance(saved, ReasoningState) and env.get_state() is saved  # no copies
    obs_a, reward_a, *_ = env.step("(5*7)-3=32")
    env.step("\\boxed{(5*7)-3}")
    assert env.set_state(saved) == saved.text
    assert env.get_state() is saved and saved.steps == ("5*7=35",)  # immutable: untouched by later steps
    obs_b, reward_b, *_ = env.step("(5*7)-3=32")
    assert (obs_a, reward_a) == (obs_b, reward_b)
    # another instance continues from the same state
    other = CountdownEnv(problems=[P357])
    other.set_state(saved)
    assert other.step("(5*7)-3=32")[0] == obs_a
    # restoring a terminal state leaves the episode ended
    env.step("\\boxed{(5*7)-3}")
    final = env.get_state()
    other.set_state(final)
    with pytest.raises(RuntimeError):
        other.step("3+5=8")
    with pytest.raises(ValueError, match="expects a ReasoningState"):
        other.set_state("not a state")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="delimiter"):
        CountdownEnv(problems=[P357], delimiter="\n---\n").set_state(saved)


def test_make_vec_async_equals_sync_on_reset_and_steps():
    # Countdown episodes end at a boxed step, so the scripted actions also cross an autoreset.
    actions = [("1+1=2", "2*3=6"), ("\\boxed{1+2}", "3-1=2"), ("4+4=8", "\\boxed{2}"), ("5+5=10", "6+6=12"), ("7*7=49", "8+1=9")]
    runs = {}
    for mode in ("sync", "async"):
        envs = gym.make_vec("astro/Countdown-v0", num_envs=2, vectorization_mode=mode)
        trace = [envs.reset(seed=[4, 9])[0]]
        for action in actions:
            obs, rewards, terminated, truncated, infos = envs.step(action)
            trace.append((tuple(obs), rewards.tolist(), terminated.tolist(), truncated.tolist(), infos["depth"].tolist()))
        envs.close()
        runs[mode] = trace
    assert runs["async"] == runs["sync"]
    first = runs["sync"][0]
    assert all(o.startswith("Numbers: ") and len(o) < 100 for o in first)
    assert any(any(step[2]) for step in runs["sync"][1:])  # an episode ended and was reset


def test_make_vec_async_without_copy_reads_the_current_buffer():
    sync = gym.make_vec("astro/Countdown-v0", num_envs=2, vectorization_mode="sync")
    envs = gym.make_vec("astro/Countdown-v0", num_envs=2, vectorization_mode="async", vector_kwargs={"copy": False})
    try:
        assert tuple(envs.reset(seed=[1, 2])[0]) == tuple(sync.reset(seed=[1, 2])[0])
        assert tuple(envs.step(("1+1=2", "2+2=4"))[0]) == tuple(sync.step(("1+1=2", "2+2=4"))[0])
    finally:
        envs.close()
        sync.close()


def test_unknown_reset_options_are_refused():
    env = CountdownEnv(problems=[P357])
    with pytest.raises(ValueError, match="unknown reset option.*'problme'.*only option is 'problem'"):
        env.reset(options={"problme": 0})
    with pytest.raises(ValueError, match="must be a dict"):
        env.reset(options=[("problem", 0)])  # type: ignore[arg-type]
    assert env.reset(options={"problem": 0})[1]["problem_id"] == P357.id


def test_forged_states_are_refused():
    from dataclasses import replace

    env = CountdownEnv(problems=[P357])
    env.reset(options={"problem": 0})
    env.step("5*7=35")
    good = env.get_state()
    other_problem = Problem(id=P357.id, problem="Numbers: 3 5 8\nTarget: 26", answer="26", task="countdown", metadata={"numbers": [3, 5, 8], "target": 26})
    forged = [
        (replace(good, problem=other_problem, prompt=CountdownTask().format_prompt(other_problem)), "not in this environment's pool"),
        (replace(good, prompt="Numbers: 1 2\nTarget: 3\n\n"), "prompt is not the task's prompt"),
        (replace(good, steps=("",), n_chars=2), "could not have produced"),
        (replace(good, steps=(" 5*7=35",), n_chars=9), "could not have produced"),
        (replace(good, steps=("\\boxed{(5*7)-3}", "1+1=2"), n_chars=30), "continues after a step that states a final answer"),
        (replace(good, answer="26", correct=True), "disagree with its steps"),
        (replace(good, steps=("\\boxed{5+7+3}",), answer="5+7+3", correct=True, n_chars=15), "disagree with its steps"),
        (replace(good, n_chars=99), "n_chars"),
        (replace(good, steps=["5*7=35"]), "tuple of strings"),
    ]
    for state, match in forged:
        with pytest.raises(ValueError, match=match):
            env.set_state(state)
    assert env.get_state() is good  # nothing was restored
    # a state of a problem passed to reset is admitted, in this env
    outside = Problem(id="custom", problem="Numbers: 2 2\nTarget: 4", answer="4", task="countdown", metadata={"numbers": [2, 2], "target": 4})
    env.reset(options={"problem": outside})
    env.step("\\boxed{2+2}")
    won = env.get_state()
    assert won.correct is True
    env.reset(options={"problem": 0})
    assert env.set_state(won) == won.text
    with pytest.raises(ValueError, match="not in this environment's pool"):
        CountdownEnv(problems=[P357]).set_state(won)


def test_custom_delimiter():
    env = CountdownEnv(problems=[P357], delimiter="\n")
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step("5*7=35")
    assert obs == "Numbers: 3 5 7\nTarget: 26\n\n5*7=35\n"
    with pytest.raises(ValueError, match="delimiter"):
        CountdownEnv(delimiter="")


def test_problem_pool_validation():
    with pytest.raises(ValueError, match="task"):
        CountdownEnv(problems=generate_synthetic(2))
    with pytest.raises(ValueError, match="empty"):
        MathReasoningEnv(problems=[])
    with pytest.raises(ValueError, match="max_steps"):
        MathReasoningEnv(max_steps=0)


def test_benchmark_problems_fit_the_spaces():
    try:
        problems = load_problems("math500") + load_problems("aime24")
    except FileNotFoundError as exc:
        pytest.skip(f"benchmark data not available: {exc}")
    env = MathReasoningEnv(problems=problems)
    for index in range(0, len(problems), 37):
        obs, _ = env.reset(options={"problem": index})
        assert env.observation_space.contains(obs)


def test_unicode_text_space_equals_gymnasium_text_over_the_charset():
    from gymnasium import spaces

    from astro_env.envs import UnicodeText

    ours, reference = UnicodeText(50, min_length=1), spaces.Text(50, min_length=1, charset=CHARSET)
    assert ours == reference and ours.character_set == CHARSET
    assert ours.character_list == reference.character_list
    ours.seed(0)
    sample = ours.sample()
    assert ours.contains(sample) and reference.contains(sample) and 1 <= len(sample) <= 50
    assert ours.contains("é $\\frac{1}{2}$") and not ours.contains("a\x00") and not ours.contains("x" * 51)
    with pytest.raises(ValueError):
        UnicodeText(5, min_length=6)


def test_unicode_text_deepcopy_keeps_an_independent_rng():
    import copy

    from astro_env.envs import UnicodeText

    space = UnicodeText(20)
    space.seed(1)
    clone = copy.deepcopy(space)
    assert clone == space and clone.character_list is space.character_list
    assert clone.sample() == space.sample()  # same RNG state copied...
    clone.sample()
    assert clone.np_random is not space.np_random  # ...but not shared


def test_astro_demo_runs_offline(capsys):
    from astro.demo import main

    assert main(["--seed", "1", "--prior", "uniform"]) == 0
    out = capsys.readouterr().out
    assert "astro/Countdown-v0" in out and "astro/MathReasoning-v0" in out
    assert "correct=True" in out  # the scripted math episode replays a worked solution
    assert "is_equivalent" in out
