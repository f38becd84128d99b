"""The embedded model: tokenizer round trips, isolated packing, pre-training on a task's corpus with exclusions."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

import torch  # noqa: E402

import astro_env
from astro_env.errors import UserError
from astro_env.loaders import write_problems
from astro_env.problem import prompt_key
from training.data import IGNORE_INDEX, TokenizedExample
from training.embedded import (
    ModelConfig,
    PretrainConfig,
    boundary_mismatches,
    build_model,
    build_tokenizer,
    corpus_tokenizer,
    grouped_order,
    pack_blocks,
    pretrain,
)

TINY = ModelConfig(hidden_size=32, n_layers=2, n_heads=2, intermediate_size=64, max_position_embeddings=256)
SPACE = {"max_number": 9, "max_target": 50}
"""The default run's Countdown space."""


@pytest.mark.parametrize("kind,split", [("bpe", False), ("bpe", True), ("char", False)])
def test_tokenizer_round_trips_and_splits_digits(kind, split):
    texts = ["Numbers: 12 7 3\nTarget: 26\n\n12+7=19\n\n(12+7)+3=22\n\n\\boxed{(12+7)+3}"] * 20
    tok = build_tokenizer(texts, vocab_size=160, kind=kind, split_digits=split)
    for s in texts[:1] + ["That gives 5/3.\n\nLet's go back.", "  \t odd\r\n"]:
        assert tok.decode(tok(s)["input_ids"]) == s
    pieces = tok.tokenize("Target: 126")
    if split or kind == "char":
        assert pieces[-3:] == ["1", "2", "6"]


@pytest.mark.parametrize("task_name,config", [("math", {"kinds": ("linear_equation", "quadratic_root")}), ("countdown", SPACE)])
def test_a_prompt_and_its_completion_tokenise_as_their_parts(task_name, config):
    """What pre-training and SFT train on (prompt ids, then completion ids) is what a continuation sees (the text so
    far tokenised whole): the math task's plain BPE merges "Solution:\\n" into the completion's first word in every
    pair, so "auto" makes the prompts' common end one token; Countdown's plain BPE already agrees, so "auto" keeps it."""
    task = astro_env.get_task(task_name, config)
    head = task.pretrain_corpus(1000, 1234)
    pairs = [(task.format_prompt(p), c) for p, c in head]
    recipe = PretrainConfig(out="", task=task_name, task_config=config)  # the embedded base's tokenizer settings
    plain, plain_record = corpus_tokenizer(task, head, replace(recipe, prompt_end_token="no"))
    chosen, chosen_record = corpus_tokenizer(task, head, recipe)
    assert chosen_record["tokenizer_prompt_end_mismatches"] == 0 and chosen_record["tokenizer_boundary_pairs"] == 500
    assert boundary_mismatches(chosen, pairs, delimiter=None) == 0  # every pair, not only the checked ones
    prompt, completion = pairs[0]
    joint = chosen(prompt + completion)["input_ids"]
    assert joint == chosen(prompt)["input_ids"] + chosen(completion, add_special_tokens=False)["input_ids"]
    assert chosen.decode(joint, skip_special_tokens=True) == prompt + completion
    if task_name == "math":
        assert plain_record["tokenizer_prompt_end_mismatches"] == 500
        assert plain(prompt + completion)["input_ids"] != plain(prompt)["input_ids"] + plain(completion, add_special_tokens=False)["input_ids"]
        assert chosen_record["tokenizer_prompt_end_token"] == "$.\n\nSolution:\n"
        # the parts tokenise as the plain BPE tokenises them apart: the training pairs keep their tokens
        for part in (prompt, completion):
            assert chosen.tokenize(part) == plain.tokenize(part)
        # the verification probe's prefix (a solution up to its check, tokenised whole) is the start of what
        # training sees for that solution continued by its comparison
        import random

        from astro_env.math_competence import verification_prefixes

        problem = head[0][0]
        for _, prefix, reached in verification_prefixes(task, [problem], random.Random(0)):
            head_ids = chosen(prefix)["input_ids"]
            goal = task.outcome_goal(problem)
            sentence = (task.outcome_phrases.reached if reached else task.outcome_phrases.missed).format(answer=goal, goal=goal)
            trained = chosen(prompt)["input_ids"] + chosen(prefix[len(prompt):] + sentence, add_special_tokens=False)["input_ids"]
            assert trained[:len(head_ids)] == head_ids
    else:
        assert plain_record == chosen_record and chosen_record["tokenizer_prompt_end_token"] == ""
        assert chosen.get_vocab() == plain.get_vocab()


