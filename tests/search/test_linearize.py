"""Algorithm 1 (linearize), Direct paths, traces and the statistics table."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astro_env.problem import Problem
from search.linearize import (
    Attempt,
    LinearizeConfig,
    NodeSequence,
    build_traces,
    count_tokens,
    dead_branches,
    dead_nodes,
    direct_sequences,
    format_stats,
    linearize,
    merge_paths,
    sample_wrong,
    string_equivalence,
    trace_stats,
    wrong_terminals,
)
from search.trace import Trace
from search.tree import Node, SearchTree
from tests.search._trees import mod4_equivalent, random_trees
from tests.search.make_golden import countdown_tree, math_tree

PROPS = settings(max_examples=60, deadline=None)


def _tree(spec: list[tuple], answer: str = "26") -> SearchTree:
    """Nodes from (id, parent, step, terminal, answer, correct, value) rows after the root."""
    nodes = [Node(id=0, parent_id=None, step="", depth=0)]
    for i, parent, step, terminal, ans, correct, value in spec:
        nodes.append(
            Node(
                id=i, parent_id=parent, step=step, depth=nodes[parent].depth + 1,
                terminal=terminal, answer=ans, correct=correct, value=value,
            )
        )
    problem = Problem(id="t/0", problem="Numbers: 1 2\nTarget: 3", answer=answer, task="countdown", source="cd")
    return SearchTree(problem=problem, prompt=problem.problem + "\n\n", nodes=tuple(nodes))


def _check_invariants(tree: SearchTree, seq: NodeSequence, eq, backtrack_point: str = "lca") -> None:
    nodes = tree.nodes
    final = nodes[seq.attempts[-1].node_ids[-1]]
    assert final.terminal and final.correct
    wrong = [nodes[a.node_ids[-1]] for a in seq.attempts[:-1]]
    for w in wrong:
        assert w.terminal and w.answer is not None and not w.correct
    for i, a in enumerate(wrong):
        for b in wrong[i + 1 :]:
            assert not eq(a.answer, b.answer), "a wrong answer repeats"
    for prev, attempt in zip(seq.attempts, seq.attempts[1:]):
        prev_terminal = prev.node_ids[-1]
        ancestors = [n.id for n in tree.path(prev_terminal)][:-1]  # strict ancestors, root included
        assert attempt.start_id in ancestors, "a jump must land on an ancestor of the terminal it leaves"
        # the attempt continues the path to its own terminal from the landing node
        path = [n.id for n in tree.path(attempt.node_ids[-1])]
        assert path[path.index(attempt.start_id) + 1 :] == list(attempt.node_ids)
        next_path = set(path)
        lca = max((i for i in ancestors + [prev_terminal] if i in next_path), key=lambda i: nodes[i].depth)
        if backtrack_point == "lca":
            assert attempt.start_id == lca
        elif backtrack_point == "root":
            assert attempt.start_id == 0
    assert seq.n_restarts == sum(1 for a in seq.attempts[1:] if a.start_id == 0)
    assert seq.n_backtracks + seq.n_restarts == seq.k == len(wrong)
    # every attempt ends at a terminal and only there
    for a in seq.attempts:
        assert [nodes[i].terminal for i in a.node_ids] == [False] * (len(a.node_ids) - 1) + [True]


@PROPS
@given(tree=random_trees(), seed=st.integers(0, 2**16), point=st.sampled_from(["lca", "root", "parent"]),
       choice=st.sampled_from(["uniform", "q"]))
def test_invariants_hold_on_random_trees(tree, seed, point, choice):
    config = LinearizeConfig(backtrack_point=point, wrong_choice=choice)
    seqs = linearize(tree, config, random.Random(seed), mod4_equivalent)
    if not tree.correct_terminals():
        assert seqs == []
        return
    assert 1 <= len(seqs) <= 4
    assert len({s.signature for s in seqs}) == len(seqs), "dedup by signature"
    for seq in seqs:
        _check_invariants(tree, seq, mod4_equivalent, point)
    # deterministic under a seed
    again = linearize(tree, config, random.Random(seed), mod4_equivalent)
    assert again == seqs


@PROPS
@given(tree=random_trees())
def test_k_is_clamped_to_distinct_wrong_answers(tree):
    if not tree.correct_terminals():
        return
    n_classes = len({int(n.answer) % 4 for n in wrong_terminals(tree)} - {0})
    config = LinearizeConfig(k_values=(5,), n_search_per_problem=4, n_direct_per_problem=0, dedup=False)
    for seq in linearize(tree, config, random.Random(0), mod4_equivalent):
        assert seq.k == min(5, n_classes)


def test_jump_lands_on_lca_not_on_an_abandoned_branch():
    # root -> a(1) -> b(2) -> w1(3);  root -> c(4) -> w2(5);  root -> a(1) -> d(6) -> ok(7)
    # After w2 the literal "append nodes not yet in the sequence" would resume below a (node 1,
    # an ancestor of w1 only); the LCA of w2 and ok's path is the root: a restart that rewrites a.
    tree = _tree([
        (1, 0, "a", False, None, None, 0.5),
        (2, 1, "b", False, None, None, 0.1),
        (3, 2, "\\boxed{1}", True, "1", False, 0.0),
        (4, 0, "c", False, None, None, 0.2),
        (5, 4, "\\boxed{2}", True, "2", False, 0.0),
        (6, 1, "d", False, None, None, 0.9),
        (7, 6, "\\boxed{3}", True, "3", True, 1.0),
    ], answer="3")
    seq = merge_paths(tree, [3, 5, 7])
    assert seq.attempts == (Attempt(0, (1, 2, 3)), Attempt(0, (4, 5)), Attempt(0, (1, 6, 7)))
    assert (seq.n_restarts, seq.n_backtracks) == (2, 0)
    seq = merge_paths(tree, [3, 7])
    assert seq.attempts == (Attempt(0, (1, 2, 3)), Attempt(1, (6, 7)))
    assert (seq.n_restarts, seq.n_backtracks) == (0, 1)
    # ablations: always the root; one step above the LCA (root when the LCA is the root)
    assert merge_paths(tree, [3, 7], "root").attempts[1] == Attempt(0, (1, 6, 7))
    assert merge_paths(tree, [3, 7], "parent").attempts[1] == Attempt(0, (1, 6, 7))
    assert merge_paths(tree, [3, 5, 7], "parent").attempts[2] == Attempt(0, (1, 6, 7))


def test_parent_backtrack_point_goes_one_step_above_the_lca():
    tree = _tree([
        (1, 0, "a", False, None, None, 0.5),
        (2, 1, "b", False, None, None, 0.5),
        (3, 2, "\\boxed{1}", True, "1", False, 0.0),
        (4, 2, "e", False, None, None, 0.5),
        (5, 4, "\\boxed{3}", True, "3", True, 1.0),
    ], answer="3")
    assert merge_paths(tree, [3, 5], "lca").attempts[1] == Attempt(2, (4, 5))
    assert merge_paths(tree, [3, 5], "parent").attempts[1] == Attempt(1, (2, 4, 5))


def test_wrong_answers_use_the_injected_equivalence():
    # "2" and "02" are the same answer numerically but not as strings
    tree = _tree([
        (1, 0, "x", False, None, None, 0.5),
        (2, 1, "\\boxed{2}", True, "2", False, 0.0),
        (3, 1, "\\boxed{02}", True, "02", False, 0.0),
        (4, 1, "\\boxed{3}", True, "3", True, 1.0),
    ], answer="3")
    numeric = lambda a, b: int(a) == int(b)  # noqa: E731
    config = LinearizeConfig(k_values=(2,), n_search_per_problem=20, n_direct_per_problem=0, dedup=False)
    for seq in linearize(tree, config, random.Random(1), numeric):
        assert seq.k == 1
    ks = {s.k for s in linearize(tree, config, random.Random(1), string_equivalence)}
    assert ks == {2}


def test_depth_cut_terminals_are_not_wrong_attempts():
    tree = _tree([
        (1, 0, "x", False, None, None, 0.5),
        (2, 1, "cut", True, None, None, 0.0),
        (3, 1, "\\boxed{3}", True, "3", True, 1.0),
    ], answer="3")
    assert wrong_terminals(tree) == []
    seqs = linearize(tree, LinearizeConfig(), random.Random(0), string_equivalence)
    assert [s.k for s in seqs] == [0]  # the k>=1 solutions collapse onto the direct one (dedup)


def test_q_choice_prefers_wrong_branches_that_looked_good():
    tree = _tree([
        (1, 0, "promising", False, None, None, 0.95),
        (2, 1, "\\boxed{1}", True, "1", False, 0.0),
        (3, 0, "hopeless", False, None, None, 0.0),
        (4, 3, "\\boxed{2}", True, "2", False, 0.0),
        (5, 0, "\\boxed{3}", True, "3", True, 1.0),
    ], answer="3")
    rng = random.Random(0)
    picks = [sample_wrong(tree, 1, rng, string_equivalence, "q")[0].id for _ in range(200)]
    assert picks.count(2) > 190
    uniform = [sample_wrong(tree, 1, rng, string_equivalence, "uniform")[0].id for _ in range(400)]
    assert 150 < uniform.count(2) < 250


def test_good_set_restricts_the_final_terminal():
    tree = _tree([
        (1, 0, "\\boxed{3}", True, "3", True, 1.0),
        (2, 0, "\\boxed{1+2}", True, "1+2", True, 1.0),
        (3, 0, "\\boxed{4}", True, "4", False, 0.0),
    ], answer="3")
    config = LinearizeConfig(n_search_per_problem=10)
    for seq in linearize(tree, config, random.Random(0), string_equivalence, good={2}):
        assert seq.terminal_ids[-1] == 2
    assert linearize(tree, config, random.Random(0), string_equivalence, good=set()) == []


def test_paper_mix_one_direct_then_search_solutions():
    tree = countdown_tree()
    config = LinearizeConfig(dedup=False)
    seqs = linearize(tree, config, random.Random(3), string_equivalence)
    assert [s.k for s in seqs][0] == 0
    assert all(s.k in (1, 2) for s in seqs[1:]) and len(seqs) == 4


def test_direct_sequences_sample_with_replacement_when_short():
    tree = countdown_tree()  # one correct terminal
    seqs = direct_sequences(tree, 3, random.Random(0))
    assert [s.attempts for s in seqs] == [(Attempt(0, (4, 5, 6)),)] * 3
    two = _tree([(1, 0, "\\boxed{3}", True, "3", True, 1.0), (2, 0, "\\boxed{1+2}", True, "1+2", True, 1.0)], answer="3")
    seqs = direct_sequences(two, 2, random.Random(0))
    assert sorted(s.terminal_ids[-1] for s in seqs) == [1, 2]  # distinct paths first


def test_build_traces_direct_matches_astro_counts_per_problem():
    trees = [countdown_tree(), math_tree()]
    config = LinearizeConfig()
    astro = build_traces(trees, config, "astro", seed=5, is_equivalent=string_equivalence)
    direct = build_traces(trees, config, "direct", seed=5, is_equivalent=string_equivalence)
    per = lambda ts: {pid: sum(t.problem_id == pid for t in ts) for pid in {t.problem_id for t in ts}}  # noqa: E731
    assert per(astro) == per(direct) and len(astro) >= 2
    for t in direct:
        assert t.arm == "direct" and t.n_backtracks == t.n_restarts == 0 and "But wait" not in t.completion
        assert t.n_tokens == len(t.completion)
    for t in astro:
        assert t.prompt in (trees[0].prompt, trees[1].prompt)
        assert t.completion.count("\\boxed") == 1
        assert t.n_backtracks + t.n_restarts == t.k
    # deterministic, and another seed may differ but keeps the invariants
    assert build_traces(trees, config, "astro", seed=5, is_equivalent=string_equivalence) == astro


def test_count_tokens_uses_the_tokenizer():
    class Words:
        def encode(self, text, add_special_tokens=False):
            return text.split()

    assert count_tokens("a b  c") == 6
    assert count_tokens("a b  c", Words()) == 3
    assert count_tokens("a b", lambda s: [1, 2, 3]) == 3


def test_trace_stats_hand_computed():
    traces = [
        Trace("p1", "astro", "q", "abcd", n_backtracks=1, n_restarts=0, n_tokens=4, source="math"),
        Trace("p1", "astro", "q", "ab", n_backtracks=0, n_restarts=1, n_tokens=2, source="math"),
        Trace("p2", "astro", "q", "abcdef", n_backtracks=2, n_restarts=1, n_tokens=6, source="math"),
        Trace("c1", "astro", "q", "a", n_tokens=1, source="countdown"),
    ]
    stats = trace_stats(traces)
    math = stats["sources"]["math"]
    assert (math["n_problems"], math["n_traces"], math["n_backtracks"], math["n_restarts"]) == (2, 3, 3, 2)
    assert math["mean_backtracks"] == 1.0 and math["mean_tokens"] == 4.0
    assert stats["total"]["n_problems"] == 3 and stats["total"]["n_traces"] == 4
    table = format_stats(stats)
    assert table.splitlines()[0].split()[:5] == ["source", "problems", "trajectories", "backtracks", "restarts"]
    assert table.splitlines()[-1].split()[:5] == ["total", "3", "4", "3", "2"]


def test_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="k >= 1"):
        LinearizeConfig(k_values=(0,))
    with pytest.raises(ValueError, match="lca"):
        LinearizeConfig(backtrack_point="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="astro"):
        build_traces([], LinearizeConfig(), "both")  # type: ignore[arg-type]


def test_default_equivalence_is_the_tasks():
    # (5*7)-3 and 35-3 are the same Countdown answer (both 32): never two attempts at it
    tree = _tree([
        (1, 0, "5*7=35", False, None, None, 0.5),
        (2, 1, "\\boxed{(5*7)-3}", True, "(5*7)-3", False, 0.0),
        (3, 1, "\\boxed{35-3}", True, "35-3", False, 0.0),
        (4, 0, "\\boxed{1+2}", True, "1+2", True, 1.0),
    ], answer="3")
    config = LinearizeConfig(k_values=(2,), n_search_per_problem=10, n_direct_per_problem=0, dedup=False)
    assert {s.k for s in linearize(tree, config, random.Random(0))} == {1}
    assert {s.k for s in linearize(tree, config, random.Random(0), string_equivalence)} == {2}


def _tree_with_a_near_miss() -> SearchTree:
    """The golden Countdown tree plus a wrong terminal below the correct path's first step."""
    tree = countdown_tree()
    extra = (
        Node(id=9, parent_id=4, step="21-5=16; left: 16", depth=2, value=0.0),
        Node(id=10, parent_id=9, step="\\boxed{(7*3)-5}", depth=3, terminal=True, answer="(7*3)-5", correct=False),
    )
    return SearchTree(problem=tree.problem, prompt=tree.prompt, nodes=tree.nodes + extra)


