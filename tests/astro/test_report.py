"""The run report's pure parts: correlation points and the trace statistics table."""

from __future__ import annotations

import json
import math

import pytest

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


def _bench(pass_at_1: float, tokens: float, backtracks: float | None) -> BenchResult:
    return BenchResult(bench=BENCH, n_problems=10, n_samples=4, pass_at_1=pass_at_1, pass_at_k={}, maj_at_k={},
                       mean_tokens=tokens, mean_backtracks=backtracks, mean_restarts=0.0, first_attempt_accuracy=None)


def test_checkpoint_dynamics_hand_computed_pearson():
    from astro.report import checkpoint_dynamics

    # given out of order; sorted by step. pass@1 0.2, 0.3, 0.25; backtracks 1, 3, 2 -> r = 1 (same ranks, equal gaps);
    # tokens 100, 80, 90 -> deviations (10, -10, 0) against pass@1's (-0.05, 0.05, 0): r = -1
    points = [(20, EvalReport("m", {}, {BENCH: _bench(0.3, 80.0, 3.0)})),
              (0, EvalReport("m", {}, {BENCH: _bench(0.2, 100.0, 1.0)})),
              (40, EvalReport("m", {}, {BENCH: _bench(0.25, 90.0, 2.0)}))]
    d = checkpoint_dynamics(points, (BENCH, "absent"))
    assert list(d) == [BENCH]
    d = d[BENCH]
    assert d["steps"] == [0, 20, 40] and d["pass@1"] == [0.2, 0.3, 0.25] and d["mean_tokens"] == [100.0, 80.0, 90.0]
    assert d["r_backtracks"] == pytest.approx(1.0)
    assert d["r_tokens"] == pytest.approx(-1.0)
    # hand: backtracks 1, 2, 4 against pass@1 0.2, 0.3, 0.25 -> dx (-4/3, -1/3, 5/3), dy (-0.05, 0.05, 0):
    # sum dx dy = 1/15 - 1/60 = 0.05; sqrt(sum dx^2 * sum dy^2) = sqrt(42/9 * 0.005) = 0.15275 -> r = 0.3273
    points[2] = (40, EvalReport("m", {}, {BENCH: _bench(0.25, 90.0, 4.0)}))
    points[0] = (20, EvalReport("m", {}, {BENCH: _bench(0.3, 80.0, 2.0)}))
    assert checkpoint_dynamics(points, (BENCH,))[BENCH]["r_backtracks"] == pytest.approx(0.05 / math.sqrt(42 / 9 * 0.005))
    # without backtrack counts, or with one checkpoint, r is None
    assert checkpoint_dynamics([(0, EvalReport("m", {}, {BENCH: _bench(0.2, 1.0, None)})),
                                (5, EvalReport("m", {}, {BENCH: _bench(0.3, 2.0, None)}))], (BENCH,))[BENCH]["r_backtracks"] is None
    assert checkpoint_dynamics(points[:1], (BENCH,))[BENCH]["r_tokens"] is None


# ---------------------------------------------------------------- the run report over a hand-made run folder

def _write_eval(run_dir, seed, name, problems, texts):
    """Evaluation files of one model and seed: completions scored by the task, and their summary."""
    from agents.base import Completion
    from benchmarks.evaluate import EvalConfig, score_completion, summarize

    out = run_dir / f"seed{seed}" / f"eval-{name}"
    (out / BENCH).mkdir(parents=True, exist_ok=True)
    records = [score_completion(p, Completion(text=t), bench=BENCH, sample_idx=i) for p, ts in zip(problems, texts) for i, t in enumerate(ts)]
    with (out / BENCH / "completions.jsonl").open("w") as fh:
        fh.writelines(json.dumps(r.to_dict()) + "\n" for r in records)
    result = summarize(problems, records, EvalConfig(samples=2, maj_k=2, pass_ks=(1,)), bench_name=BENCH)
    (out / "summary.json").write_text(json.dumps(EvalReport(name, {}, {BENCH: result}).to_dict()))
    return result


