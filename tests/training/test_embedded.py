"""The embedded model: tokenizer round trips, the grammar corpus is legal, pre-training runs and saves."""

from __future__ import annotations

import json
import random

import pytest

import torch  # noqa: E402

from astro_env.countdown import CountdownConfig, CountdownTask, generate_problems, pool_from_text  # noqa: E402
from training.embedded import (  # noqa: E402
    ModelConfig,
    PretrainConfig,
    build_tokenizer,
    competence_rates,
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


def test_random_legal_completions_are_legal_compared_and_boxed():
    rng = random.Random(0)
    for problem in generate_problems(30, seed=3):
        completion = random_legal_completion(problem, rng)
        chunks = completion.split("\n\n")
        n = len(problem.metadata["numbers"])
        assert chunks[-1].startswith("\\boxed{") and len(chunks) == n + 1
        assert chunks[-2].startswith("That gives ")
        assert pool_from_text(problem, chunks[: n - 1] + chunks[-1:]) == ()
        assert competence_rates([problem], [completion])["target_copy_rate"] == 1.0


def test_grammar_corpus_prompts_follow_the_task_format():
    problems = generate_problems(5, seed=1)
    pairs = grammar_corpus(problems, 10, seed=0)
    task = CountdownTask()
    assert {p for p, _ in pairs} <= {task.format_prompt(q) for q in problems}
    assert pairs == grammar_corpus(problems, 10, seed=0)


def test_hindsight_targets_make_walks_solve_their_prompts():
    from astro_env.countdown import parse_problem_text
    from astro_env.problem import Problem

    problems = generate_problems(20, seed=1)
    task = CountdownTask()

    def solved_share(ratio):
        pairs = grammar_corpus(problems, 200, seed=0, hindsight_ratio=ratio, target_range=(0, 10_000))
        solved = 0
        for prompt, completion in pairs:
            numbers, target = parse_problem_text(prompt)
            problem = Problem(id="x", problem=prompt, answer=str(target), task="countdown",
                              metadata={"numbers": numbers, "target": target})
            solved += task.reward(problem, completion) == 1.0
            assert ("so we have it" in completion) == (task.reward(problem, completion) == 1.0)
            assert f"the target is {target}," in completion
        return solved / len(pairs)

    assert solved_share(1.0) == 1.0
    assert solved_share(0.0) < 0.5 < solved_share(0.5) + 0.2


def test_competence_rates_by_hand():
    from astro_env.problem import Problem

    problem = Problem(id="p", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown",
                      metadata={"numbers": [3, 5, 7], "target": 26})
    good = "7*3=21; left: 5 21\n\n21+5=26; left: 26\n\nThat gives 26; the target is 26, so we have it.\n\n\\boxed{(7*3)+5}"
    # 7*3=22 is wrong arithmetic (so illegal, and nothing after it is legal); 22+5=27 is right
    # arithmetic; "the target is 25" misstates the target
    bad = "7*3=22; left: 5 22\n\n22+5=27; left: 27\n\nThat gives 27; the target is 25, so this is not it.\n\n\\boxed{(7*3)+5}"
    rates = competence_rates([problem, problem], [good, bad])
    assert rates["legal_step_rate"] == 3 / 6
    assert rates["arithmetic_accuracy"] == 3 / 4
    assert rates["target_copy_rate"] == 1 / 2
    # a verdict that contradicts the two numbers it follows is not true either
    wrong_verdict = good.replace("so we have it", "so this is not it")
    assert competence_rates([problem], [wrong_verdict])["target_copy_rate"] == 0.0
    assert rates["legal_completion_rate"] == 1 / 2
    assert rates["solve_rate"] == 1.0  # the task scores only the boxed answer, which both get right


@pytest.mark.slow
@pytest.mark.parametrize("packing", [False, True])
def test_pretrain_tiny_saves_a_loadable_model_and_lowers_the_loss(tmp_path, packing):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = PretrainConfig(out=str(tmp_path / "base"), model=TINY, n_problems=50, n_steps=24, batch_size=4,
                            seq_len=64, vocab_size=160, n_eval=4, number_tokens=100, packing=packing)
    out = pretrain(config)
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.eos_token == "</s>" and model.config.vocab_size == len(tokenizer)
    saved = json.loads((out / "pretrain_config.json").read_text())
    assert saved["n_steps"] == 24 and saved["model"]["hidden_size"] == 32
    summary = json.loads((out / "pretrain_summary.json").read_text())
    assert summary["loss_curve"][-1] < summary["loss_curve"][0]
    assert 0.0 <= summary["model_solve_rate"] <= summary["model_legal_completion_rate"] + 1e-9 or summary["model_solve_rate"] == 0.0
    assert tokenizer.tokenize("Target: 42") == ["T", "arget", ":", " ", "42"] or "42" in tokenizer.tokenize("Target: 42")


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
    assert rates == {"legal_step_rate": 1.0, "legal_completion_rate": 1.0, "arithmetic_accuracy": 1.0,
                     "target_copy_rate": 0.0, "solve_rate": 1.0}  # (no comparison written: none true)


def test_config_validation():
    with pytest.raises(ValueError, match="n_steps"):
        PretrainConfig(out="x", n_steps=0)
    with pytest.raises(ValueError, match="n_numbers"):
        PretrainConfig(out="x", countdown=CountdownConfig(n_numbers=1))
    with pytest.raises(ValueError, match="hindsight_ratio"):
        PretrainConfig(out="x", hindsight_ratio=1.5)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # about 300 s on two idle cores; two threads crawl when other work shares the cores
def test_default_pretrain_is_competent_at_the_steps_and_aims_at_the_target(tmp_path):
    """The base model writes legal steps with true arithmetic and comparisons, and (hindsight
    targets) solves more often than random legal play, without having seen any search."""
    # the default recipe, on two threads as `astro run` pre-trains (measured at 2000 steps on 200
    # held-out problems: legal-step 0.973, arithmetic 0.980 on one thread; 0.940 / 0.955 for the
    # seed-1234 base on two)
    config = PretrainConfig(out=str(tmp_path / "base"), n_eval=64, threads=2)
    summary = json.loads((pretrain(config) / "pretrain_summary.json").read_text())
    assert summary["model_legal_step_rate"] >= 0.9 and summary["model_arithmetic_accuracy"] >= 0.9
    assert summary["model_target_copy_rate"] >= 0.9
    assert summary["model_solve_rate"] > summary["random_legal_solve_rate"]