def test_wrong_attempts_sharing_the_correct_prefix_come_last_and_backtrack():
    tree = _tree_with_a_near_miss()
    config = LinearizeConfig(k_values=(1,), n_direct_per_problem=0, n_search_per_problem=8, dedup=False)
    for seed in range(5):
        for seq in linearize(tree, config, random.Random(seed)):
            assert seq.terminal_ids == (10, 6) and (seq.n_backtracks, seq.n_restarts) == (1, 0)
    # k = 3: the two far misses first (a restart between them and into the correct path's
    # branch), the near one last, so the jump into the correct path is a backtrack
    for seq in linearize(tree, LinearizeConfig(k_values=(3,), n_direct_per_problem=0), random.Random(0)):
        assert seq.k == 3 and seq.terminal_ids[2:] == (10, 6)
        assert seq.attempts[-1].start_id == 4
    uniform = LinearizeConfig(k_values=(1,), n_direct_per_problem=0, n_search_per_problem=30, dedup=False,
                              prefer_backtracks=False)
    firsts = {seq.terminal_ids[0] for seq in linearize(tree, uniform, random.Random(0))}
    assert firsts == {3, 8, 10}  # the paper's uniform draw also picks the far misses


def _tree_with_a_dead_branch() -> SearchTree:
    """Correct path 1 -> 2 -> 3; a dead branch 4 (misses 6 and 8 below it, no correct terminal, Q 0);
    a near miss 9 below the correct path's first step; a dead step 10 with a single miss 11."""
    return _tree([
        (1, 0, "a", False, None, None, 0.9),
        (2, 1, "b", False, None, None, 0.9),
        (3, 2, "\\boxed{26}", True, "26", True, 1.0),
        (4, 0, "c", False, None, None, 0.0),
        (5, 4, "d", False, None, None, 0.0),
        (6, 5, "\\boxed{7}", True, "7", False, 0.0),
        (7, 4, "e", False, None, None, 0.0),
        (8, 7, "\\boxed{9}", True, "9", False, 0.0),
        (9, 1, "\\boxed{5}", True, "5", False, 0.0),
        (10, 0, "f", False, None, None, 0.0),
        (11, 10, "\\boxed{4}", True, "4", False, 0.0),
    ])


