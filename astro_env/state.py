"""`ReasoningState` (the MDP state) and the pure `transition` function.

The state is an immutable value: branching a search tree or restoring an environment is
passing a state around, never replaying steps or deep-copying.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from astro_env.problem import Problem

DEFAULT_DELIMITER = "\n\n"
"""Separator between reasoning steps (ASTRO: "minimal reasoning steps"; ours: a blank line)."""


@dataclass(frozen=True)
class ReasoningState:
    """S_t = (problem, prompt, steps s_0..s_t) plus the verdict once a step gives a final answer.

    `prompt` is the task's rendering of the problem (what a policy conditions on);
    `text` is the prompt followed by each step and its delimiter, i.e. exactly the string a
    policy continues to write the next step. `answer` is the extracted final answer of the
    terminal step (None while the episode runs); `correct` its verdict.
    """

    problem: Problem
    prompt: str
    steps: tuple[str, ...] = ()
    delimiter: str = DEFAULT_DELIMITER
    answer: str | None = None
    correct: bool | None = None
    n_chars: int = 0

    @property
    def depth(self) -> int:
        """Number of steps taken so far."""
        return len(self.steps)

    @property
    def terminal(self) -> bool:
        """True once a step stated a final answer."""
        return self.answer is not None

    @property
    def solution(self) -> str:
        """The steps joined by the delimiter: the completion written so far."""
        return self.delimiter.join(self.steps)

    @property
    def text(self) -> str:
        """Prompt plus every step followed by its delimiter: the prefix for the next step."""
        return self.prompt + "".join(step + self.delimiter for step in self.steps)


def initial_state(problem: Problem, prompt: str, delimiter: str = DEFAULT_DELIMITER) -> ReasoningState:
    """The state at t=0: no steps yet."""
    if not delimiter:
        raise ValueError("delimiter must be a non-empty string (default: a blank line, '\\n\\n').")
    return ReasoningState(problem=problem, prompt=prompt, delimiter=delimiter)


def transition(state: ReasoningState, step: str, answer: str | None = None, correct: bool | None = None) -> ReasoningState:
    """S_{t+1}: `state` with `step` appended (deterministic, pure).

    The caller (the environment, through its task) decides whether `step` states a final
    answer and passes `answer`/`correct`; a terminal state accepts no further step.
    """
    if state.terminal:
        raise ValueError("transition() on a terminal state: the episode already ended with a final answer.")
    return replace(
        state,
        steps=state.steps + (step,),
        answer=answer,
        correct=correct,
        n_chars=state.n_chars + len(step) + len(state.delimiter),
    )
