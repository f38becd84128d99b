"""`astro run --preset smoke` end to end (slow tier; CI runs it)."""

from __future__ import annotations

import json

import pytest

from astro.cli import main as cli_main


@pytest.mark.slow
def test_smoke_run_writes_the_report_and_resumes_without_redoing_work(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["run", "--preset", "smoke", "--eval-every", "1", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    # training dynamics: the SFT model (step 0) and every GRPO checkpoint evaluated, with r across them per arm
    for arm in ("direct", "astro"):
        points = report["dynamics"]["checkpoints"][arm]["test"]
        assert points["steps"] == [0, 1, 2, 3] and len(points["pass@1"]) == 4
        assert [c["step"] for c in report["dynamics"]["curves"][arm]] == [1, 2, 3]
    assert "## Training dynamics" in (out / "report.md").read_text()
    # the test split is unseen by every corpus the run trained on, counted from the run folder's own files
    audit = report["contamination"]
    assert audit["n_problems"] == {"test": 16}
    assert audit["overlap"] == {name: {"test": 0} for name in ("pre-training", "trees", "traces", "RL pool")}
    assert "| pre-training | 0 / 16 |" in (out / "report.md").read_text()
    # the competence gates of every model, beside the reference rows
    competence = report["competence"]
    assert {"Base", "Direct-SFT", "ASTRO-SFT", "Direct-RL", "ASTRO-RL", "random legal play"} <= set(competence)
    assert all(0.0 <= row["legal_step_rate"] <= 1.0 and 0.0 <= row["verification_auc"] <= 1.0
               for label, row in competence.items() if label != "random legal play")
    assert "## Competence" in (out / "report.md").read_text()
    gates = {(g["model"], g["key"]): g for g in report["competence_gates"]}
    assert set(gates) == {("Base", "legal_step_rate"), ("Base", "arithmetic_accuracy"), ("ASTRO-SFT", "verification_auc")}
    assert all(g["passed"] == (g["value"] >= g["least"]) for g in gates.values())
    assert "Gates: Base legal step rate" in (out / "report.md").read_text()
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
    # compute-matched baselines from the Direct models' completions, and their plot
    matched = report["compute_matched"]["test"]
    assert set(matched["baselines"]) == {f"{m}/{rule}" for m in ("direct-sft", "direct-rl") for rule in ("self_check", "verifier")}
    assert set(matched["models"]) == {"base", "direct-sft", "astro-sft", "direct-rl", "astro-rl"}
    assert (out / report["plots"]["pass_vs_tokens"]).stat().st_size > 0
    for arm in ("direct", "astro"):
        assert list((out / "seed0" / f"rl-{arm}" / "tb").iterdir()), "GRPO writes TensorBoard logs"

    # a second run with the same configuration skips every stage
    capsys.readouterr()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("stage.json")}
    assert cli_main(["run", "--preset", "smoke", "--eval-every", "1", "--out", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("stage.json")} == before

    # a finished stage's output cut since is computed again (the same trees); the stages reading it stay done
    trees = out / "trees" / "trees.jsonl"
    whole = trees.read_bytes()
    trees.write_bytes(b"".join(whole.splitlines(keepends=True)[:2]))
    assert cli_main(["run", "--preset", "smoke", "--eval-every", "1", "--out", str(out)]) == 0
    assert trees.read_bytes() == whole
    after = {p: p.stat().st_mtime_ns for p in out.rglob("stage.json")}
    assert {p for p in before if after[p] != before[p]} == {out / "trees" / "stage.json"}


def _comparison(out):
    report = json.loads((out / "report.json").read_text())
    return report["comparison"]["rows"], report["trace_stats"]


@pytest.mark.slow
def test_rerun_with_a_changed_flag_equals_a_fresh_run_with_it(tmp_path):
    reused, fresh = tmp_path / "reused", tmp_path / "fresh"
    small = ["--preset", "smoke", "--seeds", "0", "--grpo.n-steps", "1", "--no-parallel-arms"]
    assert cli_main(["run", *small, "--out", str(reused)]) == 0
    n_before = len((reused / "traces" / "traces_astro.jsonl").read_text().splitlines())
    assert cli_main(["run", *small, "--traces.k-values", "1", "--out", str(reused)]) == 0
    assert cli_main(["run", *small, "--traces.k-values", "1", "--out", str(fresh)]) == 0
    assert _comparison(reused) == _comparison(fresh)
    n_after = len((reused / "traces" / "traces_astro.jsonl").read_text().splitlines())
    assert n_after == len((fresh / "traces" / "traces_astro.jsonl").read_text().splitlines()) <= n_before
    for arm in ("direct", "astro"):  # the trained models are the fresh run's, not the old checkpoints
        a = (reused / "seed0" / f"rl-{arm}" / "model.safetensors").read_bytes()
        b = (fresh / "seed0" / f"rl-{arm}" / "model.safetensors").read_bytes()
        assert a == b
    assert json.loads((reused / "run_config.json").read_text())["traces"]["k_values"] == [1]


@pytest.mark.slow
def test_smoke_math_runs_every_stage_on_real_problem_text(tmp_path):
    from astro_env.loaders import benchmark_path

    try:
        for name in ("math500", "amc23"):  # the preset trains on MATH-500 text and evaluates on both
            benchmark_path(name)
    except FileNotFoundError as missing:
        pytest.skip(f"benchmark data not found ({missing})")
    out = tmp_path / "run"
    assert cli_main(["run", "--preset", "smoke-math", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = {row["model"]: row for row in report["comparison"]["rows"]}
    assert list(rows) == ["Base", "Direct-SFT", "ASTRO-SFT", "Direct-RL", "ASTRO-RL"]
    assert all(row["benches"]["math500"]["n_problems"] == 8 and "amc23" in row["benches"] for row in rows.values())
    assert json.loads((out / "run_config.json").read_text())["task"]["name"] == "math"
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("> **Plumbing check: these numbers mean nothing.**")
    train = {json.loads(line)["id"] for line in (out / "problems" / "train.jsonl").read_text().splitlines()}
    evaluated = {json.loads(line)["id"] for line in (out / "problems" / "eval" / "math500.jsonl").read_text().splitlines()}
    assert train and evaluated and not train & evaluated  # never trains on a problem it evaluates on
    assert all(i.startswith("test/") for i in train)  # real MATH-500 problem text


@pytest.mark.slow
def test_killing_the_run_leaves_no_process_behind(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    run = subprocess.Popen([sys.executable, "-m", "astro.cli", "run", "--preset", "smoke", "--out", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900  # waiting bound only
    while not list(out.glob("seed0/sft-*/stage.json")) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.5)
    descendants = _descendants(run.pid)
    assert descendants, "the arms run in worker processes"
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 60
    while descendants and time.monotonic() < deadline:
        descendants = [pid for pid in descendants if _running(pid)]
        time.sleep(0.2)
    assert descendants == [], f"processes {descendants} outlived the killed run"
    assert os.path.exists(out / ".astro.lock")  # left behind by the dead owner, and taken over by the next run
    from astro.stages import RunLock

    with RunLock(out) as lock:
        assert lock.held


def _descendants(pid: int) -> list[int]:
    import subprocess

    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
        found += [int(k) for k in kids]
        frontier += [int(k) for k in kids]
    return found


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_fault_injection_short_version(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(root / "scripts" / "fault_inject.py"), "--out", str(tmp_path / "fi"), "--short"],
                          cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    (trial,) = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert trial["killed_in"] and trial["matches_uninterrupted"] is True
