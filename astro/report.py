"""The run report of `astro run`: what was run, the control table per evaluation set, compute-matched
retry baselines, paired differences across seeds, training dynamics across GRPO checkpoints, trace
statistics, plots, tree pages."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from astro.config import ARMS, MODEL_LABELS, RunConfig, changed_fields, to_json
from astro_env.jsonl import read_jsonl, write_json
from benchmarks.metrics import pearson
from benchmarks.records import EvalRecord, EvalReport
from benchmarks.replicate import PairedDifference, paired_difference, problem_rates
from benchmarks.retry import compute_matched

RETRY_SOURCES = ("direct-sft", "direct-rl")
"""Models whose evaluation completions make the compute-matched retry baselines (Direct answers once)."""
PAIRS = (("astro-rl", "direct-rl"), ("astro-rl", "astro-sft"))
"""(minuend, subtrahend) of the paired differences across seeds."""


def load_eval_reports(config: RunConfig, run_dir: Path) -> dict[str, list[EvalReport]]:
    """{label: [EvalReport per seed]} for every evaluated model, in report order."""
    out: dict[str, list[EvalReport]] = {}
    for name in config.models:
        reports = []
        for seed in config.seeds:
            summary = run_dir / f"seed{seed}" / f"eval-{name}" / "summary.json"
            if summary.exists():
                reports.append(EvalReport.from_dict(json.loads(summary.read_text())))
        if reports:
            out[MODEL_LABELS[name]] = reports
    return out


def correlation_points(reports: Mapping[str, list], bench: str) -> tuple[list[tuple[str, float, float]], list[tuple[str, float, float]]]:
    """(label, backtracks, pass@1) and (label, tokens, pass@1) points on `bench`, one per model and seed."""
    backtracks, tokens = [], []
    for label, per_seed in reports.items():
        for seed_idx, report in enumerate(per_seed):
            result = report.benches.get(bench)
            if result is None:
                continue
            name = label if len(per_seed) == 1 else f"{label}/{seed_idx}"
            if result.mean_jumps is not None:
                backtracks.append((name, float(result.mean_jumps), float(result.pass_at_1)))
            tokens.append((name, float(result.mean_tokens), float(result.pass_at_1)))
    return backtracks, tokens


def reports_by_seed(config: RunConfig, run_dir: Path) -> dict[str, dict[int, EvalReport]]:
    """{model name: {seed: EvalReport}} for every evaluated model and seed whose summary exists."""
    out: dict[str, dict[int, EvalReport]] = {}
    for name in config.models:
        for seed in config.seeds:
            summary = run_dir / f"seed{seed}" / f"eval-{name}" / "summary.json"
            if summary.exists():
                out.setdefault(name, {})[seed] = EvalReport.from_dict(json.loads(summary.read_text()))
    return out


def eval_records(run_dir: Path, seed: int, name: str, bench: str, n_samples: int) -> list[list[EvalRecord]]:
    """One model's evaluation records on one set and seed, grouped per problem (samples 0..n_samples-1 in
    order; problems in file order); [] when the completions file is absent."""
    path = run_dir / f"seed{seed}" / f"eval-{name}" / bench / "completions.jsonl"
    grouped: dict[str, list[EvalRecord]] = {}
    for row in read_jsonl(path):
        record = EvalRecord.from_dict(row)
        if record.bench == bench and record.sample_idx < n_samples:
            grouped.setdefault(record.problem_id, []).append(record)
    return [sorted(rs, key=lambda r: r.sample_idx) for rs in grouped.values()]


def load_records(config: RunConfig, run_dir: Path, by_seed: Mapping[str, Mapping[int, EvalReport]]
                 ) -> dict[str, dict[int, dict[str, list[list[EvalRecord]]]]]:
    """{bench: {seed: {model name: per-problem records}}} for every report in `by_seed`."""
    out: dict[str, dict[int, dict[str, list[list[EvalRecord]]]]] = {}
    for bench in config.benches:
        for name, per_seed in by_seed.items():
            for seed, report in per_seed.items():
                result = report.benches.get(bench)
                if result is None:
                    continue
                records = eval_records(run_dir, seed, name, bench, result.n_samples)
                if records:
                    out.setdefault(bench, {}).setdefault(seed, {})[name] = records
    return out


def compute_matched_section(records: Mapping[str, Mapping[int, Mapping[str, list[list[EvalRecord]]]]]) -> dict[str, Any]:
    """{bench: `benchmarks.retry.compute_matched` over the seeds} with the `RETRY_SOURCES` as sources."""
    return {bench: compute_matched([per_seed[s] for s in sorted(per_seed)], RETRY_SOURCES) for bench, per_seed in records.items()}


def paired_section(by_seed: Mapping[str, Mapping[int, EvalReport]],
                   records: Mapping[str, Mapping[int, Mapping[str, list[list[EvalRecord]]]]],
                   benches: tuple[str, ...], seed: int = 0) -> list[PairedDifference]:
    """A `benchmarks.replicate.PairedDifference` per pair in `PAIRS` and set (those both models were evaluated on).

    The bootstrap over problems draws from `numpy.random.default_rng(seed)` (2,000 resamples).
    """
    out = []
    for bench in benches:
        pass1 = {name: {s: r.benches[bench].pass_at_1 for s, r in per_seed.items() if bench in r.benches}
                 for name, per_seed in by_seed.items()}
        rates: dict[str, dict[int, dict[str, float]]] = {}
        for s, models in records.get(bench, {}).items():
            for name, per_problem in models.items():
                rates.setdefault(name, {})[s] = problem_rates(per_problem)
        for minuend, subtrahend in PAIRS:
            diff = paired_difference(minuend, subtrahend, bench, pass1, rates, np.random.default_rng(seed))
            if diff is not None:
                out.append(diff)
    return out


def checkpoint_reports(config: RunConfig, run_dir: Path) -> dict[str, list[tuple[int, EvalReport]]]:
    """{arm: [(GRPO step, EvalReport)]} for the checkpoints `config` evaluates with --eval-every (first seed), in
    step order; step 0 is the SFT model GRPO starts from (its evaluation), when there are checkpoints.

    Only evaluations finished with the key `config` gives them now are read: a folder left by another GRPO run
    (another learning rate, another --eval-every) is not this run's dynamics."""
    from astro.plan import checkpoint_eval_stage, checkpoint_steps
    from astro.stages import StageRunner

    seed = config.seeds[0]
    run_dir = Path(run_dir)
    runner = StageRunner(run_dir)
    out: dict[str, list[tuple[int, EvalReport]]] = {}
    for arm in ARMS:
        points = []
        for step in checkpoint_steps(config):
            stage = checkpoint_eval_stage(config, run_dir, seed, arm, step)
            summary = run_dir / stage.name / "summary.json"
            if summary.exists() and runner.is_done(stage.name, stage.key(run_dir)):
                points.append((step, EvalReport.from_dict(json.loads(summary.read_text()))))
        start = run_dir / f"seed{seed}" / f"eval-{arm}-sft" / "summary.json"
        if points and start.exists() and all(step != 0 for step, _ in points):
            points.append((0, EvalReport.from_dict(json.loads(start.read_text()))))
        if points:
            out[arm] = sorted(points, key=lambda point: point[0])
    return out


