"""Markdown and JSON rendering of `EvalReport`s, alone or as a comparison of several models.

`write_report(report, out_dir)` writes report.json / report.md for `astro eval`;
`comparison_table(models)` is the control table of `astro run` (a row per model, per bench
pass@1 with a 95% interval over seeds, maj@k, mean tokens, backtracks, first-attempt accuracy,
and the shares of completions without an answer and cut at the token budget).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from astro_env.jsonl import write_json
from benchmarks import metrics
from benchmarks.records import BenchResult, EvalReport

__all__ = ["render_markdown", "write_report", "comparison_rows", "comparison_table", "comparison_json", "matched_table",
           "paired_table", "baseline_label"]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render_markdown(report: EvalReport) -> str:
    """The Markdown page of one model's report: summary table, breakdowns, settings, data hashes."""
    s = report.sampling
    lines = [
        f"# Evaluation: {report.model}",
        "",
        f"Sampling: {s.get('samples')} samples per problem, temperature {s.get('temperature')}, "
        f"top-p {s.get('top_p')}, max tokens {s.get('max_tokens')}, seed {s.get('seed')}. "
        "Rates in %; pass@1 is averaged over samples, pass@k is the unbiased estimator, "
        "maj@k the expected majority-vote accuracy over k-subsets (ties split evenly; no answer is a vote that "
        "cannot be right), maj@k abstain the same vote with unanswered completions left out (how much abstaining "
        "would inflate it); no answer and truncated are the shares of completions without a final answer and cut "
        "at the token budget.",
        "",
    ]
    ks = sorted({int(k) for r in report.benches.values() for k in r.pass_at_k if int(k) != 1})
    majs = sorted({int(k) for r in report.benches.values() for k in r.maj_at_k})
    header = ["bench", "problems", "pass@1", *[f"pass@{k}" for k in ks], *[f"maj@{k}" for k in majs]]
    abstains = sorted({int(k) for r in report.benches.values() for k in r.maj_at_k_abstain})
    header += [f"maj@{k} abstain" for k in abstains]
    header += ["no answer", "truncated", "mean tokens", "backtracks", "restarts", "first-attempt acc."]
    rows = []
    for name, r in report.benches.items():
        rows.append(
            [
                name,
                str(r.n_problems),
                _pct(r.pass_at_1),
                *[_pct(r.pass_at_k.get(str(k))) for k in ks],
                *[_pct(r.maj_at_k.get(str(k))) for k in majs],
                *[_pct(r.maj_at_k_abstain.get(str(k))) for k in abstains],
                _pct(r.no_answer_rate),
                _pct(r.truncated_rate),
                _num(r.mean_tokens, 1),
                _num(r.mean_backtracks),
                _num(r.mean_restarts),
                _pct(r.first_attempt_accuracy),
            ]
        )
    lines += _table(header, rows)
    for name, r in report.benches.items():
        for title, groups in (("subject", r.by_subject), ("level", r.by_level)):
            if groups:
                lines += ["", f"## {name} by {title}", ""]
                lines += _table(
                    [title, "problems", "pass@1"],
                    [[g, str(int(v["n_problems"])), _pct(v["pass@1"])] for g, v in groups.items()],
                )
    lines += ["", "## Data", ""]
    lines += _table(
        ["bench", "file", "sha256", "problems sha256", "finish reasons"],
        [
            [
                name,
                r.data_file or "(generated)",
                f"`{r.data_sha256}`" if r.data_sha256 else "n/a",
                f"`{r.problems_sha256[:16]}`",
                ", ".join(f"{k}: {v}" for k, v in r.finish_reasons.items()),
            ]
            for name, r in report.benches.items()
        ],
    )
    return "\n".join(lines) + "\n"


