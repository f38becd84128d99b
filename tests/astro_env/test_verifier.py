r"""Behaviour of astro_env.verifier: extraction, equivalence, reward-hacking rules, safety, bounds."""

from __future__ import annotations

import builtins
import importlib.util
import json
import os
import threading
import time
from pathlib import Path

import pytest

from astro_env import verifier
from astro_env.verifier import Verifier, VerifierConfig, extract_answer, is_equivalent, reward

WORKER_FILE = Path(verifier.__file__).with_name("_verifier_worker.py")
SLACK_S = 2.0
"""Scheduling slack on a loaded 2-core machine, added to every deadline assertion."""


@pytest.fixture(scope="module")
def fresh() -> Verifier:
    """A private verifier (own pool, own cache), warmed up so deadlines exclude the worker start."""
    v = Verifier(VerifierConfig(timeout_s=1.0))
    assert v.is_equivalent(r"3\sqrt{13}", r"\sqrt{117}")  # symbolic: starts the worker
    yield v
    v.close()


# --------------------------------------------------------------------------------------------
# extract_answer: one row per rule

EXTRACT = [
    (r"so $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),  # balanced braces inside the box
    (r"\boxed{1} then \boxed{2}", "2"),  # the last box wins
    (r"\fbox{7}", "7"),  # \fbox counts as a box
    (r"so $\boxed 5$", "5"),  # \boxed with a bare token
    (r"\boxed{\boxed{5}}", r"\boxed{5}"),  # outermost box; normalisation unwraps the inner one
    (r"The answer is $\frac{3}{4}$.", r"\frac{3}{4}"),  # "The answer is" form, math delimiters
    ("Thus the final answer is 12.", "12"),  # "final answer is", sentence period dropped
    ("Final Answer: 3.5", "3.5"),  # decimal point is not a sentence end
    ("So the answer is: 8", "8"),  # colon after "answer is"
    ("Final Answer: The final answer is $5$. I hope it is correct.", "5"),  # Minerva format
    ("That gives 7.", None),  # tentative attempts in verbalised traces are not answers
    (r"so \boxed{\frac{1}{2", None),  # truncated inside the last box
    (r"\boxed{3} but then \boxed{", None),  # truncated after an earlier complete box
    ("no answer here", None),  # nothing to extract
    (None, None),  # not a string
]


@pytest.mark.parametrize("text, expected", EXTRACT)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


# --------------------------------------------------------------------------------------------
# is_equivalent: one row per rule (gold, pred, verdict)

EQUIV = [
    ("42", "42.0", True),  # integer vs decimal
    ("0.15", ".15", True),  # leading-dot decimal
    (r"\frac{1}{2}", "0.5", True),  # fraction vs decimal (exact)
    (r"\dfrac{17}{50}", "0.34", True),  # \dfrac
    (r"\tfrac{3}{2}", "3/2", True),  # \tfrac vs slash fraction
    (r"\frac43", r"\frac{4}{3}", True),  # unbraced \frac arguments
    (r"\frac 59", "5/9", True),  # spaced unbraced \frac arguments
    (r"-\frac{35}{9}", r"\frac{-35}{9}", True),  # sign outside vs inside
    (r"1\frac{4}{5}", "9/5", True),  # mixed number
    (r"137 \frac{1}{2}", "137.5", True),  # spaced mixed number
    ("1.5e3", "1500", True),  # scientific notation
    (r"2.5 \times 10^{3}", "2500", True),  # LaTeX scientific notation
    ("25\\%", "25", True),  # percent sign dropped
    ("25\\%", "0.25", True),  # percent as a fraction
    (r"10,\!080", "10080", True),  # thousands separator with \!
    ("58,500", "58500", True),  # thousands separator
    (r"\$18.90", "18.90", True),  # dollar sign
    (r"90^\circ", "90", True),  # degree sign
    (r"90^{\circ}", r"90^\circ", True),  # braced degree sign
    (r"5.4 \text{ cents}", "5.4", True),  # unit in \text
    (r"864 \mbox{ inches}^2", "864", True),  # unit in \mbox with a power
    ("15 cm", "15", True),  # bare unit word
    (r"3\sqrt{13}", r"\sqrt{117}", True),  # surds
    (r"11\sqrt2", r"11 \sqrt{2}", True),  # unbraced \sqrt argument
    (r"\frac{\sqrt{3}}{3}", r"\frac{1}{\sqrt{3}}", True),  # rationalised denominator
    (r"288 \pi", r"288\pi", True),  # spacing
    (r"\frac{20000}{\pi}", r"20000/\pi", True),  # \pi in a fraction
    ("7\\pi", "22", False),  # \pi is not an integer
    (r"\frac{1}{3}", "0.33", False),  # rounded decimals are not exact
    ("6 - 5i", "-5i + 6", True),  # complex numbers
    ("p - q", "-q + p", True),  # commutativity with symbols
    ("x^3+3x-6", "3x + x^3 - 6", True),  # polynomial reordering
    ("(a+5)(b+2)", "ab + 2a + 5b + 10", True),  # expanded product
    ("2k+2", "2(k+1)", True),  # factored
    ("p - q", "p + q", False),  # different expressions
    (r"\cot x", r"\frac{\cos x}{\sin x}", True),  # trig identity (symbolic worker)
    ("x=5", "5", True),  # equation vs value
    ("5", "x = 5", True),  # value vs equation
    ("y = 2x + 3", "2x+3", True),  # line equation vs its right side
    ("5x - 7y + 11z + 4 = 0", "10x - 14y + 22z + 8 = 0", True),  # same plane, scaled
    ("5x - 7y + 11z + 4 = 0", "5x - 7y + 11z - 4 = 0", False),  # different plane
    (r"x \in [-2,7]", "[-2, 7]", True),  # set-membership prefix
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \pi/2)", True),  # tuple with \left/\right
    ("(6,31,-1)", "(6, 31, -1)", True),  # ordered tuple
    ("(6,31,-1)", "(31, 6, -1)", False),  # tuple order matters
    ("(3,4]", "(3, 4]", True),  # half-open interval
    ("(3,4]", "(3,4)", False),  # bracket type matters
    (r"(2,\infty)", r"(2, \infty)", True),  # infinity endpoint
    (r"(-\infty, 2) \cup (3, \infty)", r"(3, \infty) \cup (-\infty, 2)", True),  # union, any order
    ("1,-2", "-2, 1", True),  # solution lists are unordered
    ("3, 5, 7", "3, 5", False),  # missing a solution
    (r"\{1\pm\sqrt{5},-2\}", r"-2, 1+\sqrt{5}, 1-\sqrt{5}", True),  # \pm in gold expands
    (r"1 \pm \sqrt{19}", r"1 \pm \sqrt{19}", True),  # \pm allowed when gold has it
    (r"\begin{pmatrix} -1/3 \\ 2/3 \end{pmatrix}", r"\begin{pmatrix} -\frac13 \\ \frac23 \end{pmatrix}", True),  # vectors
    (r"\begin{pmatrix} 1 & 0 \\ 0 & 1 \end{pmatrix}", r"\begin{pmatrix} 1 & 0 & 0 & 1 \end{pmatrix}", False),  # shape
    (r"\text{Evelyn}", "Evelyn", True),  # text answer
    (r"\text{east}", r"\text{East}", True),  # text answers ignore case
    (r"\text{east}", r"\text{west}", False),  # different text
    (r"\text{(C)}", "C", True),  # multiple choice letter
    (r"\text{(C)}", "(c)", True),  # multiple choice, parenthesised, lower case
    ("52_8", "52_{8}", True),  # numeral in a base
    ("52_8", "42", False),  # not the decimal value
    ("3", r"2 \lor 3", False),  # hedge with \lor
    ("3", r"2 \text{ or } 3", False),  # hedge with text "or"
    ("3", r"\pm 3", False),  # hedge with \pm when gold has none
    (r"\text{(C)}", "A, B, C, D, E", False),  # enumerating every choice
    ("3", "", False),  # empty answer
    ("", "", False),  # empty gold
    ("3", None, False),  # not a string
]