def test_dead_branch_attempts_backtrack_inside_the_branch_then_leave_it():
    tree = _tree_with_a_dead_branch()
    config = LinearizeConfig(k_values=(2,), n_direct_per_problem=0, n_search_per_problem=6, dedup=False, dead_branch_share=1.0)
    seqs = linearize(tree, config, random.Random(0), string_equivalence)
    assert len(seqs) == 6
    for seq in seqs:
        _check_invariants(tree, seq, string_equivalence)
        assert set(seq.terminal_ids[:2]) == {6, 8} and seq.terminal_ids[2] == 3
        # a backtrack to the dead branch's step, then a restart out of it
        assert [a.start_id for a in seq.attempts[1:]] == [4, 0]
    # the paper's draw (share 0) puts the near miss last and never stays in the dead branch
    plain = linearize(tree, LinearizeConfig(k_values=(2,), n_direct_per_problem=0, n_search_per_problem=6, dedup=False),
                      random.Random(0), string_equivalence)
    assert all(seq.terminal_ids[1] == 9 for seq in plain)
    assert not any(set(seq.terminal_ids[:2]) == {6, 8} for seq in plain)


def test_dead_branch_share_falls_back_when_no_branch_qualifies():
    # dead steps holding one miss each give no branch to stay in: the paper's draw is used
    tree = _tree([
        (1, 0, "a", False, None, None, 0.9),
        (2, 1, "b", False, None, None, 0.9),
        (3, 2, "\\boxed{26}", True, "26", True, 1.0),
        (4, 0, "c", False, None, None, 0.1),
        (5, 4, "\\boxed{7}", True, "7", False, 0.0),
        (6, 0, "d", False, None, None, 0.1),
        (7, 6, "\\boxed{9}", True, "9", False, 0.0),
        (8, 1, "\\boxed{5}", True, "5", False, 0.0),
    ])
    assert dead_branches(tree, {0, 1, 2, 3}, string_equivalence) == []
    config = LinearizeConfig(k_values=(2,), n_direct_per_problem=0, n_search_per_problem=6, dedup=False, dead_branch_share=1.0)
    for seq in linearize(tree, config, random.Random(0), string_equivalence):
        _check_invariants(tree, seq, string_equivalence)
        assert seq.k == 2 and seq.terminal_ids[1:] == (8, 3)  # the near miss last, as without the option


