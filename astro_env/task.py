"""The `Task` interface: how a family of problems is prompted, ends and is verified, and what else it supplies.

Reward comes only from a task, and evaluation calls the same method: one definition of
"correct". Implementations: `astro_env.math_task.MathTask` (LaTeX answers, the verifier),
`astro_env.countdown.CountdownTask` (exact check of an arithmetic expression) and
`astro_env.reasoning_gym_task.ReasoningGymTask`.

A task is a plug-in: `astro_env.get_task(name)` resolves registered names (entry-point group
`astro.tasks`, where the built-ins are declared too) and `package.module:Class` import paths,
and `gymnasium.make("astro/Reasoning-v0", task=name)` runs any of them. See `examples/custom_task.py`.

Beyond the five methods of `Task`, a task may supply what the rest of the pipeline needs from
it; every hook is optional, and the pipeline reads each through the function named here, so no
module outside a task's own files imports it or branches on its name:

| hook | what it supplies | read through |
|---|---|---|
| `Config` (a frozen dataclass) and a constructor taking `config=` | the task's own settings | `get_task(name, config)`, `task_config_class` |
| `generate(n, seed)` | problems made from the task's config (`ProceduralTask`) | `astro run` without problem files, `name[:n[:seed]]` specs |
| `default_search_policy` | the policy backend that proposes search steps by default | `default_search_policy` |
| `outcome_phrases`, `outcome_goal`, `outcome_value` (`OutcomeTask`) | the comparison of a final step with the goal | `outcome_phrases`, `search.verbalize` |
| `pretrain_corpus(n, seed, exclude_keys)` (`PretrainingTask`) | (problem, completion) pairs the embedded model pre-trains on | `training.embedded.pretrain` |
| `competence_probes()` | a `CompetenceProbes`: audits of a model's steps, a verification probe, reference play | `competence_probes`, `benchmarks.competence` |
| `validate_problem(problem)` | a check of a record read from a problem file | `astro_env.loaders.read_problems` |
| `self_check(problem, completion)` (`SelfCheckingTask`) | the check of an answer that the prompt allows (a stop rule) | `benchmarks.retry` |
"""

from __future__ import annotations

import dataclasses
import random
import typing
from typing import TYPE_CHECKING, AbstractSet, Any, Mapping, Protocol, Sequence, runtime_checkable

from astro_env.problem import Problem

if TYPE_CHECKING:  # pragma: no cover
    from astro_env.outcome import OutcomePhrases


@runtime_checkable
class Task(Protocol):
    name: str
    """Short identifier stored in `Problem.task` ("math", "countdown")."""

    def format_prompt(self, problem: Problem) -> str:
        """The text a policy conditions on; the first reasoning step follows it directly."""
        ...

    def extract_answer(self, text: str) -> str | None:
        """The final answer stated in `text` (a step or a whole completion), None if there is none."""
        ...

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        """Whether an extracted final answer solves `problem`. Never raises."""
        ...

    def is_equivalent(self, answer_a: str, answer_b: str) -> bool:
        """Whether two final answers are the same answer (used to keep wrong answers distinct)."""
        ...

    def reward(self, problem: Problem, completion: str) -> float:
        """1.0 when the completion's final answer solves the problem, else 0.0. Never raises."""
        ...


@runtime_checkable
class ProceduralTask(Task, Protocol):
    """A task that generates its own problems (Countdown, the synthetic MATH-style task, plug-ins)."""

    def generate(self, n: int, seed: int) -> list[Problem]:
        """`n` problems whose `task` is this task's name, made from the task's own config; the same list for the same seed."""
        ...


@runtime_checkable
class SelfCheckingTask(Task, Protocol):
    """A task whose prompts let a solver check its own answer (optional hook; Countdown has it, math tasks do not).

    `self_check` must use only what `format_prompt(problem)` states, never `problem.answer` or
    any other gold field: it is the stop rule "sample until a completion passes the check" that
    any model could run at test time (`benchmarks.retry`, the compute-matched baselines). It may
    accept a completion the verifier rejects (or reject one it accepts); the baselines count
    the verifier's verdict of the completion they stop at.
    """

    def self_check(self, problem: Problem, completion: str) -> bool:
        """Whether `completion`'s final answer passes the check the prompt allows. Never raises."""
        ...


