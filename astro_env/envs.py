"""Gymnasium environments: `astro/Reasoning-v0` (any task) and `astro/MathReasoning-v0`.

Each is a thin shell over the immutable `ReasoningState` and the pure
`astro_env.state.transition`; the task decides when a step ends the episode and what it
earns (a task may add its own id, as Countdown does with `astro/Countdown-v0` in
`astro_env.countdown_env`). `get_state()` / `set_state()` pass the state value, so a search
branches without replaying steps.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence as SequenceABC
from typing import Any, Literal, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import read_from_shared_memory

from astro_env.problem import Problem
from astro_env.state import DEFAULT_DELIMITER, ReasoningState, initial_state, transition
from astro_env.task import Task

_EXCLUDED = set(range(0x00, 0x20)) - {0x09, 0x0A, 0x0D} | set(range(0x7F, 0xA0)) | set(range(0xD800, 0xE000))
CHARSET: frozenset[str] = frozenset(chr(c) for c in range(0x10000) if c not in _EXCLUDED)
"""Characters admitted in observations and actions: the Basic Multilingual Plane (LaTeX,
accents, Greek, math symbols, CJK) minus control characters (tab, newline and carriage return
are kept) and surrogates."""

REPLACEMENT_CHAR = "\ufffd"
"""What an action character outside `CHARSET` (e.g. an emoji beyond the BMP) becomes."""

MIN_PROMPT_CHARS = 4096
"""The observation space admits prompts of at least this many characters."""

N_GENERATED = 1000
"""Size of the generated problem pool used when no problems are given."""


@functools.lru_cache(maxsize=1)
def _charset_template() -> spaces.Text:
    return spaces.Text(1, min_length=0, charset=CHARSET)


class UnicodeText(spaces.Text):
    """`gymnasium.spaces.Text` over `CHARSET`, cheap to build.

    Gymnasium's Text builds per-character lookup tables in its constructor (about 0.2 s for
    the BMP); this subclass builds them once per process and shares them read-only between
    instances, so making an environment stays in the milliseconds.
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | None = None) -> None:
        super().__init__(max_length, min_length=min_length, charset="a", seed=seed)  # validates the lengths
        for key, value in vars(_charset_template()).items():
            if key.startswith("_char"):
                setattr(self, key, value)

    def __deepcopy__(self, memo: dict) -> "UnicodeText":
        """A copy sharing the immutable character tables (vector envs deep-copy spaces)."""
        clone = copy.copy(self)
        memo[id(self)] = clone
        for key, value in vars(self).items():
            if not key.startswith("_char"):
                setattr(clone, key, copy.deepcopy(value, memo))
        return clone


class SharedTexts(SequenceABC):
    """The observations of an `AsyncVectorEnv` worker batch, decoded from shared memory on access.

    Gymnasium reads a shared-memory batch once, when the vector env is built, and relies on
    the result being a live view (true for numpy arrays). Its reader for `Text` returns a
    tuple of strings instead, frozen at the all-zero buffer, so every later `reset`/`step`
    returned strings of tabs. This view decodes the current buffer whenever it is read;
    `deepcopy` (what the vector env returns with `copy=True`, the default) gives a plain tuple,
    equal to what a `SyncVectorEnv` returns.
    """

    def __init__(self, space: spaces.Text, shared_memory: Any, n: int) -> None:
        self._space = space
        self._data = np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape((n, space.max_length))

    def __len__(self) -> int:
        return self._data.shape[0]

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        row = self._data[index]
        chars = self._space.character_list
        return "".join(map(chars.__getitem__, row[row < len(chars)].tolist()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (tuple, SharedTexts)) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(tuple(self))

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)


@read_from_shared_memory.register(UnicodeText)
def _read_unicode_text_from_shared_memory(space: UnicodeText, shared_memory: Any, n: int = 1) -> SharedTexts:
    return SharedTexts(space, shared_memory, n)


@functools.lru_cache(maxsize=4)
def _default_problems(kind: str) -> tuple[Problem, ...]:
    from astro_env import get_task

    task = get_task(kind)
    if not callable(getattr(task, "generate", None)):
        raise ValueError(f"task {kind!r} generates no problems: pass problems=[...] to the environment.")
    return tuple(task.generate(N_GENERATED, 0))


