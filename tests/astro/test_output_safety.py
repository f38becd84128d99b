"""Outputs are never trusted torn: concurrent commands on one output, a full disk, a finished stage cut later."""

from __future__ import annotations

import pytest

import errno
import json
import subprocess
import sys
from pathlib import Path

from astro.cli import main as cli_main
from astro.stages import StageRunner
from astro_env.jsonl import JsonlWriter, read_jsonl
from tests.search.make_golden import countdown_tree, math_tree

SEARCH = ["--task", "countdown", "--n-problems", "6", "--policy.backend", "countdown", "--search.agent-config.n-iterations", "4",
          "--no-progress"]


def _astro(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "astro.cli", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _two_at_once(argv: list[str]) -> list[tuple[int, str]]:
    procs = [_astro(*argv), _astro(*argv)]
    return [(p.wait(timeout=300), p.communicate()[1]) for p in procs]


@pytest.mark.slow  # two processes at once: seconds each, CI runs the slow tier
def test_two_searches_on_one_out_leave_what_one_leaves(tmp_path):
    alone = tmp_path / "alone" / "trees.jsonl"
    assert cli_main(["search", *SEARCH, "--out", str(alone)]) == 0
    shared = tmp_path / "shared" / "trees.jsonl"
    results = _two_at_once(["search", *SEARCH, "--out", str(shared)])
    for code, err in results:  # each either ran (alone, or resumed a finished file) or was refused in one line
        assert code == 0 or (code == 2 and "is in use by process" in err and len(err.strip().splitlines()) == 1), err
    assert shared.read_bytes() == alone.read_bytes()
    assert len(read_jsonl(shared)) == 6


@pytest.mark.slow  # two processes at once: seconds each, CI runs the slow tier
def test_two_evaluations_on_one_out_leave_what_one_leaves(tmp_path):
    argv = ["--policy", "oracle", "--eval.benches", "countdown:12:3", "--eval.samples", "4", "--no-progress"]
    alone = tmp_path / "alone"
    assert cli_main(["eval", *argv, "--out", str(alone)]) == 0
    shared = tmp_path / "shared"
    results = _two_at_once(["eval", *argv, "--out", str(shared)])
    for code, err in results:
        assert code == 0 or (code == 2 and "is in use by process" in err), err
    rows = read_jsonl(shared / "countdown-12-3" / "completions.jsonl")
    assert len(rows) == 12 * 4
    assert sorted(json.dumps(r, sort_keys=True) for r in rows) == sorted(
        json.dumps(r, sort_keys=True) for r in read_jsonl(alone / "countdown-12-3" / "completions.jsonl"))


def test_a_full_disk_during_linearize_leaves_no_traces_and_sft_refuses(tmp_path, capsys, monkeypatch):
    trees = tmp_path / "trees.jsonl"
    with JsonlWriter(trees) as writer:
        for tree in (countdown_tree(), math_tree()):
            writer.write(tree.to_dict())
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    out = tmp_path / "traces"
    real_write = JsonlWriter.write
    n_written = []

    def write_until_full(self, record):
        if n_written:  # the disk fills after the first trace
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        n_written.append(1)
        real_write(self, record)

    monkeypatch.setattr(JsonlWriter, "write", write_until_full)
    assert cli_main(["linearize", str(trees), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no space left" in err, err
    assert n_written and not (out / "traces_astro.jsonl").exists()
    assert not list(out.glob("*.tmp"))
    monkeypatch.setattr(JsonlWriter, "write", real_write)
    assert cli_main(["sft", "--traces", str(out / "traces_astro.jsonl"), "--model", str(model), "--out", str(tmp_path / "sft")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not exist" in err, err
    assert not (tmp_path / "sft").exists()


def test_a_finished_stage_whose_output_was_cut_is_computed_again(tmp_path):
    runner = StageRunner(tmp_path)
    calls = []

    def body(out: Path) -> None:
        calls.append(1)
        with JsonlWriter(out / "records.jsonl") as writer:
            for i in range(5):
                writer.write({"i": i})

    key = {"config": {"n": 5}, "inputs": {}}
    out = runner("stage", key, body)
    whole = (out / "records.jsonl").read_bytes()
    runner("stage", key, body)
    assert len(calls) == 1  # done and intact: skipped
    (out / "records.jsonl").write_bytes(whole[: len(whole) // 2])
    assert not runner.is_done("stage", key)
    runner("stage", key, body)
    assert len(calls) == 2 and (out / "records.jsonl").read_bytes() == whole
    (out / "records.jsonl").write_bytes(whole.replace(b'"i":4', b'"i":7'))  # same size, other content
    runner("stage", key, body)
    assert len(calls) == 3 and (out / "records.jsonl").read_bytes() == whole


def test_a_search_file_cut_after_it_finished_is_reported_and_completed(tmp_path, capsys):
    out = tmp_path / "trees.jsonl"
    assert cli_main(["search", *SEARCH, "--out", str(out)]) == 0
    whole = out.read_bytes()
    out.write_bytes(b"".join(whole.splitlines(keepends=True)[:3]))
    capsys.readouterr()
    assert cli_main(["search", *SEARCH, "--out", str(out)]) == 0
    assert "holds 3 records where its manifest records 6" in capsys.readouterr().err
    assert out.read_bytes() == whole


def test_a_garbage_last_line_is_reported_not_dropped_silently(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\nnot json\n')
    assert read_jsonl(path) == [{"a": 1}]
    assert "r.jsonl:2: malformed JSON line" in capsys.readouterr().err