@PROPS
@given(tree=random_trees(), seed=st.integers(0, 2**16), share=st.sampled_from([0.5, 1.0]))
def test_invariants_hold_with_dead_branches(tree, seed, share):
    config = LinearizeConfig(k_values=(2, 3), dead_branch_share=share)
    for seq in linearize(tree, config, random.Random(seed), mod4_equivalent):
        _check_invariants(tree, seq, mod4_equivalent)


def test_dead_branch_share_is_a_share():
    with pytest.raises(ValueError, match="dead_branch_share"):
        LinearizeConfig(dead_branch_share=1.5)


def test_wrong_from_dead_start_never_misses_after_a_good_first_step():
    tree = _tree_with_a_dead_branch()  # 9 misses below the correct path's first step (alive); 6, 8, 11 below dead first steps
    assert dead_nodes(tree) == {4, 5, 6, 7, 8, 9, 10, 11}  # misses are dead themselves; the correct path is not
    dead = LinearizeConfig(k_values=(1, 2, 3), n_direct_per_problem=0, n_search_per_problem=8, dedup=False, wrong_from="dead_start")
    firsts = set()
    for seed in range(6):
        for seq in linearize(tree, dead, random.Random(seed), string_equivalence):
            _check_invariants(tree, seq, string_equivalence)
            assert set(seq.terminal_ids[:-1]) <= {6, 8, 11}
            assert seq.attempts[-1].start_id == 0  # the jump out of a dead first step goes back above it
            firsts.add(seq.terminal_ids[0])
    assert firsts == {6, 8, 11}
    paper = replace(dead, wrong_from="any")
    assert any(9 in seq.terminal_ids for seq in linearize(tree, paper, random.Random(0), string_equivalence))
    with pytest.raises(ValueError, match="wrong_from"):
        LinearizeConfig(wrong_from="alive")