def test_packed_blocks_keep_each_pair_to_itself():
    """A pair's logits inside a block equal its logits alone: no attention across pairs, positions from 0."""
    tokenizer = build_tokenizer(kind="char")
    model = build_model(tokenizer, TINY, seed=1).eval()
    texts = ["Numbers: 3 5 7\n\n", "7*3=21; left: 5 21", "ab", "Target: 26 and more text here"]
    examples = [TokenizedExample(tuple(tokenizer(t)["input_ids"]), 2) for t in texts]
    ids, labels, positions, n_used = pack_blocks(examples, 40, "completion", tokenizer.pad_token_id)
    lengths = [len(e.input_ids) for e in examples]
    assert lengths == [16, 18, 2, 29] and n_used == 4 and ids.shape == (2, 40)  # 16 + 18 + 2 fit one block; 29 the next
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=positions, use_cache=False).logits
        start = 0
        for k, example in enumerate(examples[:3]):
            alone = model(input_ids=torch.tensor([example.input_ids]), use_cache=False).logits[0]
            torch.testing.assert_close(packed[0, start:start + lengths[k]], alone, rtol=1e-5, atol=1e-5)
            assert positions[0, start:start + lengths[k]].tolist() == list(range(lengths[k]))
            # the prompt (and the pair's first token) is not scored; the rest is
            assert labels[0, start:start + 2].tolist() == [IGNORE_INDEX] * 2
            assert labels[0, start + 2:start + lengths[k]].tolist() == list(example.input_ids[2:])
            start += lengths[k]
    assert (labels[0, start:] == IGNORE_INDEX).all() and (ids[0, start:] == tokenizer.pad_token_id).all()
    # a cap on the blocks stops early and says how many pairs went in
    assert pack_blocks(examples, 40, "all", tokenizer.pad_token_id, n_blocks=1)[3] == 3
    with pytest.raises(ValueError, match="seq_len"):
        pack_blocks(examples, 20, "all", tokenizer.pad_token_id)


def test_grouped_batches_hold_every_pair_once_and_pad_less():
    """Packing "grouped": a permutation of the same pairs whose batches hold pairs of similar length."""
    import random

    lengths = [random.Random(k).randint(20, 62) for k in range(1000)]
    order = random.Random(0).sample(range(1000), 1000)
    grouped = grouped_order(order, lengths, 48, seed=0)
    assert sorted(grouped) == list(range(1000)) and grouped == grouped_order(order, lengths, 48, seed=0)
    assert grouped != grouped_order(order, lengths, 48, seed=1)
    assert grouped[960:] == order[960:]  # the partial batch's pairs follow as they were

    def padding(o):
        batches = [o[k:k + 48] for k in range(0, 960, 48)]
        return sum(48 * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches)

    assert padding(grouped) < padding(order) / 4
    # each batch is cut from one window of GROUP_WINDOW batches of the shuffled order, sorted by length
    windows = [set(order[k:k + 8 * 48]) for k in range(0, 960, 8 * 48)]
    for k in range(0, 960, 48):
        batch = grouped[k:k + 48]
        assert any(set(batch) <= w for w in windows)
    # pairs all alike in length: batches are whole windows' pairs in their order (nothing to sort)
    assert sorted(grouped_order(order, [42] * 1000, 48, seed=0)) == list(range(1000))


def test_a_task_without_a_corpus_is_a_one_line_user_error(tmp_path):
    out = tmp_path / "base"
    with pytest.raises(UserError, match="no pre-training corpus.*--model") as info:
        pretrain(PretrainConfig(out=str(out), task="math", model=TINY, n_steps=1))
    assert "\n" not in str(info.value) and not out.exists()


def test_config_validation():
    with pytest.raises(ValueError, match="n_steps"):
        PretrainConfig(out="x", n_steps=0)
    with pytest.raises(ValueError, match="packing"):
        PretrainConfig(out="x", packing="tight")
    with pytest.raises(ValueError, match="task_config"):
        PretrainConfig(out="x", task_config=[("n_numbers", 3)])
    # a command line gives text; the config holds the task's field types (what pretrain_config.json records)
    assert PretrainConfig(out="x", task_config={"max_number": "9", "corpus_compare": "false"}).task_config == {
        "max_number": 9, "corpus_compare": False}
    with pytest.raises(UserError, match="n_digits"):
        PretrainConfig(out="x", task_config={"n_digits": "3"})