class ReasoningEnv(gym.Env[str, str]):
    """Step-by-step reasoning on a verifiable problem of any registered task (`astro/Reasoning-v0`).

    `task` names the task (`astro_env.get_task`); subclasses fix it (`MathReasoningEnv`,
    `astro_env.countdown_env.CountdownEnv`). The problem pool is `problems` or, when None,
    `N_GENERATED` problems the task generates (seed 0).
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 1}
    task_name: str = ""

    def __init__(
        self,
        problems: Sequence[Problem] | None = None,
        delimiter: str = DEFAULT_DELIMITER,
        max_steps: int = 50,
        max_chars: int = 16384,
        reward_style: Literal["binary", "signed"] = "binary",
        max_step_chars: int = 4096,
        render_mode: str | None = None,
        task: str | None = None,
    ) -> None:
        from astro_env import get_task

        if task is not None:
            if type(self).task_name and task != type(self).task_name:
                raise ValueError(f"{type(self).__name__} runs {type(self).task_name!r} problems; use astro/Reasoning-v0 for task={task!r}.")
            self.task_name = task
        if not self.task_name:
            raise ValueError("task is missing: gymnasium.make('astro/Reasoning-v0', task='countdown') (any registered task).")

        if not isinstance(delimiter, str) or not delimiter or any(ch not in CHARSET for ch in delimiter):
            raise ValueError("delimiter must be a non-empty string of printable characters (default: a blank line, '\\n\\n').")
        if max_steps < 1:
            raise ValueError(f"max_steps={max_steps}: use >= 1 (default 50).")
        if max_chars < 1:
            raise ValueError(f"max_chars={max_chars}: use >= 1 (the length budget of the solution, in characters).")
        if max_step_chars < 1:
            raise ValueError(f"max_step_chars={max_step_chars}: use >= 1 (default 4096).")
        if reward_style not in ("binary", "signed"):
            raise ValueError(f"reward_style={reward_style!r}: use 'binary' (1/0) or 'signed' (+1/-1).")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r}: use None, 'ansi' or 'human'.")
        self.task: Task = get_task(self.task_name)
        pool = tuple(_default_problems(self.task_name) if problems is None else problems)
        if not pool:
            raise ValueError("problems is empty: pass at least one Problem, or None for the generated set.")
        for problem in pool:
            if not isinstance(problem, Problem):
                raise ValueError(f"problems must hold Problem records, got {type(problem).__name__}.")
            if problem.task != self.task_name:
                raise ValueError(f"Problem {problem.id!r} has task {problem.task!r}; this environment runs {self.task_name!r} problems.")
        self.problems: tuple[Problem, ...] = pool
        self._index_by_id = {p.id: k for k, p in enumerate(pool)}
        self._admitted: set[str] = {p.content_hash for p in pool}
        self.delimiter = delimiter
        self.max_steps = int(max_steps)
        self.max_chars = int(max_chars)
        self.max_step_chars = int(max_step_chars)
        self.reward_style = reward_style
        self.render_mode = render_mode
        self.max_prompt_chars = max([MIN_PROMPT_CHARS] + [len(self.task.format_prompt(p)) for p in pool])
        self.observation_space = UnicodeText(self.max_prompt_chars + self.max_chars + self.max_step_chars + len(delimiter), min_length=0)
        self.action_space = UnicodeText(self.max_step_chars, min_length=1)
        self._state: ReasoningState | None = None
        self._done = False
        self._step_truncated = False

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"reset options must be a dict such as {{'problem': 3}}, got {type(options).__name__}.")
        unknown = sorted(set(options or {}) - {"problem"}, key=str)
        if unknown:
            raise ValueError(f"unknown reset option(s) {', '.join(map(repr, unknown))}: the only option is 'problem' (a Problem, a problem id or an index).")
        problem = self._pick_problem((options or {}).get("problem"))
        self._admitted.add(problem.content_hash)
        prompt = self.task.format_prompt(problem)
        self._check_prompt(prompt)
        self._state = initial_state(problem, prompt, self.delimiter)
        self._done = False
        self._step_truncated = False
        return self._state.text, self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("step() before reset(): call env.reset() to start an episode.")
        if self._done:
            raise RuntimeError("step() after the episode ended (terminated or truncated): call env.reset() or set_state().")
        step, self._step_truncated = self._clean_action(action)
        answer = self.task.extract_answer(step)
        if answer is None:
            state = transition(self._state, step)
            reward = 0.0
        else:
            provisional = transition(self._state, step)
            score = self.task.reward(provisional.problem, provisional.solution)
            state = transition(self._state, step, answer=answer, correct=score > 0)
            reward = self._reward(bool(score > 0))
        self._state = state
        terminated = state.terminal
        truncated = not terminated and self._over_budget(state)
        if truncated:
            reward = self._reward(False)
        self._done = terminated or truncated
        return state.text, reward, terminated, truncated, self._info()

    def render(self) -> str | None:
        if self.render_mode is None or self._state is None:
            return None
        if self.render_mode == "ansi":
            return self._state.text
        print(self._state.text)
        return None

    # ------------------------------------------------------------------ branching

    def get_state(self) -> ReasoningState:
        """The current immutable `ReasoningState` (no copy is made; it cannot change)."""
        if self._state is None:
            raise RuntimeError("get_state() before reset(): call env.reset() first.")
        return self._state

    def set_state(self, state: ReasoningState) -> str:
        """Restore `state` (as returned by `get_state`, possibly from another env); returns its observation.

        The episode continues from there: ended iff the state is terminal or over budget.
        Raises ValueError for anything `reset`/`step` could not have produced here: not a
        `ReasoningState`, another delimiter or task, a problem outside the pool and not passed
        to `reset`, a prompt that is not the task's rendering of the problem, steps that are
        empty/unstripped/outside `CHARSET`, a final answer before the last step, or `answer`,
        `correct` and `n_chars` that disagree with the steps.
        """
        self._check_state(state)
        self._state = state
        self._done = state.terminal or self._over_budget(state)
        self._step_truncated = False
        return state.text

    # ------------------------------------------------------------------ helpers

    def _pick_problem(self, choice: Problem | str | int | None) -> Problem:
        if choice is None:
            return self.problems[int(self.np_random.integers(len(self.problems)))]
        if isinstance(choice, Problem):
            if choice.task != self.task_name:
                raise ValueError(f"options['problem'] has task {choice.task!r}; this environment runs {self.task_name!r} problems.")
            return choice
        if isinstance(choice, str):
            if choice not in self._index_by_id:
                raise ValueError(f"options['problem']={choice!r} is not the id of a problem in this environment's pool.")
            return self.problems[self._index_by_id[choice]]
        if hasattr(choice, "__index__") and not isinstance(choice, bool):
            index = choice.__index__()  # int or numpy integer
            if not -len(self.problems) <= index < len(self.problems):
                raise ValueError(f"options['problem']={index} is out of range for {len(self.problems)} problems.")
            return self.problems[index]
        raise ValueError(f"options['problem'] must be a Problem, a problem id or an index, got {type(choice).__name__}.")

    def _check_state(self, state: Any) -> None:
        """Raise ValueError unless `state` is one this environment's reset/step could produce."""
        if not isinstance(state, ReasoningState):
            raise ValueError(f"set_state expects a ReasoningState (from get_state), got {type(state).__name__}.")
        if state.delimiter != self.delimiter:
            raise ValueError(f"state delimiter {state.delimiter!r} differs from this env's {self.delimiter!r}.")
        if not isinstance(state.problem, Problem) or state.problem.task != self.task_name:
            task = getattr(state.problem, "task", type(state.problem).__name__)
            raise ValueError(f"state holds a {task!r} problem; this environment runs {self.task_name!r} problems.")
        if state.problem.content_hash not in self._admitted:
            raise ValueError(
                f"state's problem {state.problem.id!r} is not in this environment's pool (or its content differs); "
                "reset(options={'problem': problem}) first or make the env with problems=[...]."
            )
        if state.prompt != self.task.format_prompt(state.problem):
            raise ValueError("state's prompt is not the task's prompt for its problem; take states from get_state().")
        self._check_prompt(state.prompt)
        if not isinstance(state.steps, tuple) or not all(isinstance(step, str) for step in state.steps):
            raise ValueError("state's steps must be a tuple of strings; take states from get_state().")
        for step in state.steps:
            if not step or step != step.strip() or len(step) > self.max_step_chars or any(ch not in CHARSET for ch in step):
                raise ValueError(f"state holds step {step[:40]!r} that step() could not have produced (empty, unstripped, too long or outside the charset).")
        answers = [self.task.extract_answer(step) for step in state.steps]
        if any(answer is not None for answer in answers[:-1]):
            raise ValueError("state continues after a step that states a final answer; an episode ends at its first final answer.")
        last = answers[-1] if answers else None
        expected_correct = None if last is None else self.task.reward(state.problem, state.solution) > 0
        if state.answer != last or state.correct != expected_correct:
            raise ValueError(
                f"state's answer={state.answer!r}, correct={state.correct!r} disagree with its steps "
                f"(answer={last!r}, correct={expected_correct!r}); take states from get_state()."
            )
        if state.n_chars != sum(len(step) + len(state.delimiter) for step in state.steps):
            raise ValueError(f"state's n_chars={state.n_chars} disagrees with its steps; take states from get_state().")

    def _check_prompt(self, prompt: str) -> None:
        if len(prompt) > self.max_prompt_chars:
            raise ValueError(
                f"prompt of {len(prompt)} characters exceeds the observation space's {self.max_prompt_chars}; "
                "pass the problem in `problems=` when making the env so the space is sized for it."
            )
        if any(ch not in CHARSET for ch in prompt):
            raise ValueError("the problem text holds control characters outside the observation charset; clean the problem text.")

    def _clean_action(self, action: Any) -> tuple[str, bool]:
        """(step text, whether it was cut at max_step_chars). Raises ValueError on unusable actions."""
        if not isinstance(action, str):
            raise ValueError(f"action must be a str (the next reasoning step), got {type(action).__name__}.")
        if "\x00" in action:
            raise ValueError("action contains NUL bytes; send plain text.")
        cut = len(action) > self.max_step_chars
        step = action[: self.max_step_chars].strip()
        if not step:
            raise ValueError("action is empty (or whitespace only); send the next reasoning step as text.")
        if any(ch not in CHARSET for ch in step):
            step = "".join(ch if ch in CHARSET else REPLACEMENT_CHAR for ch in step)
        return step, cut

    def _over_budget(self, state: ReasoningState) -> bool:
        return state.depth >= self.max_steps or state.n_chars >= self.max_chars

    def _reward(self, correct: bool) -> float:
        if correct:
            return 1.0
        return -1.0 if self.reward_style == "signed" else 0.0

    def _info(self) -> dict[str, Any]:
        state = self._state
        assert state is not None
        return {
            "answer": state.answer,
            "correct": state.correct,
            "depth": state.depth,
            "problem_id": state.problem.id,
            "step_truncated": self._step_truncated,
        }


