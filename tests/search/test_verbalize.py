"""Verbalisation (phrase bank, golden traces, rewriter) and its inverse, parse_trace."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.base import Completion
from astro_env import get_task
from astro_env.outcome import OutcomePhrases
from search.linearize import LinearizeConfig, linearize, merge_paths
from search.verbalize import (
    PHRASES_PATH,
    ParsedTrace,
    PhraseBank,
    StepRewriter,
    _parse_into,
    last_boxed,
    parse_trace,
    quote_step,
    render,
    render_wrong_terminal,
    unbox,
    verbalize,
)
from tests.search._trees import mod4_equivalent, random_trees
from tests.search.make_golden import CASES, GOLDEN_DIR, countdown_tree, math_tree

PROPS = settings(max_examples=60, deadline=None)
DOUBT = "But wait, are we solving the problem correctly so far? Hmm... I'm not sure if we're solving the problem correctly so far."
CONFIRM = "But wait, are we solving the problem correctly so far? Hmm... Our solution seems to be correct so far."


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_traces(name):
    expected = (GOLDEN_DIR / f"{name}.txt").read_text(encoding="utf-8")
    assert CASES[name]() == expected, f"regenerate with `python -m tests.search.make_golden` and review the diff ({name})"


def test_phrase_bank_holds_astro_phrases():
    bank = PhraseBank.load()
    assert bank.doubt == DOUBT and bank.confirm == CONFIRM
    assert bank.backtrack.startswith("Let's go back to where we")
    assert bank.restart.startswith("Let's restart our solution from the beginning")
    assert bank.attempt == "That gives {answer}."
    styles = {k for k, v in json.loads(PHRASES_PATH.read_text()).items() if isinstance(v, dict)}
    assert {"phrases", "markers", "off"} <= styles


def test_phrase_bank_is_editable_and_validated(tmp_path):
    path = tmp_path / "bank.json"
    path.write_text(json.dumps({"mine": {"attempt": "We get {answer}.", "restart": "From scratch."}}))
    bank = PhraseBank.load(path, "mine")
    tree = math_tree()
    text, _, n_restarts = verbalize(tree, merge_paths(tree, [3, 5], "root"), bank)
    assert "We get 2." in text and "From scratch." in text and n_restarts == 1
    assert parse_trace(text, phrases=bank).attempt_answers == ["2", "4"]
    with pytest.raises(ValueError, match="boxed"):
        PhraseBank(attempt="\\boxed{{answer}}")
    with pytest.raises(ValueError, match="target"):
        PhraseBank(backtrack="Let's go back.")
    with pytest.raises(ValueError, match="style"):
        PhraseBank.load(path, "nope")


def test_the_task_owns_its_comparison_sentences():
    """A comparison is the task's text: another task's phrases change what is written and parsed."""
    tree = countdown_tree()
    mine = OutcomePhrases(reached="We get {answer}, which is {goal}.", missed="We get {answer}, short of {goal}.")

    class Other:
        outcome_phrases = mine
        outcome_goal = staticmethod(get_task("countdown").outcome_goal)
        outcome_value = staticmethod(get_task("countdown").outcome_value)

    text, _, n_restarts = verbalize(tree, merge_paths(tree, [3, 6]), PhraseBank.load(), task=Other())
    assert "We get 32, short of 26." in text and "We get 26, which is 26." in text and n_restarts == 1
    assert parse_trace(text, task=Other()).attempt_answers == ["32", "(7*3)+5"]
    # no task, no comparison: a wrong terminal states its answer with the attempt phrase
    plain, _, _ = verbalize(tree, merge_paths(tree, [3, 6]), PhraseBank.load(), task=None)
    assert "That gives (7*5)-3." in plain and "target" not in plain
    with pytest.raises(ValueError, match="goal"):
        OutcomePhrases(reached="Got {answer}.", missed="That gives {answer}.")
    with pytest.raises(ValueError, match="boxed"):
        OutcomePhrases(reached="\\boxed{{answer}}", missed="{answer} misses {goal}")
    with pytest.raises(ValueError, match="same text"):
        OutcomePhrases(reached="{answer} vs {goal}", missed="{answer} vs {goal}")
    assert mine.parse("We get 8, short of 6.") == (("8", "6", False))
    assert mine.parse("We get 8, short of 6. More.") is None


def test_countdown_trace_structure_by_hand():
    tree = countdown_tree()
    text, n_back, n_rest = verbalize(tree, merge_paths(tree, [3, 8, 6]), PhraseBank.load())
    chunks = text.split("\n\n")
    assert (n_back, n_rest) == (1, 1)
    # 7*5=35 has Q 0.5 (no confirm); 7*3=21 has Q 0.8 (confirm); 21+5=26 (Q 1.0) is a final
    # combination, judged by the comparison instead; final confirm
    assert chunks == [
        "7*5=35; left: 3 35",
        "35-3=32; left: 32",
        "That gives 32; the target is 26, so this is not it.",
        DOUBT + ' Let\'s go back to where we had "7*5=35; left: 3 35" and try a different way from there.',
        "35+3=38; left: 38",
        "That gives 38; the target is 26, so this is not it.",
        DOUBT + " Let's restart our solution from the beginning and try a different approach.",
        "7*3=21; left: 5 21",
        CONFIRM,
        "21+5=26; left: 26",
        "That gives 26; the target is 26, so we have it.",
        "\\boxed{(7*3)+5}",
        CONFIRM,
    ]
    parsed = parse_trace(text, task="countdown")
    assert parsed.attempt_answers == ["32", "38", "(7*3)+5"] and (parsed.n_backtracks, parsed.n_restarts) == (1, 1)
    # without the task the comparisons read as prose: the jumps are the same, the answers are not
    blind = parse_trace(text)
    assert (blind.n_backtracks, blind.n_restarts) == (1, 1) and blind.attempt_answers != parsed.attempt_answers


def test_only_the_final_answer_is_boxed_and_the_verifier_reads_it():
    tree = math_tree()
    text, _, _ = verbalize(tree, merge_paths(tree, [3, 5]), PhraseBank.load())
    assert text.count("\\boxed") == 1 and last_boxed(text) == "4"
    from astro_env import verifier
    assert verifier.extract_answer(text) == "4"
    assert verifier.reward(text, "4") == 1.0


def test_high_q_threshold_and_switches():
    tree = countdown_tree()
    seq = merge_paths(tree, [3, 6])
    n_confirm = lambda **kw: verbalize(tree, seq, PhraseBank.load(), **kw)[0].count("correct so far.")  # noqa: E731
    assert n_confirm() == 2  # node 4 (0.8), final; node 5 (1.0) is followed by the comparison instead
    assert n_confirm(high_q_threshold=0.4) == 3  # + node 1 (0.5)
    assert n_confirm(confirm_intermediate=False) == 1
    assert n_confirm(confirm_final=False, confirm_intermediate=False) == 0


def test_marker_and_off_styles():
    tree = countdown_tree()
    seq = merge_paths(tree, [3, 8, 6])
    markers, _, _ = verbalize(tree, seq, PhraseBank.load(style="markers"))
    assert "But wait" not in markers and "<backtrack> 7*5=35; left: 3 35" in markers and "<restart>" in markers
    assert markers.endswith("\\boxed{(7*3)+5}\n\n<verify>")
    off, n_back, n_rest = verbalize(tree, seq, PhraseBank.load(style="off"))
    assert off.split("\n\n") == [
        "7*5=35; left: 3 35", "35-3=32; left: 32", "That gives 32; the target is 26, so this is not it.", "35+3=38; left: 38", "That gives 38; the target is 26, so this is not it.",
        "7*3=21; left: 5 21", "21+5=26; left: 26", "That gives 26; the target is 26, so we have it.", "\\boxed{(7*3)+5}",
    ]
    assert (n_back, n_rest) == (1, 1)  # the structure is counted even when not written
    plain, _, _ = verbalize(tree, merge_paths(tree, [6]), None)  # the Direct arm compares too
    assert plain == "7*3=21; left: 5 21\n\n21+5=26; left: 26\n\nThat gives 26; the target is 26, so we have it.\n\n\\boxed{(7*3)+5}"


def test_wrong_terminal_rendering_and_quotes():
    bank = PhraseBank.load()
    assert render_wrong_terminal("\\boxed{12}", "12", bank) == "That gives 12."
    assert render_wrong_terminal("So $x = \\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}", bank) == (
        "So $x = \\frac{1}{2}$. That gives \\frac{1}{2}."
    )
    assert unbox("a \\boxed{b{c}} d \\boxed{e}") == "a b{c} d e"
    assert last_boxed("\\boxed{1} and \\boxed{\\frac{2}{3}}") == "\\frac{2}{3}"
    assert last_boxed("\\boxed{unclosed") is None
    assert quote_step("a\n b   c", 20) == "a b c"
    assert quote_step("x" * 30, 10) == "x" * 10 + "..."


def _stated_answer(tree, node_id, final):
    """What a trace states for a terminal: a wrong attempt's value when its task compares it with
    the goal ("That gives 32; the target is 26, so this is not it."), else the answer itself."""
    answer = tree.nodes[node_id].answer
    task = get_task(tree.problem.task)
    goal = task.outcome_goal(tree.problem) if hasattr(task, "outcome_goal") else None
    value = task.outcome_value(tree.problem, answer) if goal is not None and not final else None
    if value is not None and value != goal:
        return value
    return answer


def _roundtrip(tree, seq, bank):
    rendering = render(tree, seq, bank)
    text = tree.delimiter.join(rendering.chunks)
    parsed = parse_trace(text, tree.delimiter, bank, task=tree.problem.task)
    assert parsed.attempts == [list(t) for t in rendering.step_texts]
    assert (parsed.n_backtracks, parsed.n_restarts) == (rendering.n_backtracks, rendering.n_restarts)
    targets = parsed.jump_targets
    assert len(targets) == seq.k
    for attempt, target in zip(seq.attempts[1:], targets):
        if attempt.start_id == 0:
            assert target is None
        else:
            assert parsed.steps[target].text == tree.nodes[attempt.start_id].step
        # the attempt's first step hangs below the landing step
    firsts = [s for s in parsed.steps if s.attempt > 0 and (s.index == 0 or parsed.steps[s.index - 1].attempt != s.attempt)]
    assert [s.parent for s in firsts] == targets
    answers = [_stated_answer(tree, t, t == seq.terminal_ids[-1]) for t in seq.terminal_ids]
    assert parsed.attempt_answers == answers
    return parsed


@PROPS
@given(tree=random_trees(), seed=st.integers(0, 2**16), point=st.sampled_from(["lca", "root", "parent"]),
       style=st.sampled_from(["phrases", "markers"]))
def test_parse_inverts_verbalize_on_random_trees(tree, seed, point, style):
    bank = PhraseBank.load(style=style)
    for seq in linearize(tree, LinearizeConfig(backtrack_point=point), random.Random(seed), mod4_equivalent):
        _roundtrip(tree, seq, bank)


def test_parse_recovers_the_golden_graph():
    tree = countdown_tree()
    parsed = _roundtrip(tree, merge_paths(tree, [3, 8, 6]), PhraseBank.load())
    assert [(e.src, e.dst, e.kind) for e in parsed.edges if e.kind != "step"] == [(2, 0, "backtrack"), (4, None, "restart")]
    assert parsed.first_answer == "32" and parsed.final_answer == "(7*3)+5"
    assert [s.verified for s in parsed.steps] == [False, False, False, False, False, True, False, True]
    # a long, multi-line step quoted by its prefix is located again
    _roundtrip(math_tree(), merge_paths(math_tree(), [3, 5]), PhraseBank.load())


def test_parse_default_banks_read_every_style():
    tree = countdown_tree()
    seq = merge_paths(tree, [3, 8, 6])
    for style in ("phrases", "markers"):
        parsed = parse_trace(verbalize(tree, seq, PhraseBank.load(style=style))[0], task="countdown")
        assert (parsed.n_backtracks, parsed.n_restarts, parsed.n_attempts) == (1, 1, 3)


def test_parse_model_text_loosely():
    text = (
        "Let x be the number. Then 2x = 8.\n\nSo x = 5 and the answer is \\boxed{5}.\n\n"
        "Hmm, that does not check out. Let's go back to where we set up 2x = 8 and redo it.\n\n"
        "Dividing by 2, x = 4.\n\nSo \\boxed{4}."
    )
    parsed = parse_trace(text)
    assert parsed.attempt_answers == ["5", "4"]
    assert parsed.n_backtracks == 1 and parsed.n_restarts == 0
    assert parsed.steps[parsed.jump_targets[0]].text == "Let x be the number. Then 2x = 8."
    # a jump with no step after it is still counted; a quote that names nothing lands nowhere
    parsed = parse_trace('a\n\nThat gives 3.\n\nLet\'s go back to where we had "zzz" and try a different way from there.')
    assert parsed.n_backtracks == 1 and parsed.jump_targets == [None] and parsed.attempt_answers == ["3"]
    # decimals inside the attempt phrase
    assert parse_trace("x\n\nThat gives 3.5.").attempt_answers == ["3.5"]


PIECES = list("ab{}\\\n .\"<>5") + ["\\boxed{", "That gives ", "<backtrack> ", "Let's go back to where we had \"",
                                      "<restart>", "<verify>", "\n\n", "Let's go back to where we "]


@settings(max_examples=150, deadline=None)
@given(text=st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
def test_parse_never_raises_on_malformed_text(text):
    # the unguarded core, so a failure shows here rather than being swallowed by parse_trace
    out = ParsedTrace()
    _parse_into(out, text, "\n\n", None)
    parsed = parse_trace(text)
    assert parsed.n_backtracks >= 0 and parsed.n_restarts >= 0
    assert all(isinstance(a, str) for a in parsed.attempt_answers)
    assert len(parsed.attempt_answers) == sum(s.answer is not None for s in parsed.steps)


def test_truncated_trace_parses():
    tree = countdown_tree()
    text, _, _ = verbalize(tree, merge_paths(tree, [3, 8, 6]), PhraseBank.load())
    for cut in range(0, len(text), 7):
        parsed = parse_trace(text[:cut])
        assert parsed.n_backtracks <= 1 and parsed.n_restarts <= 1
    assert parse_trace(None).steps == []  # type: ignore[arg-type]


class FakeRewriter:
    """A policy whose completion uppercases the NEXT STEP line; one step is answered with a box."""

    name = "fake"

    def __init__(self):
        self.calls = []

    def complete(self, prompts, n, sampling):
        self.calls.append(list(prompts))
        out = []
        for p in prompts:
            step = p.split("NEXT STEP: ")[-1].split("\n")[0]
            text = "\\boxed{1}" if step == "35+3=38; left: 38" else "Then " + step
            out.append([Completion(text=text)])
        return out


def test_rewriter_rewrites_continuation_steps_only():
    tree = countdown_tree()
    policy = FakeRewriter()
    bank = PhraseBank.load()
    seq = merge_paths(tree, [3, 8, 6])
    rendering = render(tree, seq, bank, rewriter=StepRewriter(policy))
    assert len(policy.calls) == 1 and len(policy.calls[0]) == 5  # non-terminal nodes, one batch
    assert "Problem" not in policy.calls[0][0] or "Numbers: 3 5 7" in policy.calls[0][0]
    assert rendering.step_texts[0] == ("Then 7*5=35; left: 3 35", "Then 35-3=32; left: 32", "That gives 32; the target is 26, so this is not it.")
    assert rendering.step_texts[1][0] == "35+3=38; left: 38"  # a boxed rewrite is rejected
    assert rendering.step_texts[2][-1] == "\\boxed{(7*3)+5}"  # terminal never rewritten
    # the backtrack quotes the rewritten step, so the parser still finds it
    text = "\n\n".join(rendering.chunks)
    assert 'where we had "Then 7*5=35; left: 3 35"' in text
    parsed = parse_trace(text, phrases=bank, task="countdown")
    assert parsed.steps[parsed.jump_targets[0]].text == "Then 7*5=35; left: 3 35"


def test_attempt_phrase_inside_prose_is_not_an_answer():
    # MATH-500 reference solutions say "that gives us $3+2+2=7$ boxes, ..." mid-sentence; only a
    # line-final attempt phrase with no box states a tentative answer.
    prose = "Counting the rows, that gives us $3+2+2=7$ boxes, and then we pair them.\n\nSo \\boxed{7}"
    assert parse_trace(prose).attempt_answers == ["7"]
    assert parse_trace("5*7=35 That gives 35.\n\n\\boxed{5*7}").attempt_answers == ["35", "5*7"]


def test_restate_problem_writes_the_problem_after_each_restart_and_the_parser_skips_it():
    tree = countdown_tree()
    seq = merge_paths(tree, [3, 8, 6])  # a backtrack, then a restart
    bank = PhraseBank.load()
    plain, _, _ = verbalize(tree, seq, bank)
    text, n_back, n_rest = verbalize(tree, seq, bank, restate_problem=True)
    statement = tree.problem.problem.strip()
    chunks = text.split(tree.delimiter)
    assert (n_back, n_rest) == (1, 1)
    assert chunks.count(statement) == 1
    # the restated problem comes right after the restart phrase, and is the only difference
    at = chunks.index(statement)
    assert chunks[at - 1].endswith(bank.restart)
    assert tree.delimiter.join(chunks[:at] + chunks[at + 1:]) == plain
    # told the problem, the parser reads the same graph as without the restatement; not told, the restatement is a step
    told = parse_trace(text, task="countdown", problem=tree.problem.problem)
    base = parse_trace(plain, task="countdown")
    assert [s.text for s in told.steps] == [s.text for s in base.steps]
    assert [(e.src, e.dst, e.kind) for e in told.edges] == [(e.src, e.dst, e.kind) for e in base.edges]
    untold = parse_trace(text, task="countdown")
    assert statement in [s.text for s in untold.steps]
    assert (untold.n_backtracks, untold.n_restarts) == (1, 1)
