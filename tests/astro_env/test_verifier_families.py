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


# --------------------------------------------------------------------------------------------
# The answer forms other graders' test suites hold (one row per rule; the independent labelled set
# `verifier_independent_cases.jsonl` measures them against Math-Verify)

ISSUE_FORMS = [
    # relations in LaTeX and ASCII spellings
    (r"x \ge 5", "x >= 5", True),  # ASCII >=
    ("x < 3", r"x \lt 3", True),  # \lt
    (r"x \neq 3", "x != 3", True),  # ASCII !=
    ("x < 1", "-x > -1", True),  # negated variable
    ("x < 1", "x > -1", False),  # a different relation
    # intervals and inequalities
    (r"-2 \le x \le 7", r"x \in [-2, 7]", True),  # membership vs chain
    ("0<f(x)<1", "(0,1)", True),  # a function value as the variable
    (r"1 \le |z| \le \frac{3}{2}", r"\left[-\frac{3}{2}, -1\right] \cup \left[1, \frac{3}{2}\right]", True),  # |z| gives two intervals
    (r"|x| < 3", "(-3, 3)", True),  # |x| below a bound
    (r"|x| < 3", "(0, 3)", False),  # ... both signs
    (r"m \ge \sqrt{2}", r"m \in [\sqrt{2}, +\infty)", True),  # +\infty is \infty
    # matrices across environments and as sums or products
    (r"\begin{pmatrix} 6 & 8 \\ 10 & 12 \end{pmatrix}", r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix} + \begin{pmatrix} 5 & 6 \\ 7 & 8 \end{pmatrix}", True),  # a sum
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix} \begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", True),  # a product
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix} + \begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", False),  # a wrong sum
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", "2k+2", False),  # a matrix is not a scalar expression
    # sets and several answers
    (r"\pm 2021", "{-2021, 2021}", True),  # braces written for a set
    ("(1,3)", "{1,3}", True),  # a set read in order against a tuple
    ("(3,1)", "{1,3}", False),  # ... and out of order
    ("p=5,q=2;p=7,q=2", "(5,2),(7,2)", True),  # solution groups of assignments
    (r"p = 5, q = 2 \quad \text{and} \quad p = 7, q = 2", "(7,2),(5,2)", True),  # groups joined by "and"
    ("p=5,q=2;p=7,q=2", "(5,2),(7,3)", False),  # a wrong group
    ("(0;-2;6),(4;0;0)", "(4, 0, 0), (0, -2, 6)", True),  # tuples with ";" separators, any order
    ("-12;-11;-10", r"\{-10, -11, -12\}", True),  # a ";" list is a set
    ("(11,7)or(7,11)", r"(7,11),\ (11,7)", True),  # "or" glued between tuples
    ("$21,16$ or $11$", "$21,16,11$", True),  # an "or"-list of lists
    # a label or left-hand side dropped
    ("|AB|=1", "1", True),  # |AB| is a label
    ("V_{1}:V_{2}=11:21", "11:21", True),  # subscripted ratio label
    (r"\frac{NO}{BO}=\frac{1}{\sqrt{6}}", r"\frac{1}{\sqrt{6}}", True),  # a ratio of lengths as the label
    (r"x_1 = 2, x_2 = 3", "3, 2", True),  # labelled roots
    ("7 = 11a+c", "11a+c", False),  # the value is the whole equation
    ("2x + z = 1", "1", False),  # not a label: an equation
    (r"x = 1/3 \approx 0.33", "1/3", True),  # the exact value before \approx
    (r"x \approx 11", "11", True),  # a label before \approx
    ("35 + 70 = 105", "105", True),  # a computation states its result
    # number formats
    ("1,22", "1.22", True),  # decimal comma
    ("1000,99", "1000.99", True),  # decimal comma after a number that is not a thousands grouping
    ("0,111", "0.111", True),  # 0,111 is no thousands grouping
    ("12,345", "12.345", False),  # ... but 12,345 is
    ("11111111100", r"11,\! 111,\! 111,\! 100", True),  # thousands with \! and spaces
    ("32349", "32, 349", False),  # a spaced comma is a list
    ("1000", "1 000", True),  # thin-space thousands
    ("1000", "1000.0", True),  # a decimal point with zeros
    ("14916", "14 {, }916", True),  # {,} with stray spaces
    ("40/9", "4 4/9", True),  # a mixed number with a space
    ("11", "11 6/6", False),  # not a proper mixed number
    ("4", "4 4/0", False),  # ... nor is this
    (r"28\%", "28 percent", True),  # the word percent
    (r"28\%", "28 pct", True),  # ... abbreviated
    ("0.28", "28", False),  # no percent sign: 28 is not 0.28
    ("033", "33", True),  # leading zeros
    ("-0", "0", True),  # a signed zero
    ("7" * 5000, "7" * 5000, True),  # a 5,000-digit integer equals itself
    ("7" * 5000, "7" * 4999 + "8", False),  # ... and not its neighbour
    ("7" * 5000, "0" * 10 + "7" * 5000, True),  # ... with leading zeros
    (r"\frac{1}{2^{99}}", r"\frac{1}{2^{98}}", False),  # tiny values compare relatively
    (r"\frac{1}{2004!}", r"\frac{1}{2006!}", False),  # ... and exactly when rational
    ("12:00", "1:00", False),  # a division by zero equals nothing
    # a trailing backslash, \text or punctuation; choice letters followed by text
    ("185", "185\\", True),  # a stray backslash
    (r"\frac{1}{3}", r"\frac{1}{3},", True),  # a trailing comma
    ("1, 2, 3", "1, 2, 3, ...", False),  # an ellipsis is not punctuation
    ("17", r"17\text{ any text}", True),  # trailing words after a number
    ("C", "C. x = 42", True),  # a choice letter followed by text
    ("(D) Alina", "D", True),  # a gold choice with the option's text
    ("(A) Cecile", "C", False),  # ... another choice
    ("Alina and the answer is\n(C) Cecile", "C", True),  # ... after a cue
    ("A", "A, B, C, D, E", False),  # an enumeration of choices is no choice
    # commuted factors inside sums with indexed symbols
    (r"F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}", r"F_n = \sum_{k=0}^{n-1} F_{n-k-1} F_k", True),
    (r"F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}", r"F_n = \sum_{k=0}^{n-2} F_k F_{n-k-2}", False),
]