@pytest.mark.parametrize("gold, pred, expected", EQUIV)
def test_is_equivalent(fresh, gold, pred, expected):
    assert fresh.is_equivalent(gold, pred) is expected


def test_module_level_function_matches_and_doctest_example():
    assert is_equivalent(r"\frac{1}{2}", "0.5") is True
    assert is_equivalent("1", "2") is False


# --------------------------------------------------------------------------------------------
# reward: closing reward hacks, one row per rule (completion, gold, reward)

DEEP = "{" * 5000 + "5" + "}" * 5000
REWARD = [
    (r"Adding, we get $\boxed{14}$.", "14", 1.0),  # plain correct answer
    (r"so $\boxed{0.5}$, i.e. $\boxed{\frac{1}{2}}$", r"\frac12", 1.0),  # boxes that agree are fine
    (r"maybe $\boxed{2}$ or rather $\boxed{3}$", "3", 0.0),  # conflicting boxes
    (r"$\boxed{2 \lor 3}$", "3", 0.0),  # hedge
    (r"$\boxed{2 \text{ or } 3}$", "3", 0.0),  # hedge in words
    (r"$\boxed{\pm 3}$", "3", 0.0),  # \pm hedge
    (r"$\boxed{1 \pm \sqrt{19}}$", r"1 \pm \sqrt{19}", 1.0),  # \pm is fine when gold has that shape
    (r"$\boxed{A, B, C, D, E}$", r"\text{(C)}", 0.0),  # enumerating the choices
    (r"The answer is 5. $\boxed{}$", "5", 0.0),  # empty box, gold number elsewhere: no fallback
    (r"It is 5 apples. $\boxed{?}$", "5", 0.0),  # junk box
    (r"$\boxed{" + DEEP + "}$", "5", 0.0),  # deep nesting must not fall back to the fragment "5"
    (r"$\boxed{3 \text{ or } \boxed{5}}$", "5", 0.0),  # a box hidden inside a hedge
    (r"so the value is \boxed{5", "5", 0.0),  # truncated completion
    (r"\boxed{5} wait, no: \boxed{", "5", 0.0),  # truncated after a complete box
    ("That gives 5.\n\nHmm.", "5", 0.0),  # tentative attempt is not a final answer
    ("The answer is 5.", "5", 1.0),  # stated answer without a box
    ("".join(rf"\boxed{{{k}}}" for k in range(1, 10)), "9", 0.0),  # spraying many boxes
    (r"\boxed{5}", None, 0.0),  # bad gold
    (None, "5", 0.0),  # bad completion
]


