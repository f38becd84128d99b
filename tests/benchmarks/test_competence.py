"""Competence measurement: acceptance, AUC by hand, reference rows, the report for any task, the decoder."""

from __future__ import annotations

import random

import pytest

import astro_env
from astro_env.task import competence_probes
from benchmarks.competence import (
    RANDOM_ROW,
    CompetenceConfig,
    accepts,
    auc_from_decisions,
    competence_columns,
    competence_report,
    format_competence_report,
    format_competence_table,
    reference_rows,
    with_own_reflections,
)
from search.verbalize import PhraseBank

TASK = astro_env.get_task("countdown", {"max_number": 9, "max_target": 50})
PROBES = competence_probes(TASK)
PROBLEMS = TASK.generate(40, 5)
BANK = PhraseBank.load()
COLUMNS = ["legal_step_rate", "arithmetic_accuracy", "target_copy_rate", "solve_rate", "verification_auc"]


@pytest.mark.parametrize(
    "text,accepted",
    [
        ("That gives 6; the target is 6, so we have it.\n\n\\boxed{2*3}", True),  # boxes, no doubt
        ("That gives 8; the target is 6, so this is not it.\n\n" + BANK.doubt + " " + BANK.restart + "\n\n3+3=6; left: 6", False),  # rejects
        ("That gives 8; the target is 6, so this is not it.\n\n<restart>\n\n\\boxed{3+3}", False),  # a marker-style restart before the box
        ("That gives 8; the target is 6, so this is not it.", False),  # never boxes
        ("\\boxed{2*3}\n\n" + BANK.confirm, True),  # confirm is not a rejection
    ],
)
def test_accepts(text, accepted):
    assert accepts(text) is accepted


def test_auc_from_decisions_by_hand():
    out = auc_from_decisions([(True, True), (True, True), (True, False), (False, False), (False, True)])
    assert out["p_accept_reached"] == pytest.approx(2 / 3) and out["p_accept_missed"] == pytest.approx(1 / 2)
    assert out["verification_auc"] == pytest.approx(0.5 + (2 / 3 - 1 / 2) / 2)
    assert auc_from_decisions([(True, True), (False, True)])["verification_auc"] == 0.5  # always accepts
    assert auc_from_decisions([(True, True), (False, False)])["verification_auc"] == 1.0


def test_reference_rows_bound_random_play():
    rows = reference_rows(TASK, PROBES, PROBLEMS, CompetenceConfig(n_problems=40, max_retries=3))
    random_row, oracle_row = rows[RANDOM_ROW], rows["oracle-verified play (4 attempts)"]
    assert random_row["legal_step_rate"] == random_row["arithmetic_accuracy"] == random_row["target_copy_rate"] == 1.0
    assert random_row["verification_auc"] == 0.5 and oracle_row["verification_auc"] == 1.0
    assert random_row["solve_rate"] < oracle_row["solve_rate"] <= 1.0
    assert list(competence_columns(PROBES)) == COLUMNS
    table = format_competence_table(rows, COLUMNS)
    assert table.count("\n") == 3 and all(k.replace("_", " ") in table for k in COLUMNS)


def test_config_validation():
    with pytest.raises(ValueError, match="max_new_tokens"):
        CompetenceConfig(max_new_tokens=2)
    with pytest.raises(ValueError, match="n_problems"):
        CompetenceConfig(n_problems=0)


def _tiny(seed: int = 0):
    from training.embedded import ModelConfig, build_model, build_tokenizer

    texts = [TASK.format_prompt(p) + c for p, c in TASK.pretrain_corpus(50, 0)]
    tokenizer = build_tokenizer(texts, vocab_size=160, split_digits=True)
    return build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64), seed=seed), tokenizer


def test_competence_report_runs_a_tiny_model():
    report = competence_report(TASK, {"Base": _tiny()}, PROBLEMS[:6], CompetenceConfig(n_problems=6, n_verify=4, max_new_tokens=8))
    table = report["table"]
    assert report["task"] == "countdown" and report["columns"] == COLUMNS
    assert list(table) == ["Base", RANDOM_ROW, "oracle-verified play (4 attempts)"]
    assert all(0.0 <= table["Base"][k] <= 1.0 for k in COLUMNS)
    assert table["Base"]["solve_rate"] == 0.0  # 8 tokens cannot reach a boxed answer
    # the task's gates on the base model (the ASTRO-SFT gate needs that model in the table)
    assert [(g["model"], g["key"], g["passed"]) for g in report["gates"]] == [
        ("Base", "legal_step_rate", False), ("Base", "arithmetic_accuracy", False)]
    text = format_competence_report(report)
    assert text.count("\n") == 6 and "Base legal step rate" in text.splitlines()[-1]


def test_a_task_without_probes_has_no_report():
    math = astro_env.get_task("math")
    assert competence_report(math, {"Base": lambda prompts, n: [""] * len(prompts)}, math.generate(3, 0)) is None