def write_report(report: EvalReport, out_dir: str | Path) -> str:
    """Write `out_dir/report.json` and `out_dir/report.md`; returns the Markdown."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "report.json", report.to_dict())
    markdown = render_markdown(report)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    return markdown


def _as_list(value: EvalReport | Sequence[EvalReport]) -> list[EvalReport]:
    return [value] if isinstance(value, EvalReport) else list(value)


def comparison_rows(models: Mapping[str, EvalReport | Sequence[EvalReport]]) -> list[dict[str, Any]]:
    """One dict per model: per bench the mean over seeds (one report per seed) and 95% half-widths.

    Keys per bench: n_seeds, pass@1, pass@1_ci95 (None with one seed), maj@k (the first maj
    key; None for results without a no-answer share, whose maj@k let unanswered completions
    abstain), maj@k_abstain, no_answer, truncated, mean_tokens, backtracks, first_attempt_accuracy
    (means over seeds, None when unknown).
    A model lacking a bench simply has no entry for it.
    """
    rows = []
    for model, reports in models.items():
        reports = _as_list(reports)
        if not reports:
            raise ValueError(f"model {model!r} has no report; pass at least one per model.")
        benches: dict[str, dict[str, Any]] = {}
        names = list(dict.fromkeys(name for r in reports for name in r.benches))
        for name in names:
            results: list[BenchResult] = [r.benches[name] for r in reports if name in r.benches]
            mean, half = metrics.mean_ci95([r.pass_at_1 for r in results])
            maj_key = next(iter(results[0].maj_at_k), None)
            # a summary without a no-answer share let unanswered completions abstain in maj@k: not shown
            maj_values = [r.maj_at_k[maj_key] for r in results if maj_key in r.maj_at_k and r.no_answer_rate is not None] if maj_key else []
            benches[name] = {
                "n_seeds": len(results),
                "n_problems": results[0].n_problems,
                "pass@1": mean,
                "pass@1_ci95": half,
                "maj_k": int(maj_key) if maj_key else None,
                "maj@k": metrics.mean_or_none(maj_values),
                "maj@k_abstain": metrics.mean_or_none([r.maj_at_k_abstain.get(maj_key) for r in results] if maj_key else []),
                "no_answer": metrics.mean_or_none([r.no_answer_rate for r in results]),
                "truncated": metrics.mean_or_none([r.truncated_rate for r in results]),
                "mean_tokens": metrics.mean_or_none([r.mean_tokens for r in results]),
                "backtracks": metrics.mean_or_none([r.mean_jumps for r in results]),  # restarts included
                "first_attempt_accuracy": metrics.mean_or_none([r.first_attempt_accuracy for r in results]),
            }
        rows.append({"model": model, "benches": benches})
    return rows


def comparison_json(models: Mapping[str, EvalReport | Sequence[EvalReport]]) -> dict[str, Any]:
    """The comparison as JSON: {"rows": comparison_rows(...), "reports": {model: [report dicts]}}."""
    return {
        "rows": comparison_rows(models),
        "reports": {model: [r.to_dict() for r in _as_list(reports)] for model, reports in models.items()},
    }


def comparison_table(
    models: Mapping[str, EvalReport | Sequence[EvalReport]],
    benches: Sequence[str] | None = None,
) -> str:
    """Markdown table, a row per model (in the mapping's order), seven columns per bench.

    pass@1 reads "mean ± half-width" (percent, 95% Student-t interval over seeds) when a model
    has several reports (one per seed), else the single value; "n/a" where unknown.
    """
    rows = comparison_rows(models)
    if benches is None:
        benches = list(dict.fromkeys(name for row in rows for name in row["benches"]))
    header = ["model"]
    for name in benches:
        maj_k = next((row["benches"][name]["maj_k"] for row in rows if name in row["benches"]), None)
        header += [
            f"{name} pass@1",
            f"{name} maj@{maj_k if maj_k else 'k'}",
            f"{name} tokens",
            f"{name} backtracks",
            f"{name} first-attempt",
            f"{name} no answer",
            f"{name} truncated",
        ]
    body = []
    for row in rows:
        cells = [row["model"]]
        for name in benches:
            b = row["benches"].get(name)
            if b is None:
                cells += ["n/a"] * 7
                continue
            p1 = _pct(b["pass@1"])
            if b["pass@1_ci95"] is not None:
                p1 += f" ± {100 * b['pass@1_ci95']:.1f}"
            cells += [p1, _pct(b["maj@k"]), _num(b["mean_tokens"], 1), _num(b["backtracks"]), _pct(b["first_attempt_accuracy"]),
                      _pct(b["no_answer"]), _pct(b["truncated"])]
        body.append(cells)
    return "\n".join(_table(header, body)) + "\n"


STOP_LABELS = {"self_check": "retry, self-check", "verifier": "best-of-n, verifier stop"}
"""How each stop rule of `benchmarks.retry` is named in tables and plots."""


def baseline_label(source: str, stop: str, labels: Mapping[str, str] | None = None) -> str:
    """"Direct-SFT retry, self-check": a retry baseline's name from its source model and stop rule."""
    return f"{(labels or {}).get(source, source)} {STOP_LABELS.get(stop, stop)}"


def matched_table(matched: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """Markdown table of `benchmarks.retry.compute_matched`: a row per model (pass@1 and mean tokens per
    problem), a column per baseline giving its pass@1 at that model's mean tokens (percent).

    A cell reads "mean ± half-width" over seeds when there are several, "n/a" where the evaluation
    samples do not reach that many tokens.
    """
    labels = labels or {}
    baselines = matched.get("baselines", {})
    header = ["model", "pass@1", "tokens/problem", *[baseline_label(b["source"], b["stop"], labels) for b in baselines.values()]]
    body = []
    for name, m in matched.get("models", {}).items():
        cells = [labels.get(name, name), _pct(m["pass@1"]), _num(m["mean_tokens"], 1)]
        for b in baselines.values():
            at = b["at"].get(name)
            if at is None:
                cells.append("n/a")
                continue
            cell = _pct(at["pass@1"])
            if at["pass@1_ci95"] is not None:
                cell += f" ± {100 * at['pass@1_ci95']:.1f}"
            cells.append(cell)
        body.append(cells)
    return "\n".join(_table(header, body)) + "\n"


def _pp(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}"


def paired_table(diffs: Sequence[Any], labels: Mapping[str, str] | None = None) -> str:
    """Markdown table of `benchmarks.replicate.PairedDifference`s (percentage points): per seed, mean, the 95%
    paired-t interval over seeds, the 95% paired bootstrap interval over problems, and the seeds a paired-t
    interval would need to exclude 0 at the observed spread."""
    labels = labels or {}
    header = ["difference", "set", "seeds", "per seed", "mean", "95% paired t over seeds", "95% bootstrap over problems",
              "seeds to exclude 0"]
    body = []
    for d in diffs:
        t, boot = d.t, d.bootstrap
        body.append([
            f"{labels.get(d.minuend, d.minuend)} - {labels.get(d.subtrahend, d.subtrahend)}",
            d.bench,
            str(len(d.seeds)),
            ", ".join(_pp(v) for v in d.per_seed),
            _pp(t.mean),
            "n/a (1 seed)" if t.low is None else f"[{_pp(t.low)}, {_pp(t.high)}]",
            "n/a" if boot is None else f"[{_pp(boot.low)}, {_pp(boot.high)}]",
            "n/a" if d.seeds_to_exclude_zero is None else str(d.seeds_to_exclude_zero),
        ])
    return "\n".join(_table(header, body)) + "\n"
