"""The run report of `astro run`: the control table, trace statistics, plots, tree pages."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

from astro.run import ARMS, RunConfig
from astro_env.jsonl import write_json

MODEL_LABELS = {
    "base": "Base",
    "direct-sft": "Direct-SFT",
    "astro-sft": "ASTRO-SFT",
    "direct-rl": "Direct-RL",
    "astro-rl": "ASTRO-RL",
}
BENCH = "countdown_test"


def load_eval_reports(config: RunConfig, run_dir: Path) -> dict[str, list]:
    """{label: [EvalReport per seed]} for every evaluated model, in report order."""
    from benchmarks.evaluate import EvalReport

    out: dict[str, list] = {}
    for name in config.models:
        reports = []
        for seed in config.seeds:
            summary = run_dir / f"seed{seed}" / f"eval-{name}" / "summary.json"
            if summary.exists():
                reports.append(EvalReport.from_dict(json.loads(summary.read_text())))
        if reports:
            out[MODEL_LABELS[name]] = reports
    return out


def correlation_points(reports: Mapping[str, list]) -> tuple[list[tuple[str, float, float]], list[tuple[str, float, float]]]:
    """(label, backtracks, pass@1) and (label, tokens, pass@1) points, one per model and seed."""
    backtracks, tokens = [], []
    for label, per_seed in reports.items():
        for seed_idx, report in enumerate(per_seed):
            result = report.benches.get(BENCH)
            if result is None:
                continue
            name = label if len(per_seed) == 1 else f"{label}/{seed_idx}"
            if result.mean_backtracks is not None:
                backtracks.append((name, float(result.mean_backtracks), float(result.pass_at_1)))
            tokens.append((name, float(result.mean_tokens), float(result.pass_at_1)))
    return backtracks, tokens


def _stats_table(stats: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown table in the paper's shape: a row per arm (its total over sources)."""
    header = "| arm | problems | trajectories | backtracks | restarts | backtracks/traj | restarts/traj | tokens/traj |"
    lines = [header, "|---" * 8 + "|"]
    for arm, arm_stats in stats.items():
        r = arm_stats["total"]
        lines.append(
            f"| {arm} | {r['n_problems']} | {r['n_traces']} | {r['n_backtracks']} | {r['n_restarts']} | "
            f"{r['mean_backtracks']:.2f} | {r['mean_restarts']:.2f} | {r['mean_tokens']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _fmt_r(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def write_run_report(config: RunConfig, run_dir: Path, timings: Mapping[str, float]) -> str:
    """Write run_dir/report.md, report.json and plots/; returns the Markdown."""
    from benchmarks.metrics import pearson
    from benchmarks.plots import plot_backtracks_vs_accuracy, plot_grpo_curves
    from benchmarks.report import comparison_json, comparison_table

    reports = load_eval_reports(config, run_dir)
    plots_dir = run_dir / "plots"
    plots: dict[str, str] = {}
    seed0 = config.seeds[0]
    curves = {arm: run_dir / f"seed{seed0}" / f"rl-{arm}" / "metrics.jsonl" for arm in ARMS}
    if any(p.exists() for p in curves.values()):
        plots["grpo_curves"] = str(plot_grpo_curves({a: p for a, p in curves.items() if p.exists()}, plots_dir / "grpo_curves.png").relative_to(run_dir))
    bt_points, tok_points = correlation_points(reports)
    if bt_points:
        plots["backtracks_vs_accuracy"] = str(plot_backtracks_vs_accuracy(bt_points, plots_dir / "backtracks_vs_accuracy.png").relative_to(run_dir))
    r_backtracks = pearson([p[1] for p in bt_points], [p[2] for p in bt_points]) if len(bt_points) >= 2 else float("nan")
    r_tokens = pearson([p[1] for p in tok_points], [p[2] for p in tok_points]) if len(tok_points) >= 2 else float("nan")

    stats_path = run_dir / "traces" / "stats.json"
    trace_stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    filters = {}
    for seed in config.seeds:
        for arm in ARMS:
            summary = run_dir / f"seed{seed}" / f"rl-{arm}" / "filter.json"
            if summary.exists():
                full = json.loads(summary.read_text())
                filters[f"seed{seed}/{arm}"] = {k: v for k, v in full.items() if not isinstance(v, (list, dict))}
    pages = sorted(str(p.relative_to(run_dir)) for p in (run_dir / "trees").glob("*.html"))

    table = comparison_table(reports) if reports else "(no evaluations found)\n"
    lines = [
        f"# ASTRO vs Direct: run report (preset `{config.preset}`)",
        "",
        f"Held-out Countdown problems: {config.n_test} ({config.n_numbers} numbers), seeds {list(config.seeds)}, "
        f"{config.eval_samples} samples per problem at temperature {config.temperature}, top-p {config.top_p}, "
        f"at most {config.max_new_tokens} new tokens. Search: {config.search_agent} with the "
        f"{'base model' if config.search_policy == 'base' else 'symbolic Countdown proposer'} "
        f"({config.n_iterations} iterations, k={config.n_children}, M={config.n_rollouts}, depth <= {config.max_depth}).",
        "",
        "## Control table (pass@1 on the held-out split)",
        "",
        table,
        f"Pearson r across models and seeds: backtracks vs pass@1 = {_fmt_r(r_backtracks)}, "
        f"tokens vs pass@1 = {_fmt_r(r_tokens)} ({len(tok_points)} points).",
        "",
        "## Trace statistics",
        "",
        _stats_table(trace_stats) if trace_stats else "(no traces)\n",
    ]
    if filters:
        lines += ["## GRPO difficulty filter", ""]
        lines += [f"- {key}: {json.dumps(value)}" for key, value in filters.items()]
        lines.append("")
    if plots:
        lines += ["## Plots", ""] + [f"![{name}]({path})" for name, path in plots.items()] + [""]
    if pages:
        lines += ["## Trees", ""] + [f"- [{p}]({p})" for p in pages] + [""]
    lines += ["## Stage times (s)", ""] + [f"- {name}: {sec:.1f}" for name, sec in timings.items()] + [""]
    markdown = "\n".join(lines)
    (run_dir / "report.md").write_text(markdown, encoding="utf-8")
    write_json(
        run_dir / "report.json",
        {
            "config": asdict(config),
            "comparison": comparison_json(reports) if reports else {},
            "pearson": {
                "backtracks_vs_pass@1": None if math.isnan(r_backtracks) else r_backtracks,
                "tokens_vs_pass@1": None if math.isnan(r_tokens) else r_tokens,
            },
            "trace_stats": trace_stats,
            "grpo_filter": filters,
            "plots": plots,
            "timings_s": dict(timings),
        },
    )
    return markdown
