"""`astro export`: trees and traces as a Hub-ready dataset folder that `datasets.load_dataset` reads back."""

from __future__ import annotations

import json

import pytest
import yaml

from astro.cli import main as astro
from astro_env.jsonl import read_jsonl


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Trees of 3 Countdown problems (symbolic policy, MCTS) and their ASTRO and Direct traces."""
    root = tmp_path_factory.mktemp("made")
    assert astro(["search", "--problems", "countdown:3", "--policy.backend", "countdown", "--out", str(root / "trees.jsonl"),
                  "--no-progress", "--search.agent-config.n-iterations", "8"]) == 0
    assert astro(["linearize", str(root / "trees.jsonl"), "--arms", "astro", "direct", "--out", str(root / "traces")]) == 0
    return root


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_export_loads_back_with_datasets_and_carries_a_card(made, tmp_path, fmt, capsys):
    from datasets import load_dataset

    out = tmp_path / "astro-countdown"
    assert astro(["export", str(made / "trees.jsonl"), str(made / "traces" / "traces_astro.jsonl"), str(made / "traces" / "traces_direct.jsonl"),
                  "--out", str(out), "--format", fmt]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    astro_traces, direct_traces = read_jsonl(made / "traces" / "traces_astro.jsonl"), read_jsonl(made / "traces" / "traces_direct.jsonl")
    trees = read_jsonl(made / "trees.jsonl")
    assert summary["n_trees"] == 3 and summary["n_traces"] == len(astro_traces) + len(direct_traces)

    traces = load_dataset(str(out), "traces", cache_dir=str(tmp_path / "cache"))
    assert set(traces) == {"astro", "direct"}
    assert traces["astro"]["completion"] == [t["completion"] for t in astro_traces]
    assert traces["direct"]["n_backtracks"] == [0] * len(direct_traces)
    loaded_trees = load_dataset(str(out), "trees", cache_dir=str(tmp_path / "cache"))["train"]
    assert loaded_trees["problem_id"] == [t["problem"]["id"] for t in trees]
    assert [len(n) for n in loaded_trees["nodes"]] == [len(t["nodes"]) for t in trees] == loaded_trees["n_nodes"]
    assert loaded_trees[0]["nodes"][1]["step"] == trees[0]["nodes"][1]["step"]
    assert json.loads(loaded_trees[0]["stats"]) == trees[0]["stats"]

    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert {c["config_name"]: [s["split"] for s in c["data_files"]] for c in header["configs"]} == {
        "traces": ["astro", "direct"], "trees": ["train"]}
    machine = json.loads(card.rsplit("```json", 1)[1].split("```")[0])
    assert machine["tasks"] == {"countdown": 3} and machine["models"] == ["countdown"]
    assert machine["search_agents"] == ["mcts"] and machine["n_trees"] == 3
    assert machine["n_traces_per_arm"] == {"astro": len(astro_traces), "direct": len(direct_traces)}
    assert '"n_iterations": 8' in card  # the search agent's settings
    assert "astro search --problems PROBLEMS --policy.backend countdown --search.agent mcts" in card
    assert "--search.agent-config.n-iterations 8" in card
    assert "astro linearize trees.jsonl --arms astro direct" in card and f"astro export {made / 'trees.jsonl'}" in card
    assert "| `completion` | str |" in card and "| `nodes` | list |" in card  # the fields


def test_a_run_folder_is_searched_for_trees_and_traces(made, tmp_path, capsys):
    run = tmp_path / "run"
    (run / "trees").mkdir(parents=True)
    (run / "traces").mkdir()
    (run / "trees" / "trees.jsonl").write_text((made / "trees.jsonl").read_text())
    (run / "traces" / "traces.jsonl").write_text((made / "traces" / "traces_astro.jsonl").read_text())
    (run / "run_config.json").write_text(json.dumps({"task": {"name": "countdown"}, "policy": {"model": "base-model-dir"}}))
    out = tmp_path / "hub"
    assert astro(["export", str(run), "--out", str(out)]) == 0
    from datasets import load_dataset

    assert load_dataset(str(out), "trees", cache_dir=str(tmp_path / "cache"))["train"].num_rows == 3
    assert list(load_dataset(str(out), "traces", cache_dir=str(tmp_path / "cache"))) == ["astro"]
    card = (out / "README.md").read_text()
    assert "base-model-dir" in card and "### Run configuration" in card


@pytest.mark.parametrize("case", ["missing", "neither", "empty_folder", "out_not_empty"])
def test_bad_input_is_one_line_exit_2_nothing_written(made, tmp_path, capsys, case):
    out = tmp_path / "hub"
    if case == "missing":
        argv = [str(tmp_path / "nope.jsonl")]
    elif case == "neither":
        (tmp_path / "problems.jsonl").write_text(json.dumps({"id": "p", "problem": "2+2", "answer": "4"}) + "\n")
        argv = [str(tmp_path / "problems.jsonl")]
    elif case == "empty_folder":
        (tmp_path / "empty").mkdir()
        argv = [str(tmp_path / "empty")]
    else:
        out.mkdir()
        (out / "keep.txt").write_text("mine")
        argv = [str(made / "trees.jsonl")]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert astro(["export", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("astro export: error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no staging folder left behind
    if case == "out_not_empty":
        assert [p.name for p in out.iterdir()] == ["keep.txt"] and "--overwrite" in err
    else:
        assert not out.exists()