@pytest.mark.slow
@pytest.mark.parametrize("packing", ["none", "grouped", "wrapped", "blocks"])
def test_pretrain_tiny_saves_a_loadable_model_and_lowers_the_loss(tmp_path, packing):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = PretrainConfig(out=str(tmp_path / "base"), model=TINY, task_config=dict(SPACE, corpus_problems=50), n_steps=24,
                            batch_size=4, seq_len=64, vocab_size=160, n_eval=4, number_tokens=100, packing=packing)
    out = pretrain(config)
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.eos_token == "</s>" and model.config.vocab_size == len(tokenizer)
    saved = json.loads((out / "pretrain_config.json").read_text())
    assert saved["n_steps"] == 24 and saved["model"]["hidden_size"] == 32 and saved["packing"] == packing
    summary = json.loads((out / "pretrain_summary.json").read_text())
    assert summary["loss_curve"][-1] < summary["loss_curve"][0]
    assert 0.0 <= summary["model_solve_rate"] <= 1.0 and "model_legal_step_rate" in summary
    assert "42" in tokenizer.tokenize("Target: 42")
    corpus = json.loads((out / "corpus.json").read_text())
    assert corpus["n_tokenizer_pairs"] == 2000 and corpus["exclude"] == []
    if packing in ("none", "grouped"):
        assert corpus["n_training_pairs"] == 1000  # 24 x 4 rows, in whole blocks of 1000 pairs


@pytest.mark.slow
def test_pretrain_leaves_the_excluded_split_out_and_records_it(tmp_path):
    task = astro_env.get_task("countdown", SPACE)
    test_split = task.generate(200, 1234)  # the corpus pool's own stream
    path = write_problems(test_split, tmp_path / "test.jsonl")
    config = PretrainConfig(out=str(tmp_path / "base"), model=TINY, task_config=SPACE, exclude=(str(path),), n_steps=2,
                            batch_size=2, vocab_size=160, n_eval=0, seed=1234)
    corpus = json.loads((pretrain(config) / "corpus.json").read_text())
    assert corpus["exclude"] == [{"file": str(path), "n_problems": 200, "n_in_corpus": 0}]
    keys = {prompt_key(p) for p in test_split}
    pairs = task.pretrain_corpus(corpus["n_pairs"], 1234, frozenset(keys))
    assert corpus["n_pairs"] == 3000 and not {prompt_key(p) for p, _ in pairs} & keys


@pytest.mark.slow
@pytest.mark.timeout(1200)  # about 420 s on one idle core
def test_default_pretrain_is_competent_at_the_steps_and_aims_at_the_target(tmp_path):
    """The base model writes legal steps with true arithmetic and comparisons, and (hindsight
    targets) solves more often than random legal play, without having seen any search."""
    from astro.config import RunConfig

    # the recipe `astro run` pre-trains its base with (steps, batch, lr, one thread), on the default run's space
    run = RunConfig()
    assert (run.task.config.max_number, run.task.config.max_target) == (SPACE["max_number"], SPACE["max_target"])
    config = replace(run.pretrain, out=str(tmp_path / "base"), task_config=SPACE, n_eval=64)
    summary = json.loads((pretrain(config) / "pretrain_summary.json").read_text())
    assert summary["model_legal_step_rate"] >= 0.9 and summary["model_arithmetic_accuracy"] >= 0.9
    assert summary["model_target_copy_rate"] >= 0.9
    assert summary["model_solve_rate"] > summary["random_legal_solve_rate"]


