"""`astro tree show trees.jsonl --index N --out tree.html`: draw one search tree as a self-contained page."""

from __future__ import annotations

import json
from pathlib import Path

from astro.args import OneLineParser
from search.tree import read_trees
from search.viewer import load_tree, render_html


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="astro tree", description="Inspect search trees.")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="write a self-contained HTML drawing of one tree")
    show.add_argument("trees", help="trees JSONL file")
    show.add_argument("--index", type=int, default=0, help="which tree (0-based line number; -1 = last)")
    show.add_argument("--id", help="pick the tree of this problem id instead of --index")
    show.add_argument("--out", default="tree.html", help="output HTML file")
    args = parser.parse_args(argv)
    if args.id is not None:
        matches = [t for t in read_trees(args.trees, allow_empty=True) if t.problem.id == args.id]
        if not matches:
            parser.error(f"no tree for problem id {args.id!r} in {args.trees}")
        tree = matches[0]
    else:
        try:
            tree = load_tree(args.trees, args.index)
        except ValueError as exc:
            parser.error(str(exc))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(tree), encoding="utf-8")
    print(json.dumps({"out": str(out), "problem_id": tree.problem.id, "n_nodes": len(tree)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