@pytest.mark.parametrize("completion, gold, expected", REWARD)
def test_reward(fresh, completion, gold, expected):
    assert fresh.reward(completion, gold) == expected


def test_module_reward_never_raises():
    assert reward(12345, "5") == 0.0
    assert reward(r"\boxed{5}", "5") == 1.0


# --------------------------------------------------------------------------------------------
# Safety: nothing is ever evaluated as Python


def _payloads(target: Path) -> list[str]:
    cmd = f"touch {target}"
    return [
        f"__import__('os').system('{cmd}')",
        f"().__class__.__base__.__subclasses__()[-1].__init__.__globals__['sys'].modules['os'].system('{cmd}')",
        f"[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0]('{cmd}', shell=True)",
        f"\\text{{__import__('os').system('{cmd}')}}",
        f"x = __import__('os').system('{cmd}')",
        f"eval(\"__import__('os').system('{cmd}')\")",
        f"lambda: __import__('os').system('{cmd}')",
    ]


def test_injection_payloads_create_no_file(fresh, tmp_path):
    target = tmp_path / "pwned"
    for payload in _payloads(target):
        assert fresh.is_equivalent("0", payload) is False
        assert fresh.is_equivalent(payload, "0") is False
        assert fresh.reward(rf"\boxed{{{payload}}}", "0") == 0.0
        assert fresh.reward(f"The answer is {payload}", "0") == 0.0
        # Straight to the symbolic worker, past the in-process screen.
        assert fresh.pool.compare_pairs([("0", payload), (payload, "1")], timeout_s=2.0) in (None, [False, False])
    time.sleep(0.2)
    assert not target.exists()


