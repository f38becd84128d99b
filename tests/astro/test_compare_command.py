"""`astro compare`: one model of two run folders, paired over the same problems."""

from __future__ import annotations

import json

from agents.base import Completion
from astro.cli import main as cli_main
from astro.commands.compare import compare_runs
from astro_env.problem import Problem
from benchmarks.evaluate import EvalConfig, evaluate

PROBLEMS = [Problem(id=f"p{i}", problem=f"What is {i} + 1?", answer=str(i + 1), task="math") for i in range(6)]


class Fixed:
    """Answers problem i right when i is in `right` (every sample the same)."""

    name = "fixed"

    def __init__(self, right):
        self.right = right

    def complete(self, prompts, n, sampling):
        out = []
        for prompt in prompts:
            i = int(prompt.split("What is ")[1].split(" ")[0])
            text = f"\\boxed{{{i + 1 if i in self.right else -1}}}"
            out.append([Completion(text=text, finish_reason="eos") for _ in range(n)])
        return out


def _run(tmp_path, name, right):
    run = tmp_path / name
    out = run / "seed0" / "eval-astro-rl"
    report = evaluate(Fixed(right), PROBLEMS, EvalConfig(samples=2), out / "test", bench_name="test")
    (out / "summary.json").write_text(json.dumps(report.to_dict()))
    (run / "run_config.json").write_text("{}")
    return run


def test_the_difference_is_paired_over_the_problems_both_runs_evaluated(tmp_path):
    a, b = _run(tmp_path, "a", right={0, 1, 2, 3}), _run(tmp_path, "b", right={0, 1})
    (row,) = compare_runs(a, b)
    assert (row["model"], row["set"], row["n_problems"], row["n_samples"]) == ("astro-rl", "test", 6, 2)
    assert (row["pass@1_a"], row["pass@1_b"]) == (4 / 6, 2 / 6)
    assert abs(row["diff"] - 2 / 6) < 1e-12 and row["low"] >= 0 < row["high"]  # no resample puts B ahead: only A solves p2, p3
    same = compare_runs(a, a)[0]
    assert (same["diff"], same["low"], same["high"]) == (0.0, 0.0, 0.0)


def test_the_command_prints_a_row_and_refuses_what_is_no_run_folder(tmp_path, capsys):
    a, b = _run(tmp_path, "a", right={0}), _run(tmp_path, "b", right={0, 1})
    assert cli_main(["compare", str(a), str(b), "--models", "astro-rl"]) == 0
    assert "| 0 | astro-rl | test | 16.7 | 33.3 | -16.7 |" in capsys.readouterr().out
    assert cli_main(["compare", str(a), str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert cli_main(["compare", str(a), str(b), "--models", "nosuch"]) == 2