class MathReasoningEnv(ReasoningEnv):
    """Solve a MATH-style problem one reasoning step at a time (`astro/MathReasoning-v0`).

    ## Observation
    `Text` over `CHARSET` (the Unicode BMP without control characters): the prompt
    `"Problem: {problem}\\n\\nSolution:\\n"` followed by each step and the delimiter, i.e.
    `ReasoningState.text`, the prefix a policy continues.

    ## Action
    The next reasoning step as a `str` (`Text(max_length=max_step_chars)`). Leading and
    trailing whitespace is stripped; text beyond `max_step_chars` is cut (`info["step_truncated"]`);
    characters outside `CHARSET` become U+FFFD. Non-strings, empty/whitespace-only strings and
    strings with NUL bytes raise ValueError.

    ## Reward
    0 for a step without a final answer. At the step that states one (`\\boxed{...}` or
    "The answer is ..."), `MathTask.reward` of the whole solution: `reward_style="binary"`
    gives 1/0, `"signed"` +1/-1. Truncation earns the failure reward (0 or -1).

    ## Episode End
    Terminated when a step states a final answer. Truncated after `max_steps` steps (default
    50) or once the solution reaches `max_chars` characters. `step` after either raises
    RuntimeError.

    ## Info
    `answer` (extracted final answer or None), `correct` (verdict or None), `depth` (steps so
    far), `problem_id`, `step_truncated`.

    ## Arguments
    `problems` (None: 1000 generated problems from `astro_env.synthetic`), `delimiter`
    (default a blank line), `max_steps`, `max_chars`, `reward_style`, `max_step_chars`,
    `render_mode` ("ansi" or "human"). `reset(seed=..., options={"problem": Problem | id | index})`
    picks the problem (uniformly from the pool by the seeded RNG otherwise); any other option
    raises ValueError. `get_state()` / `set_state(state)` save and restore the immutable
    `ReasoningState`; a state the env could not have produced raises ValueError.
    Vector envs: `gymnasium.make_vec(..., vectorization_mode="async")` returns the same
    observations as "sync" (`SharedTexts` reads the shared-memory batch).

    ## Version History
    - v0: initial version; reset options and restored states are validated.
    """

    task_name = "math"
