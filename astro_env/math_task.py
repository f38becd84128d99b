"""`MathTask`: MATH-style problems with LaTeX final answers, verified by `astro_env.verifier`.

Beside the `Task` interface it supplies the optional hooks of `astro_env.task` for its procedural
equations (`astro_env.math_steps`: linear equations and the positive root of a quadratic): its
`Config` (`MathConfig`), generated problems, the comparison of an attempt's check with the
right side (`math_phrases.json`), the compute-matched baseline's stop rule (`self_check`), the
embedded model's pre-training attempts (`astro_env.math_corpus`), competence probes
(`astro_env.math_competence`) and, as its default search policy, the symbolic proposer of the
grammar's moves (`agents.math_policy`). Problems of other kinds (fraction sums, roots, benchmark
sets) have no comparison, check or moves; they are verified as ever.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet

from astro_env.outcome import OutcomePhrases
from astro_env.problem import Problem

PHRASES_PATH = Path(__file__).with_name("math_phrases.json")
"""The math task's comparison sentences (`OutcomePhrases`)."""


@dataclass(frozen=True)
class MathConfig:
    """The math task's settings (`MathTask.Config`): what `generate` makes and the embedded model pre-trains on.

    The defaults generate what `astro_env.synthetic.generate_problems` always has (fraction sums,
    roots, linear equations). Pre-training, the symbolic proposer and the competence probes need
    kinds with a step grammar (`astro_env.math_steps.GRAMMAR_KINDS`): the `math-cpu` experiment uses
    `kinds=("linear_equation", "quadratic_root")`.
    """

    kinds: tuple[str, ...] = ("fraction_sum", "simplify_root", "linear_equation")
    """Kinds drawn uniformly (`astro_env.synthetic.ALL_KINDS`; a kind listed twice is drawn twice as often).
    Text "a,b" (a command line) is read as a tuple."""
    max_root: int = 12
    """A quadratic's roots are r and -s with r, s in 1..max_root (at most 20, the largest divisor an attempt
    tries): max_root**2 distinct quadratics."""
    slip_rate: float = 0.3
    """Probability of each slip in a pre-training attempt of a linear equation (the wrong operation on the
    constant, then the wrong sign of the divisor): a base that learns it solves (1 - slip_rate)**2 of them
    on a first attempt. A quadratic attempt tries a uniformly random divisor instead."""
    corpus_stream: int = 7919
    """The pre-training problems are generated from stream `seed * corpus_stream + 1` (never the run's own
    stream, `seed`), the excluded prompts skipped."""

    def __post_init__(self) -> None:
        from astro_env.synthetic import ALL_KINDS

        kinds = self.kinds
        if isinstance(kinds, str):
            kinds = tuple(k.strip() for k in kinds.split(",") if k.strip())
        elif isinstance(kinds, list):
            kinds = tuple(kinds)
        object.__setattr__(self, "kinds", kinds)  # a command line gives text: the same config as the tuple
        unknown = [k for k in kinds if k not in ALL_KINDS]
        if not kinds or unknown:
            raise ValueError(f"kinds={self.kinds!r}: use one or more of {', '.join(ALL_KINDS)} (e.g. linear_equation,quadratic_root).")
        if not 1 <= self.max_root <= 20:
            raise ValueError(f"max_root={self.max_root}: use 1..20 (an attempt tries divisors up to 20).")
        if not 0.0 <= self.slip_rate < 1.0:
            raise ValueError(f"slip_rate={self.slip_rate}: use a probability in [0, 1) (0.3: a base solving about half the linear equations).")
        if self.corpus_stream < 2:
            raise ValueError(f"corpus_stream={self.corpus_stream}: use >= 2 (seed * corpus_stream + 1 must differ from seed).")


@functools.lru_cache(maxsize=1)
def _outcome_phrases() -> OutcomePhrases:
    return OutcomePhrases.load(PHRASES_PATH)