def test_wrong_from_new_start_restarts_with_a_first_step_not_yet_written():
    tree = _tree_with_a_dead_branch()  # first steps: 1 (the correct path; miss 9 below it), 4 (misses 6, 8), 10 (miss 11)
    config = LinearizeConfig(k_values=(3,), n_direct_per_problem=0, n_search_per_problem=8, dedup=False, wrong_from="new_start")
    seen = set()
    for seed in range(8):
        for seq in linearize(tree, config, random.Random(seed), string_equivalence):
            _check_invariants(tree, seq, string_equivalence)
            firsts = [tree.path(t)[1].id for t in seq.terminal_ids]
            assert len(set(firsts)) == len(firsts) == 3 and firsts[-1] == 1  # 4 and 10 once each, then the correct path
            assert all(a.start_id == 0 for a in seq.attempts[1:])
            seen.add(tuple(seq.terminal_ids[:-1]))
    assert {frozenset(s) for s in seen} == {frozenset({6, 11}), frozenset({8, 11})}
    assert not any(9 in s for s in seen)


def test_restate_problem_is_trained_text_after_each_restart():
    tree = countdown_tree()
    config = LinearizeConfig(k_values=(2,), n_direct_per_problem=1, n_search_per_problem=3, mask_wrong_steps=True,
                             backtrack_point="root", restate_problem=True)
    astro = build_traces([tree], config, "astro", seed=0, is_equivalent=string_equivalence)
    plain = build_traces([tree], replace(config, restate_problem=False), "astro", seed=0, is_equivalent=string_equivalence)
    statement = tree.problem.problem.strip()
    assert [t.n_restarts for t in astro] == [t.n_restarts for t in plain] and any(t.n_restarts for t in astro)
    for t, p in zip(astro, plain):
        assert t.completion.count(statement) == t.n_restarts
        assert t.completion.replace(statement + tree.delimiter, "") == p.completion
        assert not any(statement in t.completion[a:b] for a, b in t.masked_spans)  # trained, never masked
    direct = build_traces([tree], config, "direct", seed=0, is_equivalent=string_equivalence)
    assert all(statement not in t.completion for t in direct)


