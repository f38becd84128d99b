"""Self-evaluation filter: unanimous judge votes, configurable threshold, prompt template."""

from __future__ import annotations

import pytest

from agents.base import Completion
from search.curation import SelfEvalConfig, approval_rate, judge_prompt, parse_vote, self_evaluate
from search.linearize import LinearizeConfig, build_traces, string_equivalence
from search.tree import Node, SearchTree
from tests.search.make_golden import countdown_tree


def two_solution_tree() -> SearchTree:
    base = countdown_tree()
    extra = Node(id=9, parent_id=0, step="\\boxed{(3*7)+5}", depth=1, terminal=True, answer="(3*7)+5", correct=True)
    return SearchTree(problem=base.problem, prompt=base.prompt, nodes=base.nodes + (extra,))


class VotingJudge:
    """Votes from a script keyed by a marker in the solution: `votes[marker]` lists the replies."""

    name = "judge"

    def __init__(self, votes: dict[str, list[str]]):
        self.votes = votes
        self.calls: list[tuple[list[str], int]] = []

    def complete(self, prompts, n, sampling):
        self.calls.append((list(prompts), n))
        out = []
        for prompt in prompts:
            solution = prompt.split("Solution:\n", 1)[1].split("\n\nIs the reasoning", 1)[0]
            replies = self.votes["long" if "21+5=26" in solution else "short"]
            assert len(replies) == n
            out.append([Completion(text=r) for r in replies])
        return out


def test_unanimous_yes_is_kept_and_one_no_drops():
    tree = two_solution_tree()
    judge = VotingJudge({"long": [" Yes."] * 8, "short": ["yes"] * 7 + ["No, it guesses."]})
    good = self_evaluate([tree], judge)
    assert good == {tree.problem.id: frozenset({6})}
    assert len(judge.calls) == 1 and judge.calls[0][1] == 8 and len(judge.calls[0][0]) == 2
    assert approval_rate(good, [tree]) == 0.5
    # min_yes relaxes unanimity
    assert self_evaluate([tree], judge, SelfEvalConfig(min_yes=7))[tree.problem.id] == frozenset({6, 9})
    # unparseable votes count against
    judge = VotingJudge({"long": ["maybe"] + ["yes"] * 3, "short": ["yes"] * 4})
    assert self_evaluate([tree], judge, SelfEvalConfig(n_votes=4))[tree.problem.id] == frozenset({9})


def test_curation_feeds_linearize():
    tree = two_solution_tree()
    judge = VotingJudge({"long": ["no"] * 8, "short": ["yes"] * 8})
    good = self_evaluate([tree], judge)
    traces = build_traces([tree], LinearizeConfig(), "astro", is_equivalent=string_equivalence, good=good)
    assert traces and all(t.node_ids[-1] == 9 for t in traces)
    direct = build_traces([tree], LinearizeConfig(), "direct", is_equivalent=string_equivalence, good=good)
    assert len(direct) == len(traces) and all(t.node_ids == (9,) for t in direct)


def test_prompt_template_and_votes():
    tree = countdown_tree()
    template = SelfEvalConfig().template()
    assert "{problem}" in template and "{solution}" in template
    prompt = judge_prompt(tree, 6, template)
    assert "Numbers: 3 5 7" in prompt and "7*3=21; left: 5 21\n\n21+5=26; left: 26\n\n\\boxed{(7*3)+5}" in prompt
    assert "{" + "solution}" not in prompt
    assert [parse_vote(t) for t in ["Yes", " no.", "YES!", "", "Perhaps yes"]] == [True, False, True, None, None]
    with pytest.raises(ValueError, match="n_votes"):
        SelfEvalConfig(n_votes=0)
    with pytest.raises(ValueError, match="min_yes"):
        SelfEvalConfig(n_votes=8, min_yes=9)