@runtime_checkable
class OutcomeTask(Task, Protocol):
    """A task whose prompt names a goal that a final step's value is compared with in words (Countdown's target).

    The verbaliser writes `outcome_phrases.sentence(value, goal)` after a final step (before the box
    when it reaches the goal; in place of a wrong terminal's text when it misses), and the trace parser
    reads those sentences back.
    """

    outcome_phrases: "OutcomePhrases"

    def outcome_goal(self, problem: Problem) -> str | None:
        """The goal `problem`'s prompt names, as the text a comparison copies; None when it names none."""
        ...

    def outcome_value(self, problem: Problem, answer: str | None) -> str | None:
        """The exact value of a final answer as text comparable with the goal; None when it has none."""
        ...


@runtime_checkable
class PretrainingTask(Task, Protocol):
    """A task that supplies the corpus the embedded base model is pre-trained on."""

    def pretrain_corpus(self, n: int, seed: int, exclude_keys: AbstractSet[str] = frozenset()) -> list[tuple[Problem, str]]:
        """`n` (problem, completion) pairs; the model reads `format_prompt(problem)` and learns `completion`.

        Deterministic in (config, n, seed, exclude_keys), and `pretrain_corpus(n, s, e)` is a prefix of
        `pretrain_corpus(m, s, e)` for n <= m. No pair's problem has a `prompt_key` in `exclude_keys`
        (by construction: pairs that would have one are never made).
        """
        ...


@runtime_checkable
class CompetenceProbes(Protocol):
    """What a task measures of a model's completions beside the solve rate (`benchmarks.competence`).

    The competence table has the columns `columns`, then `solve_rate` (the task's reward) and
    `verification_auc` (from `verification_pairs`); `reference_completion`, when it returns text,
    adds the rows "random legal play" and "oracle-verified play".
    """

    columns: tuple[str, ...]
    """Keys of `audit` shown as table columns, in order."""
    gates: tuple[tuple[str, str, float], ...]
    """(model label, column, least value) the models must reach before a comparison means something."""
    max_new_tokens: int
    """A token budget that holds one attempt (what a quick competence check decodes)."""

    def audit(self, problems: Sequence[Problem], texts: Sequence[str]) -> dict[str, float]:
        """Rates over completions aligned with `problems` (pure, never raises on model text)."""
        ...

    def verification_pairs(self, problems: Sequence[Problem], rng: random.Random, delimiter: str = "\n\n") -> list[tuple[Problem, str, bool]]:
        """(problem, prompt + forced steps each followed by `delimiter`, reaches): a correct solution up to
        its final step, once with a final step that reaches the goal and once with one that misses it."""
        ...

    def reference_completion(self, problem: Problem, rng: random.Random) -> str | None:
        """One uniformly random legal attempt (the random-play reference), None when the task has no such play."""
        ...


def task_config_class(name: str) -> type | None:
    """The `Config` dataclass the task `name` takes (None when it declares none); imports the task's module only."""
    from astro_env.registry import TASKS

    factory, _ = TASKS.load(name)
    config_cls = getattr(factory, "Config", None)
    return config_cls if isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls) else None


def config_from_mapping(config_cls: type, values: Mapping[str, Any], owner: str = "task") -> Any:
    """`config_cls(**values)`, with text values (as a command line gives them) converted to the fields'
    int, float or bool types. Unknown fields raise `UserError` naming the known ones."""
    from astro_env.errors import UserError

    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise UserError(f"{owner}: unknown config field(s) {', '.join(unknown)}; its fields are {', '.join(sorted(fields))}.")
    hints = typing.get_type_hints(config_cls)
    kwargs = {}
    for key, value in values.items():
        hint = hints.get(key)
        if isinstance(value, str) and hint in (int, float, bool):
            try:
                value = _BOOLS[value.lower()] if hint is bool else hint(value)
            except (KeyError, ValueError):
                raise UserError(f"{owner}: config field {key}={value!r} is not a {hint.__name__}.") from None
        kwargs[key] = value
    return config_cls(**kwargs)


_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def default_search_policy(task: Task) -> str:
    """The policy backend that proposes search steps for `task` by default: its `default_search_policy`, else "base" (the policy itself)."""
    name = getattr(task, "default_search_policy", None)
    return name if isinstance(name, str) and name else "base"


def outcome_phrases(task: Task) -> "OutcomePhrases | None":
    """The task's comparison sentences, None when it writes none (its prompts name no goal)."""
    phrases = getattr(task, "outcome_phrases", None)
    if phrases is None or not callable(getattr(task, "outcome_goal", None)) or not callable(getattr(task, "outcome_value", None)):
        return None
    return phrases


def competence_probes(task: Task) -> CompetenceProbes | None:
    """The task's `CompetenceProbes`, None when it defines none."""
    make = getattr(task, "competence_probes", None)
    return make() if callable(make) else None
