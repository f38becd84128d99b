"""`astro linearize`: search trees to ASTRO or Direct traces (TRL prompt-completion JSONL).

    astro linearize trees.jsonl --arm astro --out traces.jsonl --stats
    astro linearize trees.jsonl --arm direct --out direct.jsonl --tokenizer path/to/policy

Writes one `Trace` per line (prompt, completion, arm, problem_id, n_backtracks, n_restarts,
n_tokens, ...) and `<out>.config.json` with the settings that made it; `--stats` prints the
table of problems, trajectories, backtracks and restarts per source.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from astro_env.errors import MissingFileError
from astro_env.hub import check_model_source
from astro_env.jsonl import JsonlWriter, iter_jsonl, write_json
from search.linearize import LinearizeConfig, build_traces, format_stats, trace_stats
from search.tree import SearchTree


def _parser() -> argparse.ArgumentParser:
    d = LinearizeConfig()
    p = argparse.ArgumentParser(prog="astro linearize", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("trees", nargs="+", help="Tree JSONL file(s) written by `astro search`.")
    p.add_argument("--arm", choices=("astro", "direct"), default="astro", help="Which traces to make (default: astro).")
    p.add_argument("--out", default=None, help="Output traces JSONL (replaced if it exists).")
    p.add_argument("--stats", action="store_true", help="Print the statistics table (per source).")
    p.add_argument("--stats-json", default=None, help="Also write the statistics as JSON to this path.")
    p.add_argument("--seed", type=int, default=0, help="Sampling seed (default: 0).")
    p.add_argument("--k", type=int, nargs="+", default=list(d.k_values), help="Values of k for search solutions (default: 1 2 3).")
    p.add_argument("--n-search", type=int, default=d.n_search_per_problem, help="Search solutions per tree (default: 3).")
    p.add_argument("--n-direct", type=int, default=d.n_direct_per_problem, help="k=0 solutions per tree in the astro arm (default: 1).")
    p.add_argument("--wrong-choice", choices=("uniform", "q"), default=d.wrong_choice, help="How wrong terminals are drawn.")
    p.add_argument("--no-prefer-backtracks", action="store_true", help="Draw wrong terminals uniformly (paper), not those sharing the correct path first.")
    p.add_argument("--backtrack-point", choices=("lca", "root", "parent"), default=d.backtrack_point, help="Where a jump lands.")
    p.add_argument("--style", choices=("phrases", "markers", "off"), default=d.style, help="Phrase-bank style.")
    p.add_argument("--phrases", default=None, help="Phrase bank JSON (default: the bundled search/phrases.json).")
    p.add_argument("--high-q", type=float, default=d.high_q_threshold, help="Q threshold of the confirm phrase (default: 0.75).")
    p.add_argument("--no-confirm-intermediate", action="store_true", help="No confirm phrase after high-Q intermediate nodes.")
    p.add_argument("--no-confirm-final", action="store_true", help="No confirm phrase after the final node.")
    p.add_argument("--no-dedup", action="store_true", help="Keep sequences with a repeated node signature.")
    p.add_argument("--tokenizer", default=None, help="Tokenizer directory for n_tokens (default: characters).")
    p.add_argument("--judge-model", default=None, help="Self-evaluation judge model (enables curation).")
    p.add_argument("--judge-backend", default="transformers", help="PolicyConfig backend of the judge (default: transformers).")
    p.add_argument("--n-votes", type=int, default=8, help="Judge votes per correct solution (default: 8, unanimous).")
    p.add_argument("--min-yes", type=int, default=None, help="Approvals needed (default: all votes).")
    return p


def _load_trees(paths: list[str]) -> list[SearchTree]:
    trees = []
    for path in paths:
        if not Path(path).exists():
            raise MissingFileError(f"{path}: no such tree file (make one with `astro search`).")
        trees.extend(SearchTree.from_dict(rec) for rec in iter_jsonl(path))
    return trees


def _load_tokenizer(path: str | None) -> Any:
    if path is None:
        return None
    from transformers import AutoTokenizer

    check_model_source(path, "--tokenizer", markers=("tokenizer_config.json", "tokenizer.json", "config.json"))
    return AutoTokenizer.from_pretrained(path)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.out is None and not args.stats:
        print("astro linearize: give --out traces.jsonl and/or --stats.", file=sys.stderr)
        return 2
    try:
        config = LinearizeConfig(
            k_values=tuple(args.k),
            n_search_per_problem=args.n_search,
            n_direct_per_problem=args.n_direct,
            wrong_choice=args.wrong_choice,
            prefer_backtracks=not args.no_prefer_backtracks,
            backtrack_point=args.backtrack_point,
            style=args.style,
            phrases_path=args.phrases,
            high_q_threshold=args.high_q,
            confirm_intermediate=not args.no_confirm_intermediate,
            confirm_final=not args.no_confirm_final,
            dedup=not args.no_dedup,
        )
        config.phrase_bank()
        trees = _load_trees(args.trees)
    except (ValueError, FileNotFoundError) as exc:
        print(f"astro linearize: {exc}", file=sys.stderr)
        return 2
    good = None
    if args.judge_model:
        from agents import build_policy  # type: ignore[attr-defined]
        from agents.base import PolicyConfig
        from search.curation import SelfEvalConfig, self_evaluate

        judge = build_policy(PolicyConfig(backend=args.judge_backend, model=args.judge_model))
        good = self_evaluate(trees, judge, SelfEvalConfig(n_votes=args.n_votes, min_yes=args.min_yes, seed=args.seed))
    traces = build_traces(trees, config, args.arm, seed=args.seed, tokenizer=_load_tokenizer(args.tokenizer), good=good)
    if args.out:
        out = Path(args.out)
        if out.exists():
            out.unlink()
        with JsonlWriter(out) as writer:
            for trace in traces:
                writer.write(trace.to_dict())
        write_json(
            out.with_name(out.name + ".config.json"),
            {
                "trees": args.trees,
                "arm": args.arm,
                "seed": args.seed,
                "tokenizer": args.tokenizer,
                "judge_model": args.judge_model,
                "n_votes": args.n_votes if args.judge_model else None,
                "linearize": asdict(config),
            },
        )
        print(f"wrote {len(traces)} {args.arm} traces from {len(trees)} trees to {out}", file=sys.stderr)
    stats = trace_stats(traces)
    if args.stats:
        print(format_stats(stats))
    if args.stats_json:
        Path(args.stats_json).write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