@pytest.mark.parametrize("gold, pred, expected", ISSUE_FORMS)
def test_answer_forms_of_other_graders(v, gold, pred, expected):
    assert v.is_equivalent(gold, pred) is expected


LOCATED = [
    # (completion, gold, {policy: reward}): where the answer is, and which policy accepts it
    ("Answer $ 9 $", "9", {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),  # "Answer" before math
    ("Answer \\[ 9 \\]", "9", {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),
    ("Answer $ \n 9 \n $", "9", {"boxed": 0.0, "standard": 0.0, "lenient": 1.0}),  # inline math does not span lines
    ("Final Answer: The largest $n$ is 34.", "34", {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),  # a cue before prose
    ("Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct.", "3", {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),
    ("Therefore $x \\geq 5$ is the solution.", "x \\ge 5", {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),  # answer before the phrase
    ("Thus, the probability that Alice wins is 2/3. <|im_start|>user", "2/3", {"boxed": 0.0, "standard": 0.0, "lenient": 1.0}),  # a final sentence
    ("答案：每份应该是 (\\frac{2}{5}) 吨。", "2/5", {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),  # Chinese cue, prose
    ("因此，瑞秋的数学作业比阅读作业多 **3页**。", "3", {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),  # a bold final value
    ("لذا، ناتج العملية الحسابية 79 * 2 - 66 هو **92**.", "92", {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),
    ("Réponse : 7.", "7", {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),  # French cue
    ("donc 353 g - 79 g = 274 g. Donc, il a déjà 79 g de cire.", "79", {"boxed": 0.0, "standard": 0.0, "lenient": 1.0}),  # the last number
    ("Haley总共有99颗弹珠。", "99", {"boxed": 0.0, "standard": 0.0, "lenient": 1.0}),  # a number right after CJK text
    ("so the number is 10 which is 1,000.99m²", "1000.99", {"boxed": 0.0, "standard": 0.0, "lenient": 1.0}),
    ("Soucis : 2,74 $ a..", "2.74", {"boxed": 0.0, "standard": 0.0, "lenient": 1.0}),  # a decimal comma in prose
    ("AZYUK2A", "2", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # a digit inside a word is no number
    (r"$0.04 \cdot 10,000 = \boxed{200}$ ... $\boxed{255}$ ... Final Answer: The final answer is $10,455$.", "10455",
     {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),  # a final statement after intermediate boxes
    (r"\boxed{1} and \boxed{2} and \boxed{3}", "{1,2,3}", {"boxed": 1.0, "standard": 1.0, "lenient": 1.0}),  # one box per element
    (r"So $17^{-1} \equiv \boxed{44}$. Checking, $17 \cdot 44 = 748$, so our answer is correct.", "44",
     {"boxed": 1.0, "standard": 1.0, "lenient": 1.0}),  # a verdict on the box after it is no new answer
    ("thinking about it I think the correct answer is C", "C", {"boxed": 0.0, "standard": 1.0, "lenient": 1.0}),  # a choice after a cue
    ("The answer is for sure D, it can't be A or B", "D", {"boxed": 0.0, "standard": 0.0, "lenient": 1.0}),  # first letter after the cue
    ("D. it can't be A or B", "D", {"boxed": 0.0, "standard": 0.0, "lenient": 1.0}),  # a leading letter
    # the hack rules hold in every policy
    ("The answer is definitely not 5.", "5", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # negated
    ("The answer is probably 2 or maybe 3.", "3", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # hedged in prose
    ("So it is either **2** or **3**.", "3", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # hedged in bold
    ("答案：大约是 5。", "5", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # approximately, in Chinese
    (r"$\boxed{3}$. The final answer is 3 or 4.", "3", {"boxed": 1.0, "standard": 0.0, "lenient": 0.0}),  # a hedge after the box decides
    ("The answer is A, B, C, D, E.", "C", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # every choice
    (r"$$\boxed{20}$$ \boxed{143}", "143", {"boxed": 0.0, "standard": 0.0, "lenient": 0.0}),  # conflicting boxes stay 0
]


@pytest.mark.parametrize("completion, gold, expected", LOCATED)
def test_where_the_answer_is_by_policy(v, completion, gold, expected):
    assert {policy: v.reward(completion, gold, policy) for policy in EXTRACTIONS} == expected


GOLDS = [
    # (completion, gold written as a solution, reward)
    (r"so $\boxed{\frac{14}{3}}$", r"Adding, $2 + \frac{5}{3} + 1 = \boxed{\frac{14}{3}}$.", 1.0),  # the gold's box
    (r"so $\boxed{4}$", r"Adding, $2 + \frac{5}{3} + 1 = \boxed{\frac{14}{3}}$.", 0.0),
    (r"$\boxed{-2,1}$", r"\(\boxed{1}\) and \(\boxed{-2}\).", 1.0),  # several gold boxes are a set
    (r"$\boxed{28\%}$", "The loss is 28 percent. Final Answer: The final answer is $28 \\%$. I hope it is correct.", 1.0),  # a gold cue
    (r"\boxed{" * 2000 + "3" + "}" * 2000, "3", 1.0),  # 2,000 nested boxes around 3
]


@pytest.mark.parametrize("completion, gold, expected", GOLDS)
def test_golds_given_as_solutions(v, completion, gold, expected):
    assert v.reward(completion, gold) == expected


@pytest.mark.parametrize(
    "options, gold, pred, expected",
    [
        ({"list_order": "any"}, "10, 4, -2", "4, 10, -2", True),  # solution lists are sets by default
        ({"list_order": "exact"}, "10, 4, -2", "4, 10, -2", False),  # Hendrycks' grader: order matters
        ({"list_order": "exact"}, "10, 4, -2", "10, 4, -2", True),
        ({"list_order": "exact"}, r"\{10, 4\}", r"\{4, 10\}", True),  # an explicit set is unordered either way
        ({"decimal_comma": True}, "1,22", "1.22", True),
        ({"decimal_comma": False}, "1,22", "1.22", False),
        ({"bare_percent": True}, r"25\%", "25", True),
        ({"bare_percent": False}, r"25\%", "25", False),
        ({"bare_percent": False}, r"25\%", "0.25", True),
    ],
)
def test_grader_choices_are_config_options(options, gold, pred, expected):
    verifier = Verifier(VerifierConfig(cache_size=0, **options))
    try:
        assert verifier.is_equivalent(gold, pred) is expected
    finally:
        verifier.close()


def test_list_order_option_is_validated():
    with pytest.raises(ValueError, match="list_order"):
        VerifierConfig(list_order="sorted")
