"""Figures of `astro run`: GRPO curves per arm, backtracks against accuracy with Pearson r, and
pass@1 against mean tokens per problem (models as points, retry baselines as curves).

matplotlib with the Agg backend (no display needed); each function writes one PNG and
returns its path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

from astro_env.jsonl import read_jsonl
from benchmarks.metrics import pearson

__all__ = ["REWARD_KEYS", "LENGTH_KEYS", "plot_grpo_curves", "plot_backtracks_vs_accuracy", "plot_pass_vs_tokens", "pearson_title"]

REWARD_KEYS = ("reward_mean",)
"""Key of a GRPO step's mean reward in the trainer's metrics.jsonl (`training.grpo`)."""
LENGTH_KEYS = ("completion_len",)
"""Key of a GRPO step's mean completion length in tokens."""
STEP_KEYS = ("step", "grpo/step", "global_step")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _first_key(rows: Sequence[Mapping], keys: Sequence[str]) -> str | None:
    for key in keys:
        if any(key in row for row in rows):
            return key
    return None


def _series(rows: Sequence[Mapping], key: str | None) -> tuple[list[float], list[float]]:
    """(steps, values) of the rows holding `key` (step: the row's step key, else its index)."""
    if key is None:
        return [], []
    step_key = _first_key(rows, STEP_KEYS)
    steps, values = [], []
    for idx, row in enumerate(rows):
        value = row.get(key)
        if isinstance(value, (int, float)):
            steps.append(float(row.get(step_key, idx)) if step_key else float(idx))
            values.append(float(value))
    return steps, values


def plot_grpo_curves(
    metrics_jsonl_paths: Mapping[str, str | Path],
    out_png: str | Path,
    reward_key: str | None = None,
    length_key: str | None = None,
) -> Path:
    """Path of a PNG with reward (left) and completion length (right) per GRPO step, one line per arm.

    `metrics_jsonl_paths` maps an arm ("direct", "astro") to its trainer's metrics.jsonl (one
    JSON object per step). Keys default to the first of `REWARD_KEYS` / `LENGTH_KEYS` found
    in each file; a missing file or key leaves that arm's line out (the panel says so).
    """
    plt = _pyplot()
    fig, (ax_reward, ax_len) = plt.subplots(1, 2, figsize=(10, 4))
    for arm, path in metrics_jsonl_paths.items():
        rows = read_jsonl(path)
        for ax, key, keys in ((ax_reward, reward_key, REWARD_KEYS), (ax_len, length_key, LENGTH_KEYS)):
            steps, values = _series(rows, key or _first_key(rows, keys))
            if steps:
                ax.plot(steps, values, marker=".", label=arm)
    for ax, title in ((ax_reward, "mean reward"), (ax_len, "mean completion length (tokens)")):
        ax.set_xlabel("GRPO step")
        ax.set_title(title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def pearson_title(title: str, xs: Sequence[float], ys: Sequence[float]) -> str:
    """`title` followed by "(Pearson r = 0.816)", or "r = n/a" below 2 points or for constant data."""
    r = pearson(xs, ys) if len(xs) >= 2 else float("nan")
    return f"{title} (Pearson r = {'n/a' if math.isnan(r) else f'{r:.3f}'})"


def plot_backtracks_vs_accuracy(
    points: Sequence[tuple[str, float, float]],
    out_png: str | Path,
    title: str = "Backtracks vs accuracy",
) -> Path:
    """Path of a scatter PNG of (mean backtracks, accuracy) per labelled model/checkpoint, Pearson r in the title.

    `points` are (label, mean backtracks per completion, accuracy in [0, 1]); r is "n/a"
    with fewer than 2 points or a constant coordinate.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    xs = [float(p[1]) for p in points]
    ys = [float(p[2]) for p in points]
    ax.scatter(xs, ys)
    for label, x, y in points:
        ax.annotate(str(label), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_title(pearson_title(title, xs, ys))
    ax.set_xlabel("backtracks per completion")
    ax.set_ylabel("accuracy (pass@1)")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_pass_vs_tokens(
    points: Sequence[tuple[str, float, float]],
    curves: Mapping[str, Sequence[tuple[float, float]]],
    out_png: str | Path,
    title: str = "pass@1 against tokens per problem",
    dashed: Sequence[str] = (),
) -> Path:
    """Path of a PNG of pass@1 (y) against mean tokens per problem (x): a labelled point per model, a line per baseline.

    `points` are (label, mean tokens per problem, pass@1 in [0, 1]); `curves` map a baseline's
    label to its (mean tokens per problem, pass@1) points in order of its budget (e.g. the attempt caps
    of `benchmarks.retry.retry_curve`); those named in `dashed` (upper bounds) are drawn dashed.
    A curve with no points is left out.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    for label, curve in curves.items():
        if curve:
            ax.plot([float(c[0]) for c in curve], [100 * float(c[1]) for c in curve], label=label,
                    linestyle="--" if label in dashed else "-")
    for label, x, y in points:
        ax.scatter([float(x)], [100 * float(y)], zorder=3)
        ax.annotate(str(label), (float(x), 100 * float(y)), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("mean tokens per problem")
    ax.set_ylabel("pass@1 (%)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