class MathTask:
    """The math `Task`: prompt `"Problem: ...\\n\\nSolution:\\n"`, answers judged by the verifier.

    The verifier is imported at call time, so importing this module (or `astro_env`) stays cheap.
    """

    name = "math"
    Config = MathConfig

    def __init__(self, extraction: str = "standard", config: MathConfig = MathConfig()) -> None:
        from astro_env._verifier_extract import EXTRACTIONS

        if extraction not in EXTRACTIONS:
            raise ValueError(f"extraction={extraction!r} is not a policy; use one of {', '.join(EXTRACTIONS)}.")
        if not isinstance(config, MathConfig):
            raise ValueError(f"MathTask takes a MathConfig, got {type(config).__name__}.")
        self.extraction = extraction
        """Where the final answer is read (`boxed` / `standard` / `lenient`, see the verifier)."""
        self.config = config

    @property
    def has_grammar(self) -> bool:
        """Whether every kind of the config has a step grammar (`astro_env.math_steps.GRAMMAR_KINDS`): what
        pre-training, the symbolic proposer and the competence probes need."""
        from astro_env.math_steps import GRAMMAR_KINDS

        return all(kind in GRAMMAR_KINDS for kind in self.config.kinds)

    @property
    def default_search_policy(self) -> str:
        """`"math"`, the symbolic proposer of the equations' moves (`agents.math_policy`), when the config's
        kinds all have a grammar; else `"base"` (the policy itself)."""
        return "math" if self.has_grammar else "base"

    def with_extraction(self, extraction: str) -> MathTask:
        """Return this task reading final answers with another extraction policy."""
        return MathTask(extraction, self.config)

    def generate(self, n: int, seed: int) -> list[Problem]:
        """`n` procedural MATH-style problems of this task's kinds, with worked solutions (`astro_env.synthetic`)."""
        from dataclasses import replace

        from astro_env.synthetic import generate_problems

        problems = generate_problems(n, seed, kinds=self.config.kinds, max_root=self.config.max_root)
        return [p if p.task == self.name else replace(p, task=self.name) for p in problems]

    # ------------------------------------------------------------------ the check of an equation's answer

    @property
    def outcome_phrases(self) -> OutcomePhrases:
        """The comparison sentences of `math_phrases.json`."""
        return _outcome_phrases()

    def outcome_goal(self, problem: Problem) -> str | None:
        """The right side of an equation of the grammar, None for other problems."""
        from astro_env.math_steps import parse_equation

        equation = parse_equation(problem.problem)
        return None if equation is None else equation.goal

    def outcome_value(self, problem: Problem, answer: str | None) -> str | None:
        """The left side with `answer` substituted back (`"17"`, `"\\frac{25}{2}"`), None when there is no
        equation or the answer is not an integer or fraction."""
        from astro_env.math_steps import latex_fraction, parse_equation, parse_value

        equation, x = parse_equation(problem.problem), parse_value(answer)
        return None if equation is None or x is None else latex_fraction(equation.left(x))

    def self_check(self, problem: Problem, completion: str) -> bool | None:
        """Whether the completion's final answer, substituted back, gives the right side (and is positive where
        the prompt asks for it); None when the problem is not an equation of the grammar (its prompt allows no
        check). Uses only what the prompt states, never the gold answer; boxed answers that disagree fail.
        Never raises."""
        from astro_env.math_steps import parse_equation, parse_value

        equation = parse_equation(problem.problem) if isinstance(problem, Problem) else None
        if equation is None:
            return None
        if not isinstance(completion, str):
            return False
        from astro_env.boxes import scan_boxes

        values = {parse_value(box.content) for box in scan_boxes(completion).braced}
        return len(values) == 1 and equation.solves(parse_value(self.extract_answer(completion)))

    # ------------------------------------------------------------------ pre-training and competence

    def pretrain_corpus(self, n: int, seed: int, exclude_keys: AbstractSet[str] = frozenset()) -> list[tuple[Problem, str]]:
        """One attempt per generated equation, slipped at the config's rate, checked and boxed (`astro_env.math_corpus`)."""
        from astro_env.errors import UserError
        from astro_env.math_corpus import attempt_corpus

        if not self.has_grammar:
            from astro_env.math_steps import GRAMMAR_KINDS

            raise UserError(
                f"task {self.name!r}: kinds {', '.join(k for k in self.config.kinds if k not in GRAMMAR_KINDS)} have no step "
                f"grammar, so there is no pre-training corpus for them; set the task config's kinds to {','.join(GRAMMAR_KINDS)} "
                "(the math-cpu preset) or pass --model DIR with your own base model."
            )
        return attempt_corpus(self.config, n, seed, exclude_keys, self.outcome_phrases, self.name)

    def competence_probes(self):
        """Well-formed steps, arithmetic, true checks, the verification probe and corpus-style attempts
        (`MathProbes`); None when a kind of the config has no grammar (nothing to audit its steps by)."""
        from astro_env.math_competence import MathProbes

        return MathProbes(self) if self.has_grammar else None

    # ------------------------------------------------------------------ the Task interface

    def format_prompt(self, problem: Problem) -> str:
        """Exactly `f"Problem: {problem.problem}\\n\\nSolution:\\n"`; the first step follows directly."""
        return f"Problem: {problem.problem}\n\nSolution:\n"

    def extract_answer(self, text: str) -> str | None:
        """`verifier.extract_answer(text, self.extraction)`: the last boxed answer, else (per policy) the
        answer after the last cue, else the last expression; None when there is none."""
        from astro_env import verifier

        return verifier.extract_answer(text, self.extraction)

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        """Whether `answer` is equivalent to the gold answer (`verifier.is_equivalent`). Never raises."""
        if answer is None:
            return False
        from astro_env import verifier

        return bool(verifier.is_equivalent(problem.answer, answer))

    def is_equivalent(self, answer_a: str, answer_b: str) -> bool:
        """`verifier.is_equivalent(answer_a, answer_b)`."""
        from astro_env import verifier

        return bool(verifier.is_equivalent(answer_a, answer_b))

    def reward(self, problem: Problem, completion: str) -> float:
        """`verifier.reward(completion, problem.answer, self.extraction)`: 1.0 or 0.0, never raises."""
        from astro_env import verifier

        return float(verifier.reward(completion, problem.answer, self.extraction))
