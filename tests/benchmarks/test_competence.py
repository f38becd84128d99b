"""Competence measurement: acceptance, AUC by hand, verification prefixes, reference rows, the table."""

from __future__ import annotations

import random

import pytest

from astro_env.countdown import CountdownConfig, CountdownTask, generate_problems, pool_from_text, problem_numbers
from benchmarks.competence import (
    COMPETENCE_KEYS,
    RANDOM_ROW,
    CompetenceConfig,
    accepts,
    auc_from_decisions,
    format_competence_table,
    reference_rows,
    verification_prefixes,
    with_own_reflections,
)
from search.verbalize import PhraseBank

PROBLEMS = generate_problems(40, seed=5, config=CountdownConfig(n_numbers=3, max_number=9, max_target=50))
BANK = PhraseBank.load()


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


def test_verification_prefixes_reach_or_miss_the_target_with_legal_steps():
    task = CountdownTask()
    pairs = verification_prefixes(PROBLEMS, random.Random(0))
    assert len(pairs) >= 60 and sum(r for _, _, r in pairs) == len(pairs) // 2
    for problem, prefix, reaches in pairs:
        steps = prefix[len(task.format_prompt(problem)):].split("\n\n")[:-1]
        pool = pool_from_text(problem, steps)
        assert pool is not None and len(pool) == 1
        assert (pool[0][1] == problem_numbers(problem)[1]) is reaches


def test_reference_rows_bound_random_play():
    rows = reference_rows(PROBLEMS, CompetenceConfig(n_problems=40, max_retries=3))
    random_row, oracle_row = rows[RANDOM_ROW], rows["oracle-verified play (4 attempts)"]
    assert random_row["legal_step_rate"] == random_row["arithmetic_accuracy"] == random_row["target_copy_rate"] == 1.0
    assert random_row["verification_auc"] == 0.5 and oracle_row["verification_auc"] == 1.0
    assert random_row["solve_rate"] < oracle_row["solve_rate"] <= 1.0
    table = format_competence_table(rows)
    assert table.count("\n") == 3 and all(k.replace("_", " ") in table for k in COMPETENCE_KEYS)


def test_config_validation():
    with pytest.raises(ValueError, match="max_new_tokens"):
        CompetenceConfig(max_new_tokens=2)
    with pytest.raises(ValueError, match="n_problems"):
        CompetenceConfig(n_problems=0)


def test_competence_table_runs_a_tiny_model(tmp_path):
    from benchmarks.competence import competence_table
    from training.embedded import ModelConfig, build_model, build_tokenizer, grammar_corpus

    texts = [p + c for p, c in grammar_corpus(PROBLEMS, 50, seed=0)]
    tokenizer = build_tokenizer(texts, vocab_size=160, split_digits=True)
    model = build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64))
    table = competence_table({"tiny": (model, tokenizer)}, PROBLEMS[:6], CompetenceConfig(n_problems=6, n_verify=4, max_new_tokens=8))
    assert list(table) == ["tiny", RANDOM_ROW, "oracle-verified play (4 attempts)"]
    assert all(0.0 <= table["tiny"][k] <= 1.0 for k in COMPETENCE_KEYS)
    assert table["tiny"]["solve_rate"] == 0.0  # 8 tokens cannot reach a boxed answer


class _Scripted:
    """A fake causal LM that writes one fixed chunk after every prompt (right after the prompt's ids)."""

    def __init__(self, tokenizer, chunk: str):
        self.tokenizer, self.chunk = tokenizer, chunk

    def eval(self):
        return self

    def generate(self, input_ids, attention_mask=None, **kw):
        import torch

        tok = self.tokenizer
        rows = [list(r) + tok(self.chunk, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for r in input_ids.tolist()]
        width = max(map(len, rows))
        return torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows])


@pytest.mark.parametrize("chunk,kept", [(BANK.confirm + "\n\n7+1=8", True), ("9+1=10; left: 10\n\n", False),
                                        (BANK.doubt + "\n\n", False)])
def test_with_own_reflections_keeps_only_a_confirm_between_forced_steps(chunk, kept):
    from training.embedded import build_tokenizer

    tokenizer = build_tokenizer(kind="char", texts=[BANK.confirm, BANK.doubt])
    pairs = verification_prefixes(PROBLEMS[:6], random.Random(0))
    prefixes = with_own_reflections(_Scripted(tokenizer, chunk), tokenizer, pairs, max_new_tokens=200)
    for (problem, prefix, _), rebuilt in zip(pairs, prefixes):
        steps = prefix[len(CountdownTask().format_prompt(problem)):].split("\n\n")[:-1]
        # the forced steps stay, in order, and the prefix still ends after the final combination
        assert rebuilt.endswith(steps[-1] + "\n\n") and [s for s in steps if s in rebuilt] == steps
        # one confirm after each forced step but the last, or none
        assert rebuilt.count(BANK.confirm) == (len(steps) - 1 if kept else 0)
        assert (rebuilt == prefix) is (not kept)
