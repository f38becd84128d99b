"""`astro demo`: a short episode of each environment and a few verifier verdicts.

Runs offline in about a second: `astro/Countdown-v0` played by the symbolic Countdown
policy, `astro/MathReasoning-v0` played by a scripted policy replaying a generated problem's
worked solution (and a wrong final answer), then `astro_env.verifier` on a handful of pairs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

VERDICT_CASES: tuple[tuple[str, str], ...] = (
    ("\\frac{1}{2}", "0.5"),
    ("\\frac{1}{2}", "\\dfrac12"),
    ("3\\sqrt{2}", "\\sqrt{18}"),
    ("x=5", "5"),
    ("10", "10\\%"),
    ("(1,2)", "(2,1)"),
)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def run_countdown(seed: int, prior: str) -> None:
    """Play one Countdown episode with the symbolic policy and print it."""
    import gymnasium as gym

    import astro_env  # noqa: F401  (registers the ids)
    from agents import build_policy
    from agents.base import PolicyConfig, SamplingConfig

    env = gym.make("astro/Countdown-v0")
    obs, info = env.reset(seed=seed)
    policy = build_policy(PolicyConfig(backend="countdown", seed=seed, extra={"prior": prior}))
    print(f"== astro/Countdown-v0 (problem {info['problem_id']}, {prior} policy)")
    print(_indent(obs.rstrip()))
    done = False
    while not done:
        state = env.unwrapped.get_state()
        [[sample]] = policy.propose_steps([state], 1, SamplingConfig(seed=seed))
        obs, reward, terminated, truncated, info = env.step(sample.text)
        print(f"  step {info['depth']}: {sample.text!r:32} p={2.718281828 ** sample.logprob:.3f} reward={reward}")
        done = terminated or truncated
    print(f"  -> answer {info['answer']!r}, correct={info['correct']}")
    problem = env.unwrapped.get_state().problem
    task = env.unwrapped.task
    playouts = policy.complete([task.format_prompt(problem)], 100, SamplingConfig(seed=seed))[0]
    n_correct = sum(task.reward(problem, c.text) for c in playouts)
    print(f"  the same policy solves this problem in {n_correct:.0f} of 100 playouts (policy.complete)")
    env.close()


def run_math(seed: int) -> None:
    """Replay a generated problem's worked solution in the math env, then branch to a wrong answer."""
    import gymnasium as gym

    import astro_env  # noqa: F401

    env = gym.make("astro/MathReasoning-v0")
    obs, info = env.reset(seed=seed)
    print(f"\n== astro/MathReasoning-v0 (problem {info['problem_id']}, scripted policy)")
    print(_indent(obs.rstrip()))
    steps = env.unwrapped.get_state().problem.solution.split("\n\n")
    branch = None
    for step in steps:
        if step == steps[-1]:
            branch = env.unwrapped.get_state()  # save before the final step
        obs, reward, terminated, truncated, info = env.step(step)
        print(f"  step {info['depth']}: {step[:70]!r} reward={reward}")
    print(f"  -> answer {info['answer']!r}, correct={info['correct']}")
    env.unwrapped.set_state(branch)
    _, reward, _, _, info = env.step("The answer is $\\boxed{42}$.")
    print(f"  restored the state before the last step and answered 42: reward={reward}, correct={info['correct']}")
    env.close()


def run_verifier() -> None:
    """Print the verifier's verdict on a few answer pairs, with timings."""
    from astro_env import verifier

    print("\n== astro_env.verifier.is_equivalent")
    for gold, pred in VERDICT_CASES:
        start = time.perf_counter()
        verdict = verifier.is_equivalent(gold, pred)
        print(f"  {gold!r:16} vs {pred!r:16} -> {verdict!s:5} ({(time.perf_counter() - start) * 1e3:.1f} ms)")
    completion = "We find $x = 3$, so the answer is $\\boxed{3}$."
    print(f"  reward({completion!r}, '3') = {verifier.reward(completion, '3')}")


@dataclass(frozen=True)
class DemoConfig:
    """What `astro demo` plays."""

    seed: int = 0
    """Seed of the episodes (problem choice and policy sampling)."""
    prior: Literal["uniform", "heuristic"] = "heuristic"
    """Prior of the symbolic Countdown policy over its candidate steps."""


def main(argv: list[str] | None = None) -> int:
    """`astro demo [--seed N] [--prior uniform|heuristic]`; returns the exit status."""
    from astro.args import parse_config

    args = parse_config(DemoConfig, list(argv or []), DemoConfig(), prog="astro demo", description=__doc__.split("\n\n")[0])
    run_countdown(args.seed, args.prior)
    run_math(args.seed)
    run_verifier()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