def checkpoint_dynamics(points: list[tuple[int, EvalReport]], benches: tuple[str, ...]) -> dict[str, Any]:
    """Per set: steps, pass@1, mean tokens and backtracks across checkpoints, and Pearson r of backtracks and of
    tokens against pass@1 (None below 2 checkpoints, with a constant series, or without backtrack counts)."""
    per_bench = {}
    for bench in benches:
        series = [(step, r.benches[bench]) for step, r in sorted(points, key=lambda p: p[0]) if bench in r.benches]
        if not series:
            continue
        acc = [b.pass_at_1 for _, b in series]
        tok = [b.mean_tokens for _, b in series]
        bts = [b.mean_jumps for _, b in series]
        per_bench[bench] = {
            "steps": [s for s, _ in series],
            "pass@1": acc,
            "mean_tokens": tok,
            "mean_backtracks": bts,
            "r_backtracks": _finite(pearson(bts, acc)) if len(series) >= 2 and None not in bts else None,
            "r_tokens": _finite(pearson(tok, acc)) if len(series) >= 2 else None,
        }
    return per_bench


def dynamics(config: RunConfig, run_dir: Path) -> dict[str, Any]:
    """Per arm: reward and completion length over GRPO steps, and backtracks/tokens vs pass@1 across
    checkpoints with Pearson r, per evaluation set (the paper's training-dynamics evidence)."""
    seed = config.seeds[0]
    out: dict[str, Any] = {"curves": {}, "checkpoints": {}}
    for arm in ARMS:
        rows = read_jsonl(run_dir / f"seed{seed}" / f"rl-{arm}" / "metrics.jsonl")
        out["curves"][arm] = [
            {"step": r.get("step"), "reward_mean": r.get("reward_mean"), "completion_len": r.get("completion_len")}
            for r in rows if "step" in r
        ]
    for arm, points in checkpoint_reports(config, run_dir).items():
        out["checkpoints"][arm] = checkpoint_dynamics(points, config.benches)
    return out


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


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