class ToySumTask:
    """A task from outside the package: "a+b" sums, whose corpus is its worked answers (no Countdown anywhere)."""

    name = "toysum"

    def generate(self, n, seed):
        import random

        from astro_env.problem import Problem

        rng = random.Random(seed)
        out = []
        for idx in range(n):
            a, b = rng.randint(0, 20), rng.randint(0, 20)
            out.append(Problem(id=f"toysum/{seed}/{idx}", problem=f"{a}+{b}", answer=str(a + b), task=self.name))
        return out

    def pretrain_corpus(self, n, seed, exclude_keys=frozenset()):
        pairs, k = [], 0
        while len(pairs) < n:
            batch = self.generate(k + 64, seed)[k:]
            k += 64
            pairs += [(p, f"\\boxed{{{p.answer}}}") for p in batch if prompt_key(p) not in exclude_keys]
        return pairs[:n]

    def format_prompt(self, problem):
        return problem.problem + "="

    def extract_answer(self, text):
        return text.partition("\\boxed{")[2].partition("}")[0] or None

    def is_correct(self, problem, answer):
        return answer == problem.answer

    def is_equivalent(self, a, b):
        return a == b

    def reward(self, problem, completion):
        return float(self.is_correct(problem, self.extract_answer(completion)))


@pytest.mark.slow
def test_pretrain_runs_on_any_task_with_a_corpus(tmp_path):
    """The loop is the task's: an outside task's corpus and exclusions, no competence probes (solve rate only)."""
    task = ToySumTask()
    path = write_problems(task.generate(30, 7), tmp_path / "test.jsonl")
    config = PretrainConfig(out=str(tmp_path / "base"), task=f"{__name__}:ToySumTask", exclude=(str(path),), model=TINY,
                            n_steps=30, batch_size=8, vocab_size=160, number_tokens=50, n_eval=8, seed=7)
    out = pretrain(config)
    corpus = json.loads((out / "corpus.json").read_text())
    assert corpus["task"].endswith(":ToySumTask") and corpus["exclude"][0]["n_in_corpus"] == 0
    summary = json.loads((out / "pretrain_summary.json").read_text())
    assert "model_solve_rate" in summary and "model_legal_step_rate" not in summary and "random_legal_solve_rate" not in summary
    assert summary["loss_curve"][-1] < summary["loss_curve"][0]


@pytest.mark.slow
def test_pretrain_tiny_on_the_math_equations(tmp_path):
    """The math task's corpus pre-trains a base end to end: its test split left out (0 in the corpus, no pair's
    prompt among them), its competence audited by the math probes, corpus-style attempts as the random row."""
    equations = {"kinds": "linear_equation,quadratic_root"}
    task = astro_env.get_task("math", equations)
    test_split = task.generate(120, 1234)
    path = write_problems(test_split, tmp_path / "test.jsonl")
    config = PretrainConfig(out=str(tmp_path / "base"), task="math", task_config=equations, exclude=(str(path),), model=TINY,
                            n_steps=12, batch_size=4, vocab_size=160, tokenizer_pairs=200, n_eval=4, seed=1234)
    out = pretrain(config)
    corpus = json.loads((out / "corpus.json").read_text())
    assert corpus["exclude"] == [{"file": str(path), "n_problems": 120, "n_in_corpus": 0}] and corpus["n_pairs"] == 1200
    keys = {prompt_key(p) for p in test_split}
    assert not {prompt_key(p) for p, _ in task.pretrain_corpus(corpus["n_pairs"], 1234, frozenset(keys))} & keys
    summary = json.loads((out / "pretrain_summary.json").read_text())
    assert summary["tokenizer_prompt_end_mismatches"] == 0
    assert {"model_well_formed_rate", "model_arithmetic_accuracy", "model_check_accuracy", "model_solve_rate"} <= set(summary)
    assert summary["loss_curve"][-1] < summary["loss_curve"][0] and 0.0 <= summary["random_legal_solve_rate"] <= 1.0
    # the same pairs batched by length pad less (the math task's pairs differ in length)
    grouped = pretrain(replace(config, out=str(tmp_path / "grouped"), packing="grouped"))
    grouped_summary = json.loads((grouped / "pretrain_summary.json").read_text())
    assert json.loads((grouped / "corpus.json").read_text())["n_training_pairs"] == corpus["n_training_pairs"]
    assert grouped_summary["padding_share"] < summary["padding_share"] / 2


def test_a_negative_thread_count_is_refused_in_one_line(tmp_path):
    """--pretrain.threads: 0 leaves torch's default (as GRPO's), a negative count is bad input before anything runs."""
    with pytest.raises(UserError, match="threads=-1"):
        PretrainConfig(out="x", threads=-1)
    assert PretrainConfig(out="x", threads=0).threads == 0
    from astro.cli import main as cli_main

    assert cli_main(["run", "--preset", "smoke", "--pretrain.threads", "-1", "--dry-run", "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()
