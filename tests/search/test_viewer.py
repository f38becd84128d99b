"""`astro tree show`: a self-contained HTML page drawing a tree."""

import json
import re
import xml.etree.ElementTree as ET

import pytest

from agents.scripted import ScriptedPolicy
from astro_env.jsonl import JsonlWriter
from astro_env.problem import Problem
from search.mcts import MCTSConfig, mcts_trees
from astro.commands.tree import main
from search.viewer import render_html

SCRIPT = {(): ["a <b> & c", "b"], ("a <b> & c",): ["\\boxed{5}"], ("b",): ["\\boxed{4}"]}


@pytest.fixture()
def trees():
    problems = [Problem(id=f"toy/{i}", problem="What is 2+2?", answer="4") for i in range(2)]
    return mcts_trees(problems, ScriptedPolicy(SCRIPT), MCTSConfig(n_iterations=5, n_children=2, n_rollouts=2, unvisited_value="zero"))


def test_page_draws_every_node_with_verdict_colours(trees):
    tree = trees[0]
    page = render_html(tree)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert len(re.findall(r'<g class="node[^"]*" id="node-\d+">', page)) == len(tree)
    assert page.count("<line ") == len(tree) - 1
    assert len(re.findall(r'class="node correct"', page)) == len(tree.correct_terminals()) >= 1
    assert len(re.findall(r'class="node wrong"', page)) == len(tree.wrong_terminals()) >= 1
    for node in tree.nodes:
        assert f"N={node.visits}  Q={node.value:.3f}" in page  # hover text
    assert "a &lt;b&gt; &amp; c" in page and "a <b> & c" not in page  # step text escaped
    assert page.count("<details>") == len(tree.terminals())  # one unfoldable solution per terminal
    svg = ET.fromstring(re.search(r"<svg.*</svg>", page, re.S).group(0))  # well-formed SVG
    assert len(svg) == 2 * len(tree) - 1  # one line per edge, one group per node


def test_cli_writes_the_chosen_tree(tmp_path, trees, capsys):
    path = tmp_path / "trees.jsonl"
    with JsonlWriter(path) as writer:
        for tree in trees:
            writer.write(tree.to_dict())
    out = tmp_path / "tree.html"
    assert main(["show", str(path), "--index", "1", "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["problem_id"] == "toy/1"
    assert "toy/1" in out.read_text()
    assert main(["show", str(path), "--id", "toy/0", "--out", str(out)]) == 0
    assert "toy/0" in out.read_text()
    from astro_env.errors import UserError

    with pytest.raises(UserError, match="holds 2 trees"):  # `astro tree` prints it as one line, exit code 2
        main(["show", str(path), "--index", "5", "--out", str(out)])
