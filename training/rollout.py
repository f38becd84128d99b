"""GRPO rollouts as episodes of the Gymnasium environment.

The policy writes a whole completion in one batched call (fast), then the completion is cut
into steps at the environment's delimiter and replayed through `astro/MathReasoning-v0` or
`astro/Countdown-v0`: the environment's terminal reward is the only reward, so training,
search and evaluation share one definition of "correct".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from agents.base import Completion, SamplingConfig
from agents.chat import ChatConfig, ChatPrompter
from astro_env.problem import Problem
from astro_env.state import DEFAULT_DELIMITER

"""The environment that runs each `Problem.task`."""


@dataclass(frozen=True)
class Rollout:
    """One environment episode written by the policy (a line of a rollout log).

    `reward` is the environment's return (its 0/1 terminal reward; 0 when the completion ends
    without a final answer); `advantage` is filled by the trainer once the group is known.
    `old_logprobs` are the sampler's per-token log-probs of `completion_token_ids`
    (temperature 1, the backend's numerics). `truncated` is True when the completion hit the
    token budget or the episode hit the environment's step/length budget.
    """

    problem_id: str
    prompt: str
    completion: str
    prompt_token_ids: tuple[int, ...]
    completion_token_ids: tuple[int, ...]
    old_logprobs: tuple[float, ...]
    reward: float
    truncated: bool
    n_steps: int
    advantage: float = 0.0
    correct: bool = False
    answer: str | None = None
    finish_reason: str = "eos"
    group_idx: int = 0
    """Index of the prompt within its batch: rollouts of one group share it."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("prompt_token_ids", "completion_token_ids", "old_logprobs"):
            out[key] = list(out[key])
        return out


@dataclass(frozen=True)
class Episode:
    """What replaying one completion through the environment gave."""

    reward: float
    terminated: bool
    truncated: bool
    n_steps: int
    answer: str | None
    correct: bool


@dataclass(frozen=True)
class RolloutConfig:
    """How `collect_rollouts` samples and replays."""

    n_samples: int = 4
    """Completions per problem (GRPO's group size)."""
    max_new_tokens: int = 256
    """Most tokens per completion."""
    temperature: float = 1.0
    """Sampling temperature (paper: 1.0)."""
    top_p: float = 1.0
    """Nucleus mass."""
    seed: int | None = None
    """Sampling seed of this call."""
    delimiter: str = DEFAULT_DELIMITER
    """Step delimiter the completion is cut at (the environment's)."""
    max_steps_per_episode: int = 50
    """The environment's step limit (paper: depth 50)."""
    chat: ChatConfig = field(default_factory=ChatConfig)
    """Chat template and system prompt the prompts are rendered with (`agents.chat`)."""

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ValueError(f"n_samples={self.n_samples}: use >= 1.")
        if not self.delimiter:
            raise ValueError("delimiter must be non-empty (default a blank line).")

    @property
    def sampling(self) -> SamplingConfig:
        return SamplingConfig(max_tokens=self.max_new_tokens, temperature=self.temperature, top_p=self.top_p, seed=self.seed)


def split_steps(completion: str, delimiter: str = DEFAULT_DELIMITER) -> list[str]:
    """The non-empty steps of `completion` cut at `delimiter` (whitespace-only pieces dropped).

    >>> split_steps("5*7=35\\n\\n\\n\\n(5*7)-3=32\\n\\n\\\\boxed{(5*7)-3}")
    ['5*7=35', '(5*7)-3=32', '\\\\boxed{(5*7)-3}']
    """
    return [step for step in completion.split(delimiter) if step.strip()]


def replay(env, problem: Problem, completion: str, delimiter: str = DEFAULT_DELIMITER) -> Episode:
    """The episode of `problem` in `env` whose actions are `completion`'s steps.

    Steps after the episode ends (a final answer, or the env's budget) are not played; a
    completion that ends without a final answer earns 0 (the episode never terminated). An
    action the environment rejects (e.g. NUL bytes) ends the episode with reward 0.
    """
    env.reset(options={"problem": problem})
    total, terminated, truncated, n_steps = 0.0, False, False, 0
    info: dict[str, Any] = {}
    for step in split_steps(completion, delimiter):
        try:
            _, reward, terminated, truncated, info = env.step(step)
        except ValueError:
            break
        n_steps += 1
        total += float(reward)
        if terminated or truncated:
            break
    correct = bool(terminated and info.get("correct"))
    return Episode(reward=total, terminated=bool(terminated), truncated=bool(truncated), n_steps=n_steps,
                   answer=info.get("answer") if terminated else None, correct=correct)


def make_envs(problems: Sequence[Problem], config: RolloutConfig) -> dict[str, Any]:
    """One environment per task among `problems` (binary 0/1 reward, the config's delimiter and step limit)."""
    import gymnasium

    import astro_env  # noqa: F401  (registers the environments)

    envs = {}
    for task in sorted({p.task for p in problems}):
        pool = [p for p in problems if p.task == task]
        envs[task] = gymnasium.make(
            "astro/Reasoning-v0", task=task, problems=pool, delimiter=config.delimiter,
            max_steps=config.max_steps_per_episode, reward_style="binary",
            disable_env_checker=True,
        )
    return envs


def _sample(policy, prompt_ids: list[list[int]], prompts: list[str], n: int, sampling: SamplingConfig) -> list[list[Completion]]:
    if callable(getattr(policy, "complete_ids", None)):  # generate from exactly the ids the trainer scores
        return policy.complete_ids(prompt_ids, n, sampling)
    return policy.complete(prompts, n, sampling)


def collect_rollouts(policy, tokenizer, problems: Sequence[Problem], config: RolloutConfig, envs: dict[str, Any] | None = None) -> list[Rollout]:
    """`config.n_samples` rollouts per problem, contiguous per problem (the GRPO group layout).

    One `policy` call samples every completion; each is replayed through its task's
    environment. Prompt ids are the prompts rendered by `config.chat` for `tokenizer` (what
    `TransformersPolicy.complete` gives the model). Completion token ids end with the end token
    (EOS, or a chat template's end-of-turn token) when the policy stopped on its own (appended
    when the backend left it out), so the loss teaches the policy to stop.
    """
    from astro_env import get_task

    problems = list(problems)
    if not problems:
        return []
    envs = envs if envs is not None else make_envs(problems, config)
    prompts = [get_task(p.task).format_prompt(p) for p in problems]
    prompter = ChatPrompter(config.chat, tokenizer)
    prompt_ids = prompter.encode(prompts)
    samples = _sample(policy, prompt_ids, prompts, config.n_samples, config.sampling)
    eos_id = prompter.end_token_id
    ends = {eos_id, getattr(tokenizer, "eos_token_id", None)} - {None}
    rollouts: list[Rollout] = []
    for group_idx, (problem, prompt, ids, completions) in enumerate(zip(problems, prompts, prompt_ids, samples)):
        for completion in completions:
            episode = replay(envs[problem.task], problem, completion.text, config.delimiter)
            token_ids = tuple(completion.token_ids)
            logprobs = tuple(completion.token_logprobs)
            if completion.finish_reason == "eos" and eos_id is not None and (not token_ids or token_ids[-1] not in ends):
                token_ids, logprobs = token_ids + (int(eos_id),), logprobs + (0.0,)
            rollouts.append(Rollout(
                problem_id=problem.id,
                prompt=prompt,
                completion=completion.text,
                prompt_token_ids=tuple(ids),
                completion_token_ids=token_ids,
                old_logprobs=logprobs,
                reward=episode.reward,
                truncated=completion.truncated or episode.truncated,
                n_steps=episode.n_steps,
                correct=episode.correct,
                answer=episode.answer,
                finish_reason=completion.finish_reason,
                group_idx=group_idx,
            ))
    return rollouts
