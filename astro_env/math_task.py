"""`MathTask`: MATH-style problems with LaTeX final answers, verified by `astro_env.verifier`."""

from __future__ import annotations

from astro_env.problem import Problem


class MathTask:
    """The math `Task`: prompt `"Problem: ...\\n\\nSolution:\\n"`, answers judged by the verifier.

    The verifier is imported at call time, so importing this module (or `astro_env`) stays cheap.
    """

    name = "math"

    def __init__(self, extraction: str = "standard") -> None:
        from astro_env._verifier_extract import EXTRACTIONS

        if extraction not in EXTRACTIONS:
            raise ValueError(f"extraction={extraction!r} is not a policy; use one of {', '.join(EXTRACTIONS)}.")
        self.extraction = extraction
        """Where the final answer is read (`boxed` / `standard` / `lenient`, see the verifier)."""

    def with_extraction(self, extraction: str) -> MathTask:
        """Return this task reading final answers with another extraction policy."""
        return MathTask(extraction)

    def generate(self, n: int, seed: int) -> list[Problem]:
        """`n` procedural MATH-style problems with worked solutions (`astro_env.synthetic`)."""
        from astro_env.synthetic import generate_problems

        return generate_problems(n, seed)

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
