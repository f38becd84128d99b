"""The embedded model: tokenizer round trips, the grammar corpus is legal, pre-training runs and saves."""

from __future__ import annotations

import json
import os
import random

import pytest

torch = pytest.importorskip("torch")

from astro_env.countdown import CountdownTask, generate_problems, pool_from_text  # noqa: E402
from training.embedded import (  # noqa: E402
    ModelConfig,
    PretrainConfig,
    build_tokenizer,
    grammar_corpus,
    pretrain,
    random_legal_completion,
    sample_rates,
)

TINY = ModelConfig(hidden_size=32, n_layers=2, n_heads=2, intermediate_size=64, max_position_embeddings=256)


@pytest.mark.parametrize("kind,split", [("bpe", False), ("bpe", True), ("char", False)])
def test_tokenizer_round_trips_and_splits_digits(kind, split):
    texts = ["Numbers: 12 7 3\nTarget: 26\n\n12+7=19\n\n(12+7)+3=22\n\n\\boxed{(12+7)+3}"] * 20
    tok = build_tokenizer(texts, vocab_size=160, kind=kind, split_digits=split)
    for s in texts[:1] + ["That gives 5/3.\n\nLet's go back.", "  \t odd\r\n"]:
        assert tok.decode(tok(s)["input_ids"]) == s
    pieces = tok.tokenize("Target: 126")
    if split or kind == "char":
        assert pieces[-3:] == ["1", "2", "6"]


def test_random_legal_completions_are_legal_and_boxed():
    rng = random.Random(0)
    for problem in generate_problems(30, seed=3):
        completion = random_legal_completion(problem, rng)
        steps = completion.split("\n\n")
        assert steps[-1].startswith("\\boxed{") and len(steps) == len(problem.metadata["numbers"])
        assert pool_from_text(problem, steps) is not None


def test_grammar_corpus_prompts_follow_the_task_format():
    problems = generate_problems(5, seed=1)
    pairs = grammar_corpus(problems, 10, seed=0)
    task = CountdownTask()
    assert {p for p, _ in pairs} <= {task.format_prompt(q) for q in problems}
    assert pairs == grammar_corpus(problems, 10, seed=0)


def test_pretrain_tiny_saves_a_loadable_model_and_lowers_the_loss(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = PretrainConfig(out=str(tmp_path / "base"), model=TINY, n_problems=50, n_steps=24, batch_size=4,
                            seq_len=64, vocab_size=160, n_eval=4)
    out = pretrain(config)
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.eos_token == "</s>" and model.config.vocab_size == len(tokenizer)
    saved = json.loads((out / "pretrain_config.json").read_text())
    assert saved["n_steps"] == 24 and saved["model"]["hidden_size"] == 32
    summary = json.loads((out / "pretrain_summary.json").read_text())
    assert summary["loss_curve"][-1] < summary["loss_curve"][0]
    assert 0.0 <= summary["model_solve_rate"] <= summary["model_format_rate"] <= 1.0


def test_sample_rates_counts_a_perfect_scripted_model():
    """A fake model that always writes a known-correct solution gets rates of 1."""
    from astro_env.countdown import solve_steps

    problems = generate_problems(3, seed=0)
    tok = build_tokenizer(kind="char")
    solutions = ["\n\n".join(solve_steps(p.metadata["numbers"], p.metadata["target"])) for p in problems]

    class Scripted:
        def eval(self):
            return self

        def generate(self, input_ids, attention_mask, **kw):
            rows = [list(r) + tok(s)["input_ids"] + [tok.eos_token_id] for r, s in zip(input_ids.tolist(), solutions)]
            width = max(map(len, rows))
            return torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows])

    rates = sample_rates(Scripted(), tok, problems)
    assert rates == {"format_rate": 1.0, "legal_rate": 1.0, "solve_rate": 1.0}


def test_config_validation():
    with pytest.raises(ValueError, match="n_steps"):
        PretrainConfig(out="x", n_steps=0)
    with pytest.raises(ValueError, match="n_numbers"):
        PretrainConfig(out="x", n_numbers=1)


@pytest.mark.slow
def test_default_pretrain_writes_steps_but_solves_poorly(tmp_path):
    """The base model is an 'instruct model' for Countdown: mostly well-formed, rarely correct."""
    ci = os.environ.get("ASTRO_SLOW_SCALE") == "ci"
    config = PretrainConfig(out=str(tmp_path / "base"), n_eval=32 if ci else 64)
    summary = json.loads((pretrain(config) / "pretrain_summary.json").read_text())
    assert summary["model_format_rate"] >= 0.5
    assert summary["model_solve_rate"] <= 0.5