def test_mask_wrong_steps_marks_exactly_the_off_path_steps_of_wrong_attempts():
    tree = countdown_tree()  # wrong terminals 3 (7*5=35, 35-3=32) and 8 (35+3=38) below 7*5=35; right: 7*3=21, 21+5=26
    config = LinearizeConfig(k_values=(2,), n_direct_per_problem=1, n_search_per_problem=3, mask_wrong_steps=True)
    astro = build_traces([tree], config, "astro", seed=0, is_equivalent=string_equivalence)
    plain = build_traces([tree], replace(config, mask_wrong_steps=False), "astro", seed=0, is_equivalent=string_equivalence)
    assert [t.completion for t in astro] == [t.completion for t in plain]  # the same text, only the loss differs
    assert all(not t.masked_spans for t in plain) and all("masked_spans" not in t.to_dict() for t in plain)
    wrong_steps = {"7*5=35; left: 3 35", "35-3=32; left: 32", "35+3=38; left: 38"}
    searched = [t for t in astro if t.k]
    assert searched and all(not t.masked_spans for t in astro if not t.k)
    for t in searched:
        masked = [t.completion[a:b] for a, b in t.masked_spans]
        assert set(masked) <= wrong_steps and len(masked) >= 2
        rest = "".join(t.completion[b:a] for (_, b), (a, _) in zip([(0, 0), *t.masked_spans], [*t.masked_spans, (len(t.completion), 0)]))
        # what is trained: the comparisons, the reflections and jumps, the whole correct path, the box
        assert rest.count("so this is not it") == t.k and "7*3=21; left: 5 21" in rest and "21+5=26" in rest
        assert "\\boxed{(7*3)+5}" in rest and "But wait" in rest and not any(s in rest.replace('"7*5=35; left: 3 35"', "") for s in wrong_steps)
        assert Trace.from_dict(t.to_dict()) == t
    direct = build_traces([tree], config, "direct", seed=0, is_equivalent=string_equivalence)
    assert direct == build_traces([tree], replace(config, mask_wrong_steps=False), "direct", seed=0, is_equivalent=string_equivalence)


