"""`OraclePolicy`: a `PolicyAgent` that answers every prompt with its problem's reference solution.

It exists to test the evaluation plumbing on the real benchmark files: scored by the same
task verifier as any model, an oracle must reach 100% on the sets that ship solutions
(MATH-500, AIME 2024), which proves that prompts map back to problems and that answer
extraction and equivalence work on the references. This module imports no torch.
"""

from __future__ import annotations

from typing import Literal, Sequence

from agents.base import Completion, SamplingConfig, StepSample
from astro_env.boxes import scan_boxes
from astro_env.problem import Problem
from astro_env.state import ReasoningState

__all__ = ["OraclePolicy", "oracle_text"]

BoxMode = Literal["never", "if_missing", "always"]


def _has_box(text: str) -> bool:
    return bool(scan_boxes(text).boxes)


def oracle_text(problem: Problem, append_answer: BoxMode = "if_missing") -> str:
    """The oracle's completion for `problem`: its reference solution, with the gold answer boxed when asked.

    No solution (AMC 2023, AIME 2025, generated problems without one): that final line alone.
    `append_answer` adds a final line "The final answer is $\\boxed{answer}$." to a solution:
    "never", "if_missing" (only when the solution has no box, e.g. AIME 2024 I-1, whose
    reference ends in "= 204$"), or "always".
    """
    boxed = f"The final answer is $\\boxed{{{problem.answer}}}$."
    solution = (problem.solution or "").strip()
    if not solution:
        return boxed
    if append_answer == "always" or (append_answer == "if_missing" and not _has_box(solution)):
        return f"{solution}\n\n{boxed}"
    return solution


class OraclePolicy:
    """A `PolicyAgent` that knows the answers: each prompt is mapped back to its problem.

    Prompts are matched exactly against `get_task(problem.task).format_prompt(problem)`;
    an unknown prompt raises KeyError naming the fix. `complete` returns the same text `n`
    times (finish_reason "eos", no token ids). `propose_steps` returns the reference
    solution's next paragraph (split by the state's delimiter), the last one being boxed.
    """

    def __init__(self, problems: Sequence[Problem], append_answer: BoxMode = "if_missing", name: str = "oracle") -> None:
        import astro_env

        if append_answer not in ("never", "if_missing", "always"):
            raise ValueError(f"append_answer={append_answer!r}: use 'never', 'if_missing' or 'always'.")
        self.name = name
        self.append_answer = append_answer
        self._by_prompt: dict[str, Problem] = {}
        for problem in problems:
            prompt = astro_env.get_task(problem.task).format_prompt(problem)
            self._by_prompt.setdefault(prompt, problem)

    def problem_for(self, prompt: str) -> Problem:
        """The problem whose formatted prompt is `prompt` (also a state's text prefix)."""
        problem = self._by_prompt.get(prompt)
        if problem is None:
            raise KeyError(
                f"OraclePolicy has no problem whose prompt is {prompt[:80]!r}...; "
                "build it with the problems being evaluated."
            )
        return problem

    def complete(self, prompts: Sequence[str], n: int, sampling: SamplingConfig | None = None) -> list[list[Completion]]:
        """`n` identical reference completions per prompt."""
        out = []
        for prompt in prompts:
            text = oracle_text(self.problem_for(prompt), self.append_answer)
            out.append([Completion(text=text, finish_reason="eos") for _ in range(n)])
        return out

    def propose_steps(
        self,
        states: Sequence[ReasoningState],
        n: int,
        sampling: SamplingConfig | None = None,
    ) -> list[list[StepSample]]:
        """`n` copies of the reference's next step for each state (the boxed answer once it runs out)."""
        out = []
        for state in states:
            problem = self.problem_for(state.prompt)
            steps = [s for s in oracle_text(problem, self.append_answer).split(state.delimiter) if s.strip()]
            step = steps[state.depth] if state.depth < len(steps) else f"\\boxed{{{problem.answer}}}"
            out.append([StepSample(text=step, logprob=0.0, n_tokens=len(step.split())) for _ in range(n)])
        return out
