"""`astro linearize`: trees.jsonl -> traces_<arm>.jsonl (TRL prompt-completion), stats table, tokens."""

from __future__ import annotations

import json

import pytest

from astro_env.jsonl import JsonlWriter, read_jsonl
from astro.commands.linearize import main
from search.trace import Trace
from tests.search.make_golden import countdown_tree, math_tree


@pytest.fixture()
def trees_path(tmp_path):
    path = tmp_path / "trees.jsonl"
    with JsonlWriter(path) as writer:
        for tree in (countdown_tree(), math_tree()):
            writer.write(tree.to_dict())
    return path


def test_astro_and_direct_arms(trees_path, tmp_path, capsys):
    astro_out, direct_out = tmp_path / "astro" / "traces_astro.jsonl", tmp_path / "direct" / "traces_direct.jsonl"
    assert main([str(trees_path), "--arms", "astro", "--out", str(astro_out.parent), "--stats", "--seed", "3"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:5] == ["source", "problems", "trajectories", "backtracks", "restarts"]
    astro = [Trace.from_dict(r) for r in read_jsonl(astro_out)]
    assert {t.problem_id for t in astro} == {"countdown/0/0", "golden/math/1"}
    assert all(t.arm == "astro" and t.completion.count("\\boxed") == 1 for t in astro)
    assert any(t.n_backtracks + t.n_restarts for t in astro)
    total = [line for line in table.splitlines() if line.startswith("total")][0].split()
    assert total[1:5] == ["2", str(len(astro)), str(sum(t.n_backtracks for t in astro)), str(sum(t.n_restarts for t in astro))]
    config = json.loads((tmp_path / "astro" / "linearize_config.json").read_text())
    assert config["arms"] == ["astro"] and config["linearize"]["k_values"] == [1, 2, 3]

    assert main([str(trees_path), "--arm", "direct", "--out", str(direct_out.parent), "--seed", "3"]) == 0
    direct = [Trace.from_dict(r) for r in read_jsonl(direct_out)]
    assert len(direct) == len(astro)
    assert sorted(t.problem_id for t in direct) == sorted(t.problem_id for t in astro)
    assert sum(t.n_tokens for t in direct) < sum(t.n_tokens for t in astro)
    # rerunning replaces the file (same content, no duplicates)
    assert main([str(trees_path), "--arm", "direct", "--out", str(direct_out.parent), "--seed", "3"]) == 0
    assert [Trace.from_dict(r) for r in read_jsonl(direct_out)] == direct


def test_output_loads_with_datasets_as_prompt_completion(trees_path, tmp_path):
    import datasets
    out = tmp_path / "traces_astro.jsonl"
    assert main([str(trees_path), "--out", str(tmp_path)]) == 0
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert {"prompt", "completion", "arm", "problem_id", "n_backtracks", "n_restarts", "n_tokens"} <= set(ds.column_names)
    rows = read_jsonl(out)
    assert ds.num_rows == len(rows)
    assert ds[0]["prompt"] == rows[0]["prompt"] and ds[0]["completion"] == rows[0]["completion"]
    assert isinstance(ds[0]["prompt"], str) and isinstance(ds[0]["completion"], str)


def test_ablation_flags_and_tokenizer(trees_path, tmp_path):
    from training.embedded import build_tokenizer

    tok_dir = tmp_path / "tok"
    tokenizer = build_tokenizer(kind="char")
    tokenizer.save_pretrained(tok_dir)
    out = tmp_path / "markers" / "traces_astro.jsonl"
    argv = [str(trees_path), "--out", str(out.parent), "--linearize.style", "markers", "--linearize.backtrack-point", "root",
            "--linearize.k-values", "1", "--linearize.n-search-per-problem", "2", "--tokenizer", str(tok_dir)]
    assert main(argv) == 0
    traces = [Trace.from_dict(r) for r in read_jsonl(out)]
    assert traces and all("But wait" not in t.completion for t in traces)
    assert all(t.n_backtracks == 0 and t.k <= 1 for t in traces)  # root: every jump is a restart
    assert any(t.n_restarts == 1 for t in traces)
    for t in traces:  # character tokenizer: one token per character
        assert t.n_tokens == len(tokenizer.encode(t.completion, add_special_tokens=False)) == len(t.completion)


def test_errors(trees_path, tmp_path, capsys):
    from astro.cli import main as astro_main

    def fails(argv, message):
        assert astro_main(["linearize", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err

    fails([str(trees_path)], "--out")
    fails([str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")], "no such tree file")
    fails([str(trees_path), "--out", str(tmp_path / "o"), "--linearize.k-values", "0"], "k >= 1")
    fails([str(trees_path), "--out", str(tmp_path / "o"), "--linearize.styel", "off"], "did you mean --linearize.style")
    assert not (tmp_path / "o").exists()


def test_dispatch_through_astro_cli(trees_path, capsys):
    from astro.cli import main as astro_main

    assert astro_main(["linearize", str(trees_path), "--stats", "--arm", "direct", "--out", str(trees_path.parent / "t")]) == 0
    assert "trajectories" in capsys.readouterr().out
