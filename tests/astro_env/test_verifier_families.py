r"""Answer families of real model outputs, extraction policies, and verdicts that do not depend on load.

One row per rule (gold, pred or completion, expected), with the reason in a comment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from astro_env.verifier import EXTRACTIONS, Verifier, VerifierConfig


@pytest.fixture(scope="module")
def v() -> Verifier:
    verifier = Verifier(VerifierConfig(cache_size=0))
    yield verifier
    verifier.close()


EQUIV = [
    # relations and inequalities
    (r"x \ge 3", r"3 \le x", True),  # sides swapped
    (r"x \ge 3", "x >= 3", True),  # ASCII operator
    (r"x \ge 3", r"x \geqslant 3", True),  # \geqslant
    (r"x \ge 3", "x > 3", False),  # strict vs non-strict
    ("x > 2", "-x < -2", True),  # negated variable flips the relation
    ("x > 2", "-x > -2", False),  # ... and is not the same relation unflipped
    (r"x \neq 1", "x != 1", True),  # ASCII not-equal
    (r"x \neq 1", r"(-\infty, 1) \cup (1, \infty)", True),  # not-equal as a union of intervals
    ("[1,4]", r"1 \le x \le 4", True),  # chain vs closed interval
    ("[1,4]", "1 < x < 4", False),  # chain vs closed interval, wrong ends
    ("(-3, 8)", "-3 < a < 8", True),  # chain vs open interval, any letter
    (r"[-2, 7]", r"7 \ge x \ge -2", True),  # descending chain
    (r"(-\infty,-1] \cup [3,\infty)", r"x \le -1 \text{ or } x \ge 3", True),  # "or" of relations is a union
    # several answers
    (r"\{-5, 2\}", r"2 \text{ or } -5", True),  # "or"-list for a set gold
    (r"-5 \text{ or } 2", "2, -5", True),  # "or"-joined gold list
    ("4, 9", r"4 \text{ and } 9", True),  # "and"-list
    ("3", r"2 \text{ or } 3", False),  # hedge: the gold is one number
    ("3", r"3 \text{ or } 3.5", False),  # hedge
    (r"1+\sqrt{5}, 1-\sqrt{5}", r"1 \pm \sqrt{5}", True),  # \pm names both roots of a two-root gold
    ("-2, 1", r"x = -2 \text{ or } x = 1", True),  # labelled "or"-list
    # equations and labels
    ("(2,5)", "(a,b)=(2,5)", True),  # labelled tuple
    ("(2,5)", "(a,b)=(5,2)", False),  # order of a tuple matters
    ("k = 7", "7", True),  # gold names the variable
    ("5", "y = 2+3 = 5", True),  # chain: its final value
    ("3:8", "AB:CD = 3:8", True),  # labelled ratio
    ("y = 2x + 3", "2x - y + 3 = 0", True),  # equation rearranged
    ("y = 2x + 3", "y = 3x + 2", False),  # different line
    ("5x - 7y + 11z + 4 = 0", "10x - 14y + 22z + 8 = 0", True),  # same plane, scaled
    ("5x - 7y + 11z + 4 = 0", "5x - 7y + 11z - 4 = 0", False),  # parallel plane
    # number formats
    ("12345", r"12,\!345", True),  # \! thousands separator
    ("12345", "12{,}345", True),  # {,} thousands separator
    ("12345", r"12\,345", True),  # thin-space thousands separator
    ("B", r"\text{(B)}", True),  # choice letter in \text with parentheses
    ("B", r"\textbf{B}", True),  # bold choice letter
    ("B", "(B)", True),  # parenthesised choice letter
    ("B", r"\textbf{(C)}", False),  # other choice
    # units and words
    ("15", r"15 \text{ cm}", True),  # unit in \text
    ("20", r"20 \textnormal{ dollars}", True),  # unit in \textnormal
    ("45", r"45^\circ", True),  # degrees
    ("5", r"5 \text{ apples}", True),  # a trailing noun is a unit
    # decimals vs fractions (relative tolerance 1e-3, at least 3 significant digits)
    (r"\frac{3}{7}", "0.4286", True),  # four places
    (r"\frac{3}{7}", "0.4386", False),  # wrong digit
    (r"\frac{3}{7}", "0.43", False),  # too few digits to claim the fraction
    ("3", "3.001", False),  # an integer gold is exact
    # matrices and vectors
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}", True),  # bmatrix
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", "\\left[\\begin{array}{cc}\n1 & 2 \\\\\n3 & 4\n\\end{array}\\right]", True),  # array
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"\begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}", False),  # transposed
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\langle 1, 2 \rangle", True),  # angle-bracket vector
]


@pytest.mark.parametrize("gold, pred, expected", EQUIV)
def test_family_equivalence(v, gold, pred, expected):
    assert v.is_equivalent(gold, pred) is expected


# Words inside \text / \mathrm are not units when they change the meaning; case matters for letters.
NOT_EQUAL = [
    ("5", r"\text{not } 5"),  # negation
    ("1", r"\mathrm{Integer}(1)"),  # a function name, not a unit
    ("x", "X"),  # variables are case-sensitive
    ("5", r"5 \text{ or more}"),  # a qualifier
    ("5", r"\text{about } 5"),  # an approximation
]


@pytest.mark.parametrize("gold, pred", NOT_EQUAL)
def test_words_that_change_the_meaning_score_zero(v, gold, pred):
    assert v.is_equivalent(gold, pred) is False
    assert v.reward(rf"The result is $\boxed{{{pred}}}$.", gold) == 0.0


REWARD = [
    # several boxes
    (r"The roots are $\boxed{2}$ and $\boxed{-5}$.", r"\{-5, 2\}", 1.0),  # one box per element of a set gold
    (r"So $\boxed{3}$ and $\boxed{7}$.", "3, 7", 1.0),  # ... of a list gold
    (r"So $\boxed{3}$ and $\boxed{7}$.", "7", 0.0),  # conflicting boxes for a single answer
    (r"So $\boxed{3}$ and $\boxed{7}$.", "3, 7, 9", 0.0),  # fewer boxes than the gold's elements
    (r"So $\boxed{3}$ and $\boxed{7}$.", "(3, 7)", 0.0),  # a tuple is one answer, not a set
    (r"$\boxed{3}$, $\boxed{7}$, $\boxed{7}$.", "3, 7", 1.0),  # repeated boxes count once
    # where the answer is
    ("We get $x = 4$ and $y = 7$.\nFinal Answer: The final answer is $18$. I hope it is correct.", "18", 1.0),  # Minerva
    ("So\n\\[\n\\boxed{\n42\n}\n\\]", "42", 1.0),  # display box over several lines
    ("So \\boxed\n{42}", "42", 1.0),  # line break before the brace
    (r"Therefore the answer is \(7\).", "7", 1.0),  # \( \) after the phrase
    ("Answer: 7", "7", 1.0),  # bare cue
    ("**Answer:** $7$", "7", 1.0),  # markdown cue
    ("因此，答案是 $7$。", "7", 1.0),  # Chinese cue
    ("الإجابة هي 7", "7", 1.0),  # Arabic cue
    ("Donc la réponse est 7.", "7", 1.0),  # French cue
    ("Shared: 48 + 24 = 72.\n#### 72", "72", 1.0),  # GSM8K marker
    ("\\boxed{7}<|im_end|>\n<|im_start|>user\nAnd? \\boxed{9}", "7", 1.0),  # ChatML tail is not the answer
    ("\\boxed{7}<|im_end|>\n<|im_start|>user\nAnd? \\boxed{9}", "9", 0.0),  # ... in either direction
    ("The answer is 7.<|eot_id|><|start_header_id|>user", "7", 1.0),  # Llama-3 tail
    # hack rules
    (r"The answer is 5. $\boxed{}$", "5", 0.0),  # empty box: no fallback to the cue
    (r"It is 5. $\boxed{\ldots}$", "5", 0.0),  # junk box
    (r"$\boxed{5}$ and $\boxed{?}$", "5", 0.0),  # a junk box among boxes
    (r"$\boxed{2 \text{ or } 3}$", "3", 0.0),  # hedge
]


@pytest.mark.parametrize("completion, gold, expected", REWARD)
def test_family_reward(v, completion, gold, expected):
    assert v.reward(completion, gold) == expected


POLICIES = [
    # (completion, gold, {policy: reward})
    (r"so $\boxed{7}$", "7", {"boxed": 1.0, "standard": 1.0, "lenient": 1.0}),  # a box counts everywhere
    ("The answer is 7.", "7", {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),  # a cue needs standard
    ("Adding, $3 + 4 = 7$.", "7", {"boxed": 0.0, "standard": 0.0, "lenient": 1.0}),  # an expression needs lenient
    ("We find it is 7", "7", {"boxed": 0.0, "standard": 0.0, "lenient": 1.0}),  # the last number, lenient only
    (r"It is $7$. $\boxed{}$", "7", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # empty box: 0 in every policy
    (r"$\boxed{2 \text{ or } 7}$", "7", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # hedge: 0 everywhere
    (r"Answer: 2 or 7", "7", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # hedge after a cue
    (r"$\boxed{2}$ then $\boxed{7}$", "7", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # conflicting boxes
    (r"so \boxed{7", "7", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # truncated box
]


@pytest.mark.parametrize("completion, gold, expected", POLICIES)
def test_extraction_policies(v, completion, gold, expected):
    assert set(expected) == set(EXTRACTIONS)
    assert {policy: v.reward(completion, gold, policy) for policy in EXTRACTIONS} == expected


def test_default_policy_comes_from_the_config():
    lenient = Verifier(VerifierConfig(extraction="lenient", cache_size=0))
    try:
        assert lenient.reward("so it is 7", "7") == 1.0
        assert lenient.reward("so it is 7", "7", "standard") == 0.0
    finally:
        lenient.close()


def test_unknown_policy_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="boxed, standard, lenient"):
        VerifierConfig(extraction="loose")
    with pytest.raises(ValueError, match="boxed, standard, lenient"):
        Verifier(VerifierConfig()).extract("x", "loose")


# --------------------------------------------------------------------------------------------
# The same verdict under any load

LOAD_PAIRS = [
    ("5x - 7y + 11z + 4 = 0", "10x - 14y + 22z + 8 = 0"),  # failed under load with a wall-clock deadline
    ("5x - 7y + 11z + 4 = 0", "5x - 7y + 11z - 4 = 0"),
    (r"\cot x", r"\frac{\cos x}{\sin x}"),
    (r"\sin^2 x + \cos^2 x", "1"),
    (r"\tan x", r"\frac{\sin x}{\cos x}"),
    ("y = 2x + 3", "2x - y + 3 = 0"),
    (r"3\sqrt{13}", r"\sqrt{117}"),
    (r"\frac{\sqrt{3}}{3}", r"\frac{1}{\sqrt{3}}"),
    ("(a+5)(b+2)", "ab + 2a + 5b + 10"),
    (r"\sqrt{8} + \sqrt{2}", r"3\sqrt{2}"),
    (r"\frac{x^2 - 1}{x - 1}", "x + 1"),
    (r"e^{i\pi}", "-1"),
    (r"\log_2 8", "3"),
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}"),
    ("2", "2^{2^{98}}"),  # spends its CPU budget: False under any load
]

_BUSY = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def _verdicts() -> list[bool]:
    verifier = Verifier(VerifierConfig(cache_size=0))
    try:
        return [verifier.is_equivalent(g, p) for g, p in LOAD_PAIRS]
    finally:
        verifier.close()


@pytest.mark.slow
def test_same_verdicts_while_every_core_is_busy():
    idle = _verdicts()
    n_busy = 2 * (os.cpu_count() or 1)
    busy = [subprocess.Popen([sys.executable, "-c", _BUSY.format(seconds=300)]) for _ in range(n_busy)]
    try:
        assert all(p.poll() is None for p in busy)  # the load is really there
        loaded = _verdicts()
        assert all(p.poll() is None for p in busy)  # ... for the whole run
    finally:
        for p in busy:
            p.kill()
        for p in busy:
            p.wait(timeout=30)
    assert loaded == idle
    assert idle[0] is True and idle[1] is False and idle[-1] is False


# --------------------------------------------------------------------------------------------
# The policy reaches the task and the evaluation


def test_math_task_carries_the_extraction_policy():
    from astro_env.math_task import MathTask
    from astro_env.problem import Problem

    problem = Problem(id="p", problem="1+6?", answer="7")
    assert MathTask().reward(problem, "Adding, $1 + 6 = 7$.") == 0.0
    lenient = MathTask().with_extraction("lenient")
    assert lenient.extraction == "lenient"
    assert lenient.reward(problem, "Adding, $1 + 6 = 7$.") == 1.0
    assert lenient.extract_answer("Adding, $1 + 6 = 7$.") == "7"
    assert MathTask("boxed").reward(problem, "The answer is 7.") == 0.0
    with pytest.raises(ValueError, match="boxed, standard, lenient"):
        MathTask("loose")


def test_eval_records_and_applies_the_extraction_policy():
    from agents.base import Completion
    from astro_env.problem import Problem
    from benchmarks.evaluate import EvalConfig, score_completion

    problem = Problem(id="p", problem="1+6?", answer="7")
    completion = Completion(text="Adding, $1 + 6 = 7$.")
    assert score_completion(problem, completion, bench="b", sample_idx=0).correct is False
    assert score_completion(problem, completion, bench="b", sample_idx=0, extraction="lenient").correct is True
    assert EvalConfig(extraction="lenient").sampling["extraction"] == "lenient"
    with pytest.raises(ValueError, match="boxed, standard or lenient"):
        EvalConfig(extraction="loose")
