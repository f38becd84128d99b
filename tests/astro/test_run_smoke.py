"""`astro run --preset smoke` end to end (slow tier; CI runs it)."""

from __future__ import annotations

import json

import pytest

from astro.cli import main as cli_main


@pytest.mark.slow
def test_smoke_run_writes_the_report_and_resumes_without_redoing_work(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["run", "--preset", "smoke", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = {row["model"]: row for row in report["comparison"]["rows"]}
    assert list(rows) == ["Base", "Direct-SFT", "ASTRO-SFT", "Direct-RL", "ASTRO-RL"]
    for row in rows.values():
        bench = row["benches"]["test"]
        assert bench["n_problems"] == 16 and 0.0 <= bench["pass@1"] <= 1.0
    stats = report["trace_stats"]
    # both arms come from the same trees, matched in count; only ASTRO backtracks
    assert stats["astro"]["total"]["n_traces"] == stats["direct"]["total"]["n_traces"] > 0
    assert stats["direct"]["total"]["n_backtracks"] == stats["direct"]["total"]["n_restarts"] == 0
    assert stats["astro"]["total"]["n_backtracks"] + stats["astro"]["total"]["n_restarts"] > 0
    assert (out / "plots" / "grpo_curves.png").stat().st_size > 0
    assert "## Control table" in (out / "report.md").read_text()
    for arm in ("direct", "astro"):
        assert list((out / "seed0" / f"rl-{arm}" / "tb").iterdir()), "GRPO writes TensorBoard logs"

    # a second run with the same configuration skips every stage
    capsys.readouterr()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("stage.json")}
    assert cli_main(["run", "--preset", "smoke", "--out", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("stage.json")} == before
