"""`astro replicate`: replicas differ in every seed; paired differences across them."""

from __future__ import annotations

import dataclasses
import json

import pytest

from astro.cli import main as cli_main
from astro.config import PRESETS
from astro.replicate import replica_configs


def test_replicas_shift_the_data_and_training_seeds_and_keep_dynamics_to_replica_0():
    base = PRESETS["smoke"]
    configs = replica_configs(dataclasses.replace(base, eval_every=2), 3)
    assert [(c.data_seed, c.seeds) for c in configs] == [(1234, (0,)), (1235, (1,)), (1236, (2,))]
    assert [c.eval_every for c in configs] == [2, 0, 0]
    assert all(c.sft == base.sft and c.grpo == base.grpo for c in configs)  # nothing else changes


@pytest.mark.parametrize("argv, fix", [
    (["--replicas", "0"], "--replicas 0"),
    (["--replicas", "five"], "--replicas 'five'"),
    (["--seeds", "0", "1"], "give one seed"),
    (["--preset", "paper"], "needs GPUs"),
])
def test_bad_replicate_flags_are_one_line(tmp_path, capsys, argv, fix):
    out = tmp_path / "rep"
    assert cli_main(["replicate", "--preset", "smoke", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fix in err[0]
    assert not out.exists()


def test_help_names_the_flags(capsys):
    assert cli_main(["replicate", "--help"]) == 0
    assert "--replicas" in capsys.readouterr().out


@pytest.mark.slow
def test_two_smoke_replicas_differ_in_their_data_and_give_paired_differences(tmp_path):
    out = tmp_path / "rep"
    assert cli_main(["replicate", "--preset", "smoke", "--replicas", "2", "--out", str(out)]) == 0
    train = [(out / f"replica{k}" / "problems" / "train.jsonl").read_text() for k in range(2)]
    assert train[0] != train[1]  # each replica draws its own problems (and so its own test split, base and trees)
    assert (out / "replica0" / "seed0").is_dir() and (out / "replica1" / "seed1").is_dir()
    summary = json.loads((out / "replicate.json").read_text())
    assert [r["data_seed"] for r in summary["replicas"]] == [1234, 1235]
    pairs = {(d["minuend"], d["subtrahend"]): d for d in summary["paired_differences"]}
    assert set(pairs) == {("astro-rl", "direct-rl"), ("astro-rl", "astro-sft")}
    for d in pairs.values():
        assert d["seeds"] == [0, 1] and d["t"]["low"] is not None  # two replicas: a paired t interval
    text = (out / "replicate.md").read_text()
    assert "## Paired differences" in text and "## Compute-matched baselines" in text
    # a finished replicate resumes without redoing a replica
    marker = (out / "replica1" / "seed1" / "rl-astro" / "stage.json").read_text()
    assert cli_main(["replicate", "--preset", "smoke", "--replicas", "2", "--out", str(out)]) == 0
    assert (out / "replica1" / "seed1" / "rl-astro" / "stage.json").read_text() == marker
