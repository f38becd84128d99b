"""`astro compare`: one model of two run folders, paired over the same evaluation problems (an ablation's row).

    astro compare runs/default runs/abl-token                      # every model both runs evaluated
    astro compare runs/default runs/abl-token --models astro-rl --set test

For each model (`base`, `direct-sft`, `astro-sft`, `direct-rl`, `astro-rl`) of each seed both
runs evaluated, on each evaluation set: pass@1, tokens and backtracks per completion in each
run, and the difference A - B with its 95 % paired bootstrap interval over the problems both
runs share (2,000 resamples; evaluation variation only: an ablation that changed training is
one draw of it). Prints a Markdown table; `--json` prints the rows as JSON lines instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from astro_env.errors import OneLineParser, UserError

__all__ = ["compare_runs", "main"]

MODELS = ("base", "direct-sft", "astro-sft", "direct-rl", "astro-rl")


def _summary(run: Path, seed: int, model: str) -> dict[str, Any] | None:
    path = run / f"seed{seed}" / f"eval-{model}" / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def _seeds(run: Path) -> list[int]:
    return sorted(int(p.name[4:]) for p in run.glob("seed*") if p.is_dir() and p.name[4:].isdigit())


def compare_runs(a: Path, b: Path, models: Sequence[str] = MODELS, sets: Sequence[str] = (), seed: int = 0) -> list[dict[str, Any]]:
    """One row per (seed, model, set) that both run folders evaluated (see the module docstring)."""
    import numpy as np

    from astro.report import eval_records
    from benchmarks import metrics
    from benchmarks.replicate import problem_rates
    from benchmarks.records import mean_jumps

    for run in (a, b):
        if not (run / "run_config.json").is_file():
            raise UserError(f"{run}: not a run folder (no run_config.json); give two `astro run --out` folders.")
    rows = []
    for s in sorted(set(_seeds(a)) & set(_seeds(b))):
        for model in models:
            sa, sb = _summary(a, s, model), _summary(b, s, model)
            if sa is None or sb is None:
                continue
            for bench in sorted(set(sa["benches"]) & set(sb["benches"])):
                if sets and bench not in sets:
                    continue
                ba, bb = sa["benches"][bench], sb["benches"][bench]
                n = min(ba["n_samples"], bb["n_samples"])
                ra = problem_rates(eval_records(a, s, model, bench, n))
                rb = problem_rates(eval_records(b, s, model, bench, n))
                ids = sorted(set(ra) & set(rb))
                if not ids:
                    continue
                iv = metrics.paired_bootstrap_interval([[ra[i] for i in ids]], [[rb[i] for i in ids]], np.random.default_rng(seed), 2000)
                rows.append({"seed": s, "model": model, "set": bench, "n_problems": len(ids), "n_samples": n,
                             "pass@1_a": float(np.mean([ra[i] for i in ids])), "pass@1_b": float(np.mean([rb[i] for i in ids])),
                             "tokens_a": ba.get("mean_tokens"), "tokens_b": bb.get("mean_tokens"),
                             "backtracks_a": mean_jumps(ba.get("mean_backtracks"), ba.get("mean_restarts")),
                             "backtracks_b": mean_jumps(bb.get("mean_backtracks"), bb.get("mean_restarts")),
                             "diff": iv.mean, "low": iv.low, "high": iv.high})
    return rows


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}" if pct else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="astro compare", description=__doc__.split("\n")[0])
    parser.add_argument("a", help="run folder A (the reference, e.g. runs/default)")
    parser.add_argument("b", help="run folder B (the ablation)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="models to compare (default: all)")
    parser.add_argument("--set", dest="sets", nargs="+", default=[], help="evaluation sets (default: every set both evaluated)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    args = parser.parse_args(list(argv) if argv is not None else None)
    rows = compare_runs(Path(args.a), Path(args.b), args.models, args.sets, args.seed)
    if not rows:
        raise UserError(f"{args.a} and {args.b} share no evaluated model, seed and set to compare.")
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"A = {args.a}, B = {args.b}; pass@1 in %, difference A - B with its 95 % paired bootstrap interval over problems\n")
    print("| seed | model | set | pass@1 A | pass@1 B | A - B | 95 % interval | tokens A / B | backtracks A / B |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['model']} | {r['set']} | {_fmt(r['pass@1_a'], True)} | {_fmt(r['pass@1_b'], True)} | "
              f"{100 * r['diff']:+.1f} | [{100 * r['low']:+.1f}, {100 * r['high']:+.1f}] | "
              f"{_fmt(r['tokens_a'])} / {_fmt(r['tokens_b'])} | {_fmt(r['backtracks_a'])} / {_fmt(r['backtracks_b'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