def _fmt_r(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def what_was_run(config: RunConfig, run_dir: Path) -> list[str]:
    """The report's first lines: task, problems (with hashes), benchmarks, model, engines, search agent
    with its own settings, and every flag that differs from the preset."""
    resolved = to_json(config)
    summary_path = run_dir / "problems" / "summary.json"
    problems = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    from astro_env.loaders import file_sha256

    train = run_dir / "problems" / "train.jsonl"
    train_hash = file_sha256(train)[:16] if train.exists() else "?"
    evals = ", ".join(
        f"`{label}` ({n} problems, sha256 {file_sha256(run_dir / 'problems' / 'eval' / f'{label}.jsonl')[:16]})"
        for label, n in problems.get("eval", {}).items()
    )
    from astro.plan import proposer_policy

    proposer, is_base = proposer_policy(config, run_dir)
    search_policy = "the policy itself" if is_base else f"`{proposer.backend}`" + (f" (teacher `{proposer.model}`)" if proposer.model else "")
    lines = []
    if config.plumbing_check:
        lines += [
            "> **Plumbing check: these numbers mean nothing.** The trees come from a teacher that knows the reference",
            "> solutions and the models are tiny; this preset only shows that every stage runs on real problem text.",
            "",
        ]
    lines += [
        f"# ASTRO vs Direct: run report (preset `{config.preset}`)",
        "",
        f"- task: `{config.task.name}`; training problems: {problems.get('n_train', '?')} from "
        f"`{config.task.train_problems or 'the task generator'}` (sha256 {train_hash}), none of them in an evaluation set "
        f"({problems.get('n_removed_overlap_or_duplicate', 0)} overlapping or duplicate problems removed)"
        + (f"; GRPO on its own {problems.get('n_rl', '?')} problems, none of them a training or evaluation problem "
           f"(sha256 {file_sha256(run_dir / 'problems' / 'rl.jsonl')[:16]})" if (run_dir / "problems" / "rl.jsonl").exists() else "; GRPO on the training problems"),
        f"- evaluation: {evals or '(none)'}; {config.eval.samples} samples per problem at temperature "
        f"{config.eval.temperature}, top-p {config.eval.top_p}, at most {config.eval.max_tokens} new tokens; seeds {list(config.seeds)}",
        f"- model: `{config.policy.model or 'embedded (pre-trained here)'}`; generation backend `{config.policy.backend}`; "
        f"GRPO engine `{config.grpo.engine}`",
        f"- search: `{config.search.agent}` proposing with {search_policy}; its settings: "
        f"`{json.dumps(resolved['search']['agent_config'], sort_keys=True)}`",
        f"- flags that differ from the preset: `{json.dumps(changed_fields(config), default=str)}`",
        "",
    ]
    return lines


def write_run_report(config: RunConfig, run_dir: Path, timings: Mapping[str, float]) -> str:
    """Write run_dir/report.md, report.json and plots/; returns the Markdown."""
    from benchmarks.plots import plot_backtracks_vs_accuracy, plot_grpo_curves, plot_pass_vs_tokens
    from benchmarks.report import baseline_label, comparison_json, comparison_table, matched_table, paired_table

    reports = load_eval_reports(config, run_dir)
    by_seed = reports_by_seed(config, run_dir)
    records = load_records(config, run_dir, by_seed)
    matched = compute_matched_section(records)
    paired = paired_section(by_seed, records, config.benches)
    plots_dir = run_dir / "plots"
    plots: dict[str, str] = {}
    seed0 = config.seeds[0]
    curves = {arm: run_dir / f"seed{seed0}" / f"rl-{arm}" / "metrics.jsonl" for arm in ARMS}
    if any(p.exists() for p in curves.values()):
        plots["grpo_curves"] = str(plot_grpo_curves({a: p for a, p in curves.items() if p.exists()}, plots_dir / "grpo_curves.png").relative_to(run_dir))
    correlations: dict[str, dict[str, float | None]] = {}
    for bench in config.benches:
        bt_points, tok_points = correlation_points(reports, bench)
        if bt_points and bench == config.benches[0]:
            plots["backtracks_vs_accuracy"] = str(plot_backtracks_vs_accuracy(bt_points, plots_dir / "backtracks_vs_accuracy.png").relative_to(run_dir))
        correlations[bench] = {
            "backtracks_vs_pass@1": _finite(pearson([p[1] for p in bt_points], [p[2] for p in bt_points])) if len(bt_points) >= 2 else None,
            "tokens_vs_pass@1": _finite(pearson([p[1] for p in tok_points], [p[2] for p in tok_points])) if len(tok_points) >= 2 else None,
            "n_points": len(tok_points),
        }
    if config.benches and config.benches[0] in matched:
        m = matched[config.benches[0]]
        points = [(MODEL_LABELS.get(name, name), v["mean_tokens"], v["pass@1"]) for name, v in m["models"].items()]
        curves = {baseline_label(b["source"], b["stop"], MODEL_LABELS): [(c["mean_tokens"], c["pass@1"]) for c in b["curve"]]
                  for b in m["baselines"].values()}
        dashed = [baseline_label(b["source"], b["stop"], MODEL_LABELS) for b in m["baselines"].values() if b["stop"] == "verifier"]
        plots["pass_vs_tokens"] = str(plot_pass_vs_tokens(
            points, curves, plots_dir / "pass_vs_tokens.png", title=f"pass@1 against tokens per problem ({config.benches[0]})",
            dashed=dashed).relative_to(run_dir))
    dyn = dynamics(config, run_dir)
    ckpt_points = [(f"{arm}@{step}", r) for arm, pts in checkpoint_reports(config, run_dir).items() for step, r in pts]
    if ckpt_points:
        first = config.benches[0]
        bt = [(name, float(r.benches[first].mean_jumps), float(r.benches[first].pass_at_1))
              for name, r in ckpt_points if first in r.benches and r.benches[first].mean_jumps is not None]
        if bt:
            plots["checkpoints_backtracks_vs_accuracy"] = str(
                plot_backtracks_vs_accuracy(bt, plots_dir / "checkpoints_backtracks_vs_accuracy.png").relative_to(run_dir))

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

    table = comparison_table(reports, benches=list(config.benches)) if reports else "(no evaluations found)\n"
    competence_path = run_dir / f"seed{seed0}" / "competence" / "competence.json"
    competence = json.loads(competence_path.read_text()) if competence_path.exists() else {}
    lines = what_was_run(config, run_dir)
    from benchmarks.contamination import format_contamination, run_contamination

    audit = run_contamination(run_dir, config.benches)
    lines += [
        "## Unseen evaluation sets",
        "",
        "Problems of each evaluation set whose statement appears in a corpus the run trained on (`benchmarks.contamination`; "
        "pre-training leaves them out by construction and records the count over its whole corpus).",
        "",
        format_contamination(audit),
        "",
    ]
    if competence:
        from benchmarks.competence import format_competence_report

        lines += [
            "## Competence (first evaluation set, greedy decoding, first seed)",
            "",
            "The task's audit of each model's first attempt (its columns, see the task's probes), solve rate, and "
            "verification AUC (after correct steps and a final step that reaches or misses the goal, does the model "
            "accept or backtrack?). Random play and oracle-verified play are references.",
            "",
            format_competence_report(competence),
            "",
        ]
    lines += [
        "## Control table (pass@1 in %, one column group per evaluation set)",
        "",
        "maj@k: a completion without a final answer votes for \"no answer\", which is never right. No answer, truncated: "
        "shares (%) of the completions that state no final answer and that the token budget cut. Backtracks: jumps back "
        "per completion, to an earlier step or to the start (restarts count).",
        "",
        table,
    ]
    for bench, r in correlations.items():
        lines.append(f"Pearson r across models and seeds on `{bench}`: backtracks vs pass@1 = {_fmt_r(r['backtracks_vs_pass@1'])}, "
                     f"tokens vs pass@1 = {_fmt_r(r['tokens_vs_pass@1'])} ({r['n_points']} points).")
    lines.append("")
    if matched:
        lines += [
            "## Compute-matched baselines (pass@1 in % at each model's own mean tokens per problem)",
            "",
            "A baseline draws its source model's evaluation completions of a problem one at a time, at most m of them, "
            "stops at the first its stop rule accepts, and solves the problem when that completion is correct (the exact "
            "expectation over orderings of the samples). m is set so that the mean tokens generated per problem equal the "
            "row model's mean tokens per completion (interpolating between the caps around it). Self-check: the task's check "
            "of the answer against what the prompt states (no gold answer); verifier: stop at the first correct completion "
            "(best-of-n with the verifier; at any one cap an upper bound on every stop rule). n/a: all the evaluation "
            "samples spend fewer tokens (evaluate more samples per problem). Means over seeds (± 95% t half-width with "
            "several); the curves over m are in `report.json` and `plots/pass_vs_tokens.png`.",
            "",
        ]
        for bench, m in matched.items():
            lines += [f"`{bench}`:", "", matched_table(m, MODEL_LABELS)]
    if paired:
        lines += [
            "## Seeds: paired differences (percentage points of pass@1)",
            "",
            "Each seed's difference between two models trained and evaluated in that seed. Paired t: mean ± t(0.975, "
            "n-1) sd / sqrt(n) over seeds (training and evaluation variation). Bootstrap: 2,000 resamples of the problems "
            "within each seed, the same draw for both models (evaluation variation only). Seeds to exclude 0: the fewest "
            "seeds whose paired-t interval, at the observed sd, is narrower than the observed mean difference.",
            "",
            paired_table(paired, MODEL_LABELS),
        ]
    if any(dyn["checkpoints"].values()):
        lines += ["## Training dynamics (GRPO checkpoints, first seed)", "",
                  "Step 0 is the SFT model GRPO starts from; pass@1, tokens and backtracks per completion read first -> last "
                  "checkpoint; r is Pearson's across the checkpoints.", ""]
        lines += ["| arm | set | steps | checkpoints | pass@1 | tokens | backtracks | r(backtracks, pass@1) | r(tokens, pass@1) |",
                  "|---" * 9 + "|"]
        for arm, per_bench in dyn["checkpoints"].items():
            for bench, d in per_bench.items():
                lines.append(
                    f"| {arm} | {bench} | {d['steps'][0]}..{d['steps'][-1]} | {len(d['steps'])} | "
                    f"{100 * d['pass@1'][0]:.1f} -> {100 * d['pass@1'][-1]:.1f} | {d['mean_tokens'][0]:.0f} -> {d['mean_tokens'][-1]:.0f} | "
                    f"{_num(d['mean_backtracks'][0])} -> {_num(d['mean_backtracks'][-1])} | {_fmt_r(d['r_backtracks'])} | {_fmt_r(d['r_tokens'])} |"
                )
        lines.append("")
    lines += ["## Trace statistics", "", _stats_table(trace_stats) if trace_stats else "(no traces)\n"]
    if filters:
        lines += ["## GRPO difficulty filter", ""]
        lines += [f"- {key}: {json.dumps(value)}" for key, value in filters.items()]
        lines.append("")
    if plots:
        lines += ["## Plots", ""] + [f"![{name}]({path})" for name, path in plots.items()] + [""]
    if pages:
        lines += ["## Trees", ""] + [f"- [{p}]({p})" for p in pages] + [""]
    lines += ["## Stage times (s)", ""] + [f"- {name}: {sec:.1f}" for name, sec in sorted(timings.items())] + [""]
    markdown = "\n".join(lines)
    (run_dir / "report.md").write_text(markdown, encoding="utf-8")
    write_json(
        run_dir / "report.json",
        {
            "config": to_json(config),
            "changed_from_preset": changed_fields(config),
            "benches": list(config.benches),
            "competence": {label: {k: row.get(k) for k in (*competence.get("columns", []), "solve_rate", "verification_auc")}
                           for label, row in competence.get("table", {}).items()},
            "competence_gates": competence.get("gates", []),
            "contamination": audit,
            "comparison": comparison_json(reports) if reports else {},
            "pearson": correlations,
            "compute_matched": matched,
            "paired_differences": [d.to_dict() for d in paired],
            "dynamics": dyn,
            "trace_stats": trace_stats,
            "grpo_filter": filters,
            "plots": plots,
            "timings_s": dict(timings),
        },
    )
    return markdown


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
