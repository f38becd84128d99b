"""scripts/countdown_attempts.py: its measures on completions written by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from search.verbalize import PhraseBank

ROOT = Path(__file__).resolve().parents[1]
BANK = PhraseBank.load()


def _module():
    spec = importlib.util.spec_from_file_location("countdown_attempts", ROOT / "scripts" / "countdown_attempts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(text: str, correct: bool, first: bool) -> dict:
    return {"problem_id": "p", "completion": text, "correct": correct, "first_attempt_correct": first}


def test_attempt_stats_counts_dead_jumps_repeats_and_restated_targets():
    m = _module()
    problems = {"p": {"metadata": {"numbers": [7, 3, 2], "target": 35}}}
    doubt = BANK.doubt
    back = BANK.backtrack.replace("{target}", "7+2=9; left: 3 9")
    miss = "7+2=9; left: 3 9\n\n9*3=27; left: 27\n\nThat gives 27; the target is 35, so this is not it."
    # a backtrack into (3, 9), from which 35 cannot be made, repeating 9*3; then a restart that
    # states a wrong target and uses a number the prompt does not give; never solved
    lost = (f"{miss}\n\n{doubt} {back}\n\n9*3=27; left: 27\n\nThat gives 27; the target is 35, so this is not it.\n\n"
            f"{doubt} {BANK.restart}\n\n8+3=11; left: 11 2\n\n11*2=22; left: 22\n\nThat gives 22; the target is 24, so this is not it.")
    # a restart with the problem restated, then the solution: recovered
    found = (f"{miss}\n\n{doubt} {BANK.restart}\n\nNumbers: 7 3 2\nTarget: 35\n\n3+2=5; left: 7 5\n\n"
             "7*5=35; left: 35\n\nThat gives 35; the target is 35, so we have it.\n\n\\boxed{7*(3+2)}")
    stats = m.attempt_stats([_row(lost, False, False), _row(found, True, False), _row("3+2=5", True, True)], problems)
    assert stats["completions"] == 3 and stats["first miss"] == 2 and stats["recovered"] == 0.5
    assert stats["jumps"] == 1.0 and stats["restarts"] == 2 / 3 and stats["dead"] == 1.0
    assert stats["repeat"] == 1 / 3  # only the backtrack's 9*3 was written before
    assert stats["target ok"] == 2 / 3 and stats["numbers ok"] == 0.5


def test_a_folder_that_is_not_a_run_is_one_line_and_exit_2(tmp_path, capsys):
    assert _module().main([str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "not a finished run folder" in err


def test_the_completions_of_the_runs_first_seed_are_read(tmp_path, capsys):
    import json

    run = tmp_path / "run"
    (run / "problems" / "eval").mkdir(parents=True)
    problem = {"id": "p", "metadata": {"numbers": [7, 3, 2], "target": 35}}
    (run / "problems" / "eval" / "test.jsonl").write_text(json.dumps(problem) + "\n")
    (run / "problems" / "train.jsonl").write_text("")
    (run / "run_config.json").write_text(json.dumps({"seeds": [2, 10]}))
    for seed, n in ((2, 1), (10, 3)):  # seed 10 sorts first as a name; seed 2 is the run's first
        (run / f"seed{seed}" / "eval-astro-rl" / "test").mkdir(parents=True)
        (run / f"seed{seed}" / "eval-astro-rl" / "test" / "completions.jsonl").write_text(
            "".join(json.dumps(_row("3+2=5", True, True)) + "\n" for _ in range(n)))
    assert _module().main([str(run), "--models", "astro-rl"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "astro-rl" in line]
    assert rows == [rows[0]] and rows[0].startswith("| run | astro-rl | 1 |")