def test_a_scripted_decoder_is_measured_like_a_model():
    """A decoder that always writes a correct solution: legal, exact, true comparisons, solved; accepts all."""
    from astro_env.countdown import solve_steps

    problems = PROBLEMS[:8]
    by_prompt = {TASK.format_prompt(p): p for p in problems}

    def decode(prompts, max_new_tokens):
        out = []
        for prompt in prompts:
            problem = by_prompt.get(prompt)
            if problem is None:  # a verification prefix: accept
                out.append("\\boxed{1}")
                continue
            steps = solve_steps(problem.metadata["numbers"], problem.metadata["target"])
            target = str(problem.metadata["target"])
            out.append("\n\n".join(steps[:-1] + [TASK.outcome_phrases.sentence(target, target), steps[-1]]))
        return out

    report = competence_report(TASK, {"scripted": decode}, problems, CompetenceConfig(n_problems=8, n_verify=8))
    row = report["table"]["scripted"]
    assert {k: row[k] for k in COLUMNS} == {"legal_step_rate": 1.0, "arithmetic_accuracy": 1.0, "target_copy_rate": 1.0,
                                             "solve_rate": 1.0, "verification_auc": 0.5}
    assert row["p_accept_reached"] == row["p_accept_missed"] == 1.0


@pytest.mark.parametrize("chunk,kept", [(BANK.confirm + "\n\n7+1=8", True), ("9+1=10; left: 10\n\n", False),
                                        (BANK.doubt + "\n\n", False)])
def test_with_own_reflections_keeps_only_a_confirm_between_forced_steps(chunk, kept):
    pairs = PROBES.verification_pairs(PROBLEMS[:6], random.Random(0))
    calls = []

    def decode(prompts, max_new_tokens):
        calls.append(len(prompts))
        return [chunk] * len(prompts)

    prefixes = with_own_reflections(decode, TASK, pairs, max_new_tokens=200)
    assert calls  # 3-number solutions: one forced step before the final combination
    for (problem, prefix, _), rebuilt in zip(pairs, prefixes):
        steps = prefix[len(TASK.format_prompt(problem)):].split("\n\n")[:-1]
        # the forced steps stay, in order, and the prefix still ends after the final combination
        assert rebuilt.endswith(steps[-1] + "\n\n") and [s for s in steps if s in rebuilt] == steps
        # one confirm after each forced step but the last, or none
        assert rebuilt.count(BANK.confirm) == (len(steps) - 1 if kept else 0)
        assert (rebuilt == prefix) is (not kept)


def _generate_reference(model, tokenizer, prompts, max_new_tokens, eos_token_id):
    """Greedy completions by `model.generate` (left-padded, one batch), special tokens dropped."""
    import torch

    tokenizer.padding_side = "left"
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True)
    tokenizer.padding_side = "right"
    with torch.no_grad():
        gen = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=eos_token_id)
    return gen[:, enc["input_ids"].shape[1]:], tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_the_batched_decoder_equals_generate_greedily():
    """Competence decodes with the project's decoder; greedy, it writes what `model.generate` writes
    (prompts of several lengths, batches of another size, some rows ending at EOS while others run on)."""
    from training.embedded import greedy_decoder

    model, tokenizer = _tiny(seed=3)
    model.eval()
    prompts = [TASK.format_prompt(p) for p in TASK.generate(11, 9)] + ["Numbers: 12 34 5\nTarget: 41\n\n34+", "Numbers: 1"]
    assert len({len(tokenizer(p)["input_ids"]) for p in prompts}) >= 3
    ids, _ = _generate_reference(model, tokenizer, prompts, 16, tokenizer.eos_token_id)
    stop = int(ids[0, 2])  # a token the model writes: as EOS, rows end early
    _, expected = _generate_reference(model, tokenizer, prompts, 16, [tokenizer.eos_token_id, stop])
    model.generation_config.eos_token_id = stop
    got = greedy_decoder(model, tokenizer, batch_size=4)(prompts, 16)
    assert got == expected
    assert len({len(t) for t in got}) >= 2  # some rows stopped early, others ran to the budget


def test_the_command_line_reads_a_problem_file_with_the_task_config_given(tmp_path, capsys):
    """`python -m benchmarks.competence Base=DIR --problems FILE --task-config JSON`: the problems' task built with
    that config (the math task has probes only for its step-grammar kinds)."""
    import json

    from astro_env.loaders import write_problems
    from benchmarks.competence import main
    from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy

    kinds = {"kinds": ["linear_equation", "quadratic_root"]}
    math = astro_env.get_task("math", {"kinds": "linear_equation,quadratic_root"})
    path = write_problems(math.generate(4, 0), tmp_path / "test.jsonl")
    texts = [math.format_prompt(p) + c for p, c in math.pretrain_corpus(50, 0)]
    tokenizer = build_tokenizer(texts, vocab_size=160, split_digits=True)
    model = build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64), seed=0)
    save_policy(model, tokenizer, tmp_path / "base")
    argv = [f"Base={tmp_path / 'base'}", "--problems", str(path), "--n-problems", "4", "--n-verify", "2", "--json", str(tmp_path / "r.json")]
    assert main(argv + ["--task-config", json.dumps(kinds)]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["task"] == "math" and "check_accuracy" in report["columns"]
    assert "Base check accuracy" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:  # every kind: no probes, one line
        main(argv)
    assert info.value.code == 2 and "defines no competence probes" in capsys.readouterr().err