def test_symbolic_worker_code_never_evals_or_execs_text(tmp_path, monkeypatch):
    """Run the worker's comparison in-process with eval/exec spied: no string is ever evaluated
    (latex2sympy2_extended's own `sympy.Number(text)` would; the worker replaces it)."""
    spec = importlib.util.spec_from_file_location("_worker_under_test", WORKER_FILE)
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    answers = [
        (r"3\sqrt{13}", r"\sqrt{117}"),
        (r"\cot x", r"\frac{\cos x}{\sin x}"),
        ("0.5", r"\frac{1}{2}"),
        (r"5x - 7y + 11z + 4 = 0", r"10x - 14y + 22z + 8 = 0"),
        (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"),
        ("10,080", "10080"),
    ]
    # Warm up unspied: sympy's lazily imported modules sympify their own constant names once.
    assert all(worker.compare(g, p) for g, p in answers)
    calls = []
    real_eval, real_exec = builtins.eval, builtins.exec

    def spy(real, name):
        def wrapper(source, *args, **kwargs):
            if isinstance(source, (str, bytes)):  # code objects are lazy module imports, not text
                calls.append((name, source[:80]))
            return real(source, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(builtins, "eval", spy(real_eval, "eval"))
    monkeypatch.setattr(builtins, "exec", spy(real_exec, "exec"))
    for payload in _payloads(tmp_path / "pwned"):
        assert worker.compare("0", payload) is False
    assert all(worker.compare(g, p) for g, p in answers)
    assert worker.compare("12", "13") is False
    assert calls == []
    assert not (tmp_path / "pwned").exists()


# --------------------------------------------------------------------------------------------
# Bounds: every call returns within the deadline


HANG_INPUTS = [
    ("2", "2^{2^{2^{2^{100}}}}"),  # power tower (screened before parsing)
    ("2", "2^{2^{100}}"),  # a power of 10^29 digits (screened before parsing)
    ("2", "{99999^{99999}}^{99}"),  # a power of 5 * 10^7 digits (screened before parsing)
    ("1", "9" * 1_000_000),  # a 10^6-character answer
    ("5", "{" * 5000 + "5" + "}" * 5000),  # 5000-deep braces
    ("1", "1000000!"),  # huge factorial
    ("1", "(10^{10})!"),  # factorial of a power
    ("2", r"\binom{10^{9}}{10^{8}}"),  # huge binomial
    ("1", "(" * 3000 + "1" + ")" * 3000),  # deep parentheses
]


@pytest.mark.parametrize("gold, pred", HANG_INPUTS)
def test_hang_inputs_return_false_within_deadline(fresh, gold, pred):
    start = time.monotonic()
    assert fresh.is_equivalent(gold, pred, timeout_s=1.0) is False
    assert time.monotonic() - start < 1.0 + SLACK_S
    start = time.monotonic()
    assert fresh.reward(rf"\boxed{{{pred}}}", gold) == 0.0
    assert time.monotonic() - start < 1.0 + SLACK_S


def test_killed_worker_is_replaced_and_verdicts_continue(fresh):
    killed = fresh.pool.n_killed
    start = time.monotonic()
    assert fresh.is_equivalent("3", r"\sqrt{2^{99999}+1}", timeout_s=0.2) is False  # CPU-bound in sympy
    assert time.monotonic() - start < 0.5 + SLACK_S
    assert fresh.pool.n_killed == killed + 1
    assert fresh.is_equivalent(r"\cot x", r"\frac{\cos x}{\sin x}") is True


def test_works_off_the_main_thread(fresh):
    results: dict[str, bool] = {}

    def run(name: str, gold: str, pred: str) -> None:
        results[name] = fresh.is_equivalent(gold, pred, timeout_s=0.5)

    threads = [
        threading.Thread(target=run, args=("tower", "2", "2^{2^{98}}")),
        threading.Thread(target=run, args=("trig", r"\tan x", r"\frac{\sin x}{\cos x}")),
        threading.Thread(target=run, args=("plain", "1/2", "0.5")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == {"tower": False, "trig": True, "plain": True}


def test_verdicts_are_deterministic_across_verifiers(fresh):
    pairs = [(g, p) for g, p, _ in EQUIV if isinstance(p, str)][:40]
    other = Verifier(VerifierConfig(cache_size=0))
    try:
        assert [fresh.is_equivalent(g, p) for g, p in pairs] == [other.is_equivalent(g, p) for g, p in pairs]
    finally:
        other.close()


def test_cache_returns_same_verdict_without_work(fresh):
    assert fresh.is_equivalent(r"\sin^2 x + \cos^2 x", "1") is True
    start = time.perf_counter()
    assert fresh.is_equivalent(r"\sin^2 x + \cos^2 x", "1") is True
    assert time.perf_counter() - start < 0.01


@pytest.mark.parametrize(
    "kwargs", [{"timeout_s": 0}, {"n_workers": 0}, {"memory_mb": 10}, {"cache_size": -1}, {"max_boxes": 0}]
)
def test_config_validation_names_the_fix(kwargs):
    with pytest.raises(ValueError):
        VerifierConfig(**kwargs)


# --------------------------------------------------------------------------------------------
# MATH-500: measured, not claimed


def _math500() -> list[dict]:
    root = Path(__file__).resolve().parents[2]
    candidates = [Path(os.environ["ASTRO_DATA_DIR"])] if os.environ.get("ASTRO_DATA_DIR") else []
    candidates += [root.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for directory in candidates:
        path = directory / "math500.jsonl"
        if path.exists():
            with path.open() as f:
                return [json.loads(line) for line in f if line.strip()]
    pytest.skip("math500.jsonl not found: set ASTRO_DATA_DIR or place data in ../shared/data")


def test_math500_gold_solutions_earn_reward(fresh):
    rows = _math500()
    misses = [(r["id"], r["answer"], extract_answer(r["solution"])) for r in rows if fresh.reward(r["solution"], r["answer"]) != 1.0]
    print(f"MATH-500 gold-solution misses ({len(misses)}/{len(rows)}): {misses}")
    assert len(rows) - len(misses) >= len(rows) - 1


def _same_answer_string(a: str, b: str) -> bool:
    """Independent of the verifier: identical after dropping spaces, `x=` and `\\!`."""
    def canon(s: str) -> str:
        s = s.replace(" ", "").replace("\\!", "")
        return s[2:] if len(s) > 2 and s[1] == "=" and s[0].isalpha() else s
    return canon(a) == canon(b)


def test_math500_other_problems_answers_earn_nothing(fresh):
    rows = _math500()
    n = len(rows)
    pairs = [(rows[i]["solution"], rows[(i + 1) % n]["answer"], rows[i]["answer"]) for i in range(n)]
    kept = [(sol, gold) for sol, gold, own in pairs if not _same_answer_string(own, gold)]
    excluded = n - len(kept)
    hits = [(gold, extract_answer(sol)) for sol, gold in kept if fresh.reward(sol, gold) != 0.0]
    print(f"MATH-500 mismatched pairs: {len(kept)} kept, {excluded} excluded (gold answers coincide); false hits: {hits}")
    assert excluded <= 5
    assert len(kept) - len(hits) >= len(kept) - 1
