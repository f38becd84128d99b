"""`benchmarks.contamination`: evaluation problems counted in every corpus a run trained on."""

from __future__ import annotations

import json

from astro_env.loaders import write_problems
from astro_env.problem import Problem
from benchmarks.contamination import contamination, format_contamination, run_contamination


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _p(i: str, text: str) -> Problem:
    return Problem(id=i, problem=text, answer="1", task="countdown")


TEST = [_p("t0", "Numbers: 1 2 3\nTarget: 6"), _p("t1", "Numbers: 4 5 6\nTarget: 2"), _p("t2", "Numbers: 7 8 9\nTarget: 24")]


def test_counts_statements_not_ids_and_ignores_whitespace():
    corpora = {
        "trees": [_p("other-id", "Numbers:  1 2 3 \n Target: 6"), _p("x", "Numbers: 4 5 6\nTarget: 26")],  # one hit, one near miss
        "RL pool": [_p("t1", "Numbers: 9 9 9\nTarget: 2")],  # the same id with another statement is no overlap
    }
    assert contamination({"test": TEST}, corpora) == {"trees": {"test": 1}, "RL pool": {"test": 0}}


def _run_folder(tmp_path, leaked: Problem | None):
    (tmp_path / "problems" / "eval").mkdir(parents=True)
    write_problems(TEST, tmp_path / "problems" / "eval" / "test.jsonl")
    train = [_p("a", "Numbers: 2 2 2\nTarget: 8"), _p("b", "Numbers: 3 3 3\nTarget: 9")] + ([leaked] if leaked else [])
    write_problems(train, tmp_path / "problems" / "train.jsonl")
    (tmp_path / "trees").mkdir()
    write_jsonl(tmp_path / "trees" / "trees.jsonl", [{"problem": p.to_dict(), "nodes": []} for p in train])
    (tmp_path / "traces").mkdir()
    write_jsonl(tmp_path / "traces" / "traces_astro.jsonl", [{"problem_id": p.id, "prompt": "", "completion": ""} for p in train[1:]])
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "corpus.json").write_text(json.dumps(
        {"exclude": [{"file": str(tmp_path / "problems" / "eval" / "test.jsonl"), "n_problems": 3, "n_in_corpus": 0}]}))


def test_a_clean_run_folder_reads_zero_everywhere(tmp_path):
    _run_folder(tmp_path, leaked=None)
    audit = run_contamination(tmp_path, ["test"])
    assert audit == {"n_problems": {"test": 3},
                     "overlap": {"pre-training": {"test": 0}, "trees": {"test": 0}, "traces": {"test": 0}, "RL pool": {"test": 0}}}
    assert "| traces | 0 / 3 |" in format_contamination(audit)


def test_a_leaked_test_problem_shows_in_every_corpus_it_reached(tmp_path):
    _run_folder(tmp_path, leaked=_p("leak", TEST[2].problem))
    overlap = run_contamination(tmp_path, ["test"])["overlap"]
    assert (overlap["trees"], overlap["traces"], overlap["RL pool"]) == ({"test": 1}, {"test": 1}, {"test": 1})
    assert overlap["pre-training"] == {"test": 0}  # what pre-training recorded over its own corpus


def test_a_base_brought_with_its_own_weights_has_no_pretraining_record(tmp_path):
    _run_folder(tmp_path, leaked=None)
    (tmp_path / "base" / "corpus.json").unlink()
    audit = run_contamination(tmp_path, ["test"])
    assert audit["overlap"]["pre-training"] == {"test": None}
    assert "| pre-training | n/a |" in format_contamination(audit)
