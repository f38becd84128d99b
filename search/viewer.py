"""`astro tree show trees.jsonl --index N --out tree.html`: draw one search tree as a self-contained page.

The page is one HTML file with inline SVG and CSS (no scripts, no external files): nodes are
laid out top-down by depth, leaves left to right in creation order; correct terminals are
green, wrong terminals red, intermediate nodes blue with a shade given by Q; a node's area
grows with its visits and an edge's width with the child's visits. Hovering a node shows its
step text, N, Q, prior and verdict; clicking it opens the same text in a panel (a link to
`#step-N`, shown by CSS `:target`, so the page still needs no script); the label under it shows
N and Q. Below the drawing, every terminal's full solution text (correct ones first) unfolds on click.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from search.tree import Node, SearchTree, read_trees

X_GAP = 34
Y_GAP = 90
MARGIN = 40


def layout(tree: SearchTree) -> dict[int, tuple[float, float]]:
    """(x, y) of every node: leaves spaced `X_GAP` apart in depth-first order, parents centred."""
    positions: dict[int, tuple[float, float]] = {}
    next_x = [0.0]

    def place(node_id: int) -> float:
        kids = tree.children(node_id)
        if kids:
            xs = [place(k.id) for k in kids]
            x = (xs[0] + xs[-1]) / 2
        else:
            x = next_x[0]
            next_x[0] += X_GAP
        positions[node_id] = (x, tree.nodes[node_id].depth * Y_GAP)
        return x

    place(0)  # recursion depth = tree depth (<= max_depth, 50 by default)
    return {k: (x + MARGIN, y + MARGIN) for k, (x, y) in positions.items()}


def node_colour(node: Node) -> str:
    """Fill colour: green correct terminal, red wrong terminal, grey root, blue shaded by Q otherwise."""
    if node.terminal:
        return "#2e9d44" if node.correct else "#d64545"
    if node.parent_id is None:
        return "#666666"
    q = min(max(node.value, 0.0), 1.0)
    light = 85 - int(45 * q)
    return f"hsl(212, 70%, {light}%)"


def node_radius(node: Node, max_visits: int) -> float:
    """Radius in pixels: 5 for an unvisited node up to 14 for the most visited one."""
    if max_visits <= 0:
        return 7.0
    return 5.0 + 9.0 * math.sqrt(node.visits / max_visits)


def node_tooltip(node: Node) -> str:
    """Hover text of a node: its step and numbers."""
    head = f"node {node.id} (depth {node.depth})  N={node.visits}  Q={node.value:.3f}  prior={node.prior:.3f}"
    if node.terminal:
        verdict = "correct" if node.correct else "wrong"
        head += f"\n{verdict} terminal, answer: {node.answer}"
    return head + "\n\n" + (node.step if node.step else "(root)")


def render_html(tree: SearchTree, title: str | None = None) -> str:
    """The whole self-contained page for `tree` (HTML with inline SVG and CSS)."""
    pos = layout(tree)
    max_visits = max((n.visits for n in tree.nodes[1:]), default=0)
    width = max(x for x, _ in pos.values()) + MARGIN + 60
    height = max(y for _, y in pos.values()) + MARGIN + 40
    edges, circles, panels = [], [], []
    for node in tree.nodes[1:]:
        (x1, y1), (x2, y2) = pos[node.parent_id], pos[node.id]  # type: ignore[index]
        w = 1.0 + 5.0 * (node.visits / max_visits if max_visits else 0.0)
        edges.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke-width="{w:.2f}" class="edge"/>')
    for node in tree.nodes:
        x, y = pos[node.id]
        r = node_radius(node, max_visits)
        cls = "node correct" if node.terminal and node.correct else "node wrong" if node.terminal else "node"
        text = html.escape(node_tooltip(node))
        circles.append(
            f'<a href="#step-{node.id}"><g class="{cls}" id="node-{node.id}"><title>{text}</title>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{node_colour(node)}"/>'
            f'<text x="{x:.1f}" y="{y + r + 12:.1f}">{node.visits}|{node.value:.2f}</text></g></a>'
        )
        panels.append(f'<div class="step" id="step-{node.id}"><a class="close" href="#">close</a><pre>{text}</pre></div>')
    n_correct, n_wrong = len(tree.correct_terminals()), len(tree.wrong_terminals())
    terminals = sorted(tree.terminals(), key=lambda n: (not n.correct, -n.visits, n.id))
    paths = []
    for node in terminals:
        verdict = "correct" if node.correct else "wrong"
        text = html.escape(tree.delimiter.join(tree.steps(node.id)))
        paths.append(
            f'<details><summary><a href="#node-{node.id}">node {node.id}</a> <b class="{verdict}">{verdict}</b> '
            f"answer {html.escape(str(node.answer))}, N={node.visits}, Q={node.value:.2f}, depth {node.depth}</summary><pre>{text}</pre></details>"
        )
    stats = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in tree.stats.items())
    title = title or f"{tree.agent} tree for {tree.problem.id}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.2em; color: #222; }}
pre {{ background: #f5f5f5; padding: .6em; white-space: pre-wrap; max-width: 70em; }}
.legend span {{ display: inline-block; margin-right: 1.2em; }}
.dot {{ display: inline-block; width: .8em; height: .8em; border-radius: 50%; vertical-align: middle; margin-right: .3em; }}
.scroll {{ overflow: auto; border: 1px solid #ddd; }}
.edge {{ stroke: #9aa5b1; }}
.node circle {{ stroke: #333; stroke-width: .8; }}
.node:hover circle {{ stroke: #000; stroke-width: 3; }}
.node text {{ font-size: 9px; text-anchor: middle; fill: #555; }}
b.correct {{ color: #2e9d44; }} b.wrong {{ color: #d64545; }}
summary {{ cursor: pointer; margin: .2em 0; }}
.step {{ display: none; position: fixed; right: 1em; bottom: 1em; max-width: 40em; max-height: 45vh; overflow: auto;
         background: #fff; border: 1px solid #888; box-shadow: 0 2px 8px rgba(0,0,0,.25); padding: .4em .8em; }}
.step:target {{ display: block; }}
.step .close {{ float: right; }}
</style></head><body>
<h2>{html.escape(title)}</h2>
<p><b>Gold answer:</b> {html.escape(tree.problem.answer)} &nbsp; <b>Nodes:</b> {len(tree)} &nbsp;
<b>Correct terminals:</b> {n_correct} &nbsp; <b>Wrong terminals:</b> {n_wrong} &nbsp; <b>Seed:</b> {tree.seed}</p>
<pre>{html.escape(tree.prompt)}</pre>
<p class="legend"><span><i class="dot" style="background:#2e9d44"></i>correct terminal</span>
<span><i class="dot" style="background:#d64545"></i>wrong terminal</span>
<span><i class="dot" style="background:hsl(212,70%,40%)"></i>step, high Q</span>
<span><i class="dot" style="background:hsl(212,70%,85%)"></i>step, low Q</span>
<span>size / edge width: visits N; label: N|Q; hover or click a node for its step text</span></p>
<p><small>{html.escape(stats)}</small></p>
<div class="scroll"><svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">
{chr(10).join(edges)}
{chr(10).join(circles)}
</svg></div>
<div class="steps">
{chr(10).join(panels)}
</div>
<h3>Terminal paths ({len(terminals)})</h3>
{chr(10).join(paths)}
</body></html>
"""


def load_tree(path: str | Path, index: int) -> SearchTree:
    """Tree number `index` (0-based; negative counts from the end) of a trees JSONL file, read strictly
    (`search.tree.read_trees`: a file that is not a tree file raises `UserError` naming it)."""
    trees = read_trees(path, allow_empty=True)
    if not trees:
        raise ValueError(f"{path}: no trees.")
    if not -len(trees) <= index < len(trees):
        raise ValueError(f"--index {index}: {path} holds {len(trees)} trees (use 0..{len(trees) - 1}).")
    return trees[index]