def test_run_report_prints_matched_baselines_paired_differences_and_dynamics(tmp_path):
    from astro.config import RunConfig
    from astro.report import write_run_report
    from astro_env.countdown import generate_problems, solve

    problems = generate_problems(2, seed=5)
    right = [f"\\boxed{{{solve(p.metadata['numbers'], p.metadata['target'])}}}" for p in problems]
    wrong = "\\boxed{1+1}"
    long_miss = " ".join(["step"] * 30)  # no answer, 30 words
    pass1 = {}
    for seed in (0, 1):
        # Direct answers in 1 word; ASTRO searches for 31 words and answers right on problem 0 (seed 0: on both)
        pass1["direct-sft", seed] = _write_eval(tmp_path, seed, "direct-sft", problems, [[wrong, right[0]], [wrong, wrong]]).pass_at_1
        pass1["direct-rl", seed] = _write_eval(tmp_path, seed, "direct-rl", problems, [[right[0], right[0]], [wrong, wrong]]).pass_at_1
        astro = [[f"{long_miss} {right[0]}"] * 2, [f"{long_miss} {right[1] if seed == 0 else wrong}"] * 2]
        pass1["astro-rl", seed] = _write_eval(tmp_path, seed, "astro-rl", problems, astro).pass_at_1
        pass1["astro-sft", seed] = _write_eval(tmp_path, seed, "astro-sft", problems, [[long_miss] * 2, [long_miss] * 2]).pass_at_1
    from dataclasses import replace

    from astro.plan import checkpoint_eval_stage
    from astro.stages import StageRunner

    config = RunConfig(seeds=(0, 1), eval_every=5, grpo=replace(RunConfig().grpo, n_steps=10))
    # the checkpoint at step 10 evaluated after an earlier GRPO run (another learning rate), the one at step 5
    # after this run's GRPO: only the second is this run's dynamics
    runner = StageRunner(tmp_path)
    for step, grpo_key in ((10, {"lr": 2e-4}), (5, {"lr": 1e-4})):
        runner("seed0/rl-astro", grpo_key, lambda out: None)
        stage = checkpoint_eval_stage(config, tmp_path, 0, "astro", step)
        runner(stage.name, stage.key(tmp_path),
               lambda out, step=step: _write_eval(tmp_path, 0, f"astro-rl-step{step:06d}", problems, [[wrong, wrong], [wrong, wrong]]))
    markdown = write_run_report(config, tmp_path, {})
    report = json.loads((tmp_path / "report.json").read_text())

    assert "## Compute-matched baselines" in markdown and "Direct-SFT retry, self-check" in markdown
    matched = report["compute_matched"][BENCH]
    assert set(matched["baselines"]) == {"direct-sft/self_check", "direct-sft/verifier", "direct-rl/self_check", "direct-rl/verifier"}
    # ASTRO-RL spends 31 words per problem; Direct-SFT's 2 one-word samples never reach that: samples run out
    assert matched["baselines"]["direct-sft/self_check"]["at"]["astro-rl"] is None
    # at its own mean tokens (1 word: one sample) the baseline is the model's own pass@1
    assert matched["baselines"]["direct-sft/verifier"]["at"]["direct-sft"]["pass@1"] == pytest.approx(pass1["direct-sft", 0]) == 0.25
    assert (tmp_path / report["plots"]["pass_vs_tokens"]).exists()

    assert "## Seeds: paired differences" in markdown and "| ASTRO-RL - Direct-RL | test | 2 |" in markdown
    diffs = {(d["minuend"], d["subtrahend"]): d for d in report["paired_differences"]}
    rl = diffs["astro-rl", "direct-rl"]
    assert rl["per_seed"] == pytest.approx([pass1["astro-rl", s] - pass1["direct-rl", s] for s in (0, 1)])  # +0.5, 0
    assert rl["t"]["mean"] == pytest.approx(0.25) and rl["bootstrap"]["n"] == 4
    assert diffs["astro-rl", "astro-sft"]["per_seed"] == pytest.approx([1.0, 0.5])

    # dynamics: step 0 is the SFT model, then the checkpoint at step 5 (first seed)
    d = report["dynamics"]["checkpoints"]["astro"][BENCH]
    assert d["steps"] == [0, 5] and d["pass@1"] == [0.0, 0.0]
    assert "| astro | test | 0..5 | 2 |" in markdown
