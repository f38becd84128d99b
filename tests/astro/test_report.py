"""The run report's pure parts: correlation points and the trace statistics table."""

from __future__ import annotations

from astro.config import HELD_OUT as BENCH
from astro.report import _stats_table, correlation_points
from benchmarks.records import BenchResult, EvalReport


def _report(model: str, pass_at_1: float, backtracks: float | None, tokens: float) -> EvalReport:
    result = BenchResult(
        bench=BENCH, n_problems=10, n_samples=4, pass_at_1=pass_at_1, pass_at_k={}, maj_at_k={},
        mean_tokens=tokens, mean_backtracks=backtracks, mean_restarts=0.0, first_attempt_accuracy=pass_at_1,
    )
    return EvalReport(model=model, sampling={}, benches={BENCH: result})


def test_correlation_points_one_per_model_and_seed():
    reports = {
        "Base": [_report("b", 0.1, 0.0, 30.0)],
        "ASTRO-RL": [_report("a", 0.3, 1.5, 80.0), _report("a", 0.2, 1.0, 70.0)],
        "NoParser": [_report("n", 0.5, None, 10.0)],
    }
    backtracks, tokens = correlation_points(reports, BENCH)
    assert correlation_points(reports, "math500") == ([], [])  # points are per evaluation set
    assert backtracks == [("Base", 0.0, 0.1), ("ASTRO-RL/0", 1.5, 0.3), ("ASTRO-RL/1", 1.0, 0.2)]
    # a model without backtrack counts still has a length point
    assert [p[0] for p in tokens] == ["Base", "ASTRO-RL/0", "ASTRO-RL/1", "NoParser"]


def test_stats_table_has_a_row_per_arm_in_the_papers_columns():
    row = {"n_problems": 3, "n_traces": 12, "n_backtracks": 5, "n_restarts": 2, "mean_backtracks": 5 / 12,
           "mean_restarts": 2 / 12, "mean_tokens": 81.25}
    table = _stats_table({"direct": {"total": {**row, "n_backtracks": 0, "n_restarts": 0, "mean_backtracks": 0.0,
                                               "mean_restarts": 0.0}},
                          "astro": {"total": row}})
    lines = table.strip().splitlines()
    assert lines[0].startswith("| arm | problems | trajectories | backtracks | restarts")
    assert lines[3] == "| astro | 3 | 12 | 5 | 2 | 0.42 | 0.17 | 81.2 |"
    assert lines[2].startswith("| direct | 3 | 12 | 0 | 0 |")