def test_mask_wrong_steps_keeps_the_shared_prefix_of_a_wrong_attempt_trained():
    tree = math_tree()  # the wrong attempt shares its first (long) step with the correct path
    config = LinearizeConfig(k_values=(1,), n_direct_per_problem=0, n_search_per_problem=1, mask_wrong_steps=True)
    (trace,) = build_traces([tree], config, "astro", seed=0)
    masked = [trace.completion[a:b] for a, b in trace.masked_spans]
    assert masked == ["Dividing both sides by 4 gives $x = 2$.", "So the answer is $2$. That gives 2."]
    assert trace.completion.startswith("We want to isolate")  # the shared step is not masked: it starts at 0
    assert trace.masked_spans[0][0] > 0


def test_masked_spans_must_lie_inside_the_completion_in_order():
    with pytest.raises(ValueError, match="masked_spans"):
        Trace(problem_id="p", arm="astro", prompt="P", completion="abc", masked_spans=((1, 9),))
    with pytest.raises(ValueError, match="masked_spans"):
        Trace(problem_id="p", arm="astro", prompt="P", completion="abcdef", masked_spans=((2, 4), (3, 5)))
    assert Trace(problem_id="p", arm="astro", prompt="P", completion="abcdef", masked_spans=((0, 2), (4, 6))).masked_spans == ((0, 2), (4, 6))
