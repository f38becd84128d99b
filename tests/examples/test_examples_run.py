"""The examples plug into `astro run` by import path, with no installation (slow tier; CI runs it)."""

from __future__ import annotations

import json

import pytest

from astro.cli import main as cli_main

SMALL = ["--preset", "smoke", "--grpo.n-steps", "1", "--eval.samples", "1"]


def _report(out):
    return json.loads((out / "report.json").read_text())


@pytest.mark.slow
def test_smoke_run_with_the_example_search_agent(tmp_path):
    out = tmp_path / "run"
    agent = "examples.greedy_restarts:GreedyRestarts"
    assert cli_main(["run", *SMALL, "--search-agent", agent, "--search.agent-config.n-attempts", "6", "--out", str(out)]) == 0
    report = _report(out)
    assert report["config"]["search"]["agent"] == agent
    assert report["config"]["search"]["agent_config"]["n_attempts"] == 6 and "c_puct" not in report["config"]["search"]["agent_config"]
    assert '"n_attempts": 6' in (out / "report.md").read_text()  # the report shows the agent's own settings
    trees = [json.loads(line) for line in (out / "trees" / "trees.jsonl").read_text().splitlines()]
    assert trees and {t["agent"] for t in trees} == {"greedy_restarts"}
    assert [row["model"] for row in report["comparison"]["rows"]] == ["Base", "Direct-SFT", "ASTRO-SFT", "Direct-RL", "ASTRO-RL"]


@pytest.mark.slow
def test_smoke_run_with_the_example_task(tmp_path):
    out = tmp_path / "run"
    task = "examples.custom_task:ModSumTask"
    assert cli_main(["run", *SMALL, "--task", task, "--search-policy", "reference", "--out", str(out)]) == 0
    report = _report(out)
    assert report["config"]["task"]["name"] == task
    problems = [json.loads(line) for line in (out / "problems" / "train.jsonl").read_text().splitlines()]
    assert problems and all(p["task"] == task and p["id"].startswith("modsum/") for p in problems)
    stats = report["trace_stats"]
    assert stats["astro"]["total"]["n_traces"] == stats["direct"]["total"]["n_traces"] > 0
    assert all(row["benches"]["test"]["n_problems"] == 16 for row in report["comparison"]["rows"])


@pytest.mark.slow
def test_run_on_a_reasoning_gym_task(tmp_path):
    """A task without a pre-training corpus runs on a base model brought with --model (here a tiny untrained one)."""
    pytest.importorskip("reasoning_gym", reason="the reasoning-gym extra is not installed")
    from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy

    out = tmp_path / "run"
    task = "reasoning_gym:chain_sum"
    assert cli_main(["run", *SMALL, "--task", task, "--search-policy", "reference", "--out", str(tmp_path / "refused")]) == 2
    assert not (tmp_path / "refused").exists()  # no corpus for the embedded base: refused before anything is written
    tokenizer = build_tokenizer(kind="char")
    base = save_policy(build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)),
                       tokenizer, tmp_path / "base")
    assert cli_main(["run", *SMALL, "--task", task, "--model", str(base), "--search-policy", "reference", "--task.n-train", "12",
                     "--task.n-test", "8", "--out", str(out)]) == 0
    report = _report(out)
    assert report["config"]["task"]["name"] == task
    assert all(row["benches"]["test"]["n_problems"] == 8 for row in report["comparison"]["rows"])
    assert report["trace_stats"]["astro"]["total"]["n_restarts"] + report["trace_stats"]["astro"]["total"]["n_backtracks"] > 0
